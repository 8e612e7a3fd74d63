"""Listening sockets, made one way for the API and the SMTP server."""

from __future__ import annotations

import socket


def bind(
    host: str,
    port: int,
    *,
    reuse_port: bool = False,
    listen: bool = True,
    backlog: int = 2048,
) -> socket.socket:
    """A TCP socket bound to host:port; listening unless `listen` is False. With `reuse_port`
    several processes can bind the same port and the kernel spreads connections among them."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    if listen:
        sock.listen(backlog)
    return sock
