"""The HTTP/1.1 server's own refusals, answered in AWS's error shape; a response in one write.

A request too malformed to reach the application (a bad request line, a negative or doubled
Content-Length, bytes that are not HTTP) is refused by uvicorn's parser before any ASGI app
sees it; this protocol answers those refusals as every other error is answered: a JSON body,
`x-amzn-ErrorType` and a request id, so every 4xx a client sees has one shape.

uvicorn writes a response's head and its body as two writes, each a system call of its own
(a tenth of the CPU of a send request went to them); the protocol's transport gathers the
writes made in one turn of the event loop and sends them as one.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from connectmail.aws.restjson import error_response
from connectmail.errors import ServiceError

MALFORMED_HTTP = ServiceError(
    "BadRequestException", "The request is not well-formed HTTP/1.1.", status=400
)


class AwsHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with its 400 answer in AWS's error shape, writing each
    response at once."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(GatheredWrites(transport))

    def send_400_response(self, msg: str) -> None:
        response = error_response(None, MALFORMED_HTTP, str(uuid.uuid4()))
        headers = [
            *self.server_state.default_headers,
            *response.headers,
            (b"content-length", str(len(response.body)).encode()),
            (b"connection", b"close"),
        ]
        head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\n" + head + b"\r\n" + response.body)
        self.transport.close()


class GatheredWrites(asyncio.Transport):
    """A transport whose writes in one turn of the event loop go out together, at the end of
    the turn (before it closes, if it is closed first). Everything else is the transport's,
    passed on method by method: with a `__getattr__` instead, every attribute read of the
    class goes through the interpreter's slower hook for it, and on Python 3.11 a read that
    falls through to it raises and formats an AttributeError first (callgrind: 22 reads a
    request)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        super().__init__()
        self._transport = transport
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(bytes(data))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():  # a peer gone meanwhile: nobody to read it
                self._transport.write(data)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()
