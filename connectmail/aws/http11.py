"""The HTTP/1.1 server's own refusals, answered in AWS's error shape; a response in one write.

A request too malformed to reach the application (a bad request line, a negative or doubled
Content-Length, bytes that are not HTTP) is refused by uvicorn's parser before any ASGI app
sees it; this protocol answers those refusals as every other error is answered: a JSON body,
`x-amzn-ErrorType` and a request id, so every 4xx a client sees has one shape.

uvicorn writes a response's head and its body as two writes, each a system call of its own
(a tenth of the CPU of a send request went to them); the protocol's transport gathers the
writes made in one turn of the event loop and sends them as one.

uvicorn bounds neither a request's head nor the time it takes to arrive: a client could send
megabytes of headers, all read before the signature is checked, or hold a connection open
with half a request line or half a body. The protocol refuses a head over `MAX_HEAD_BYTES`
(431, in AWS's shape) and closes a connection whose head has not arrived `head_seconds` after
it began (the connection opened, or the request's first byte came), or whose body has sent
nothing for as long (nginx's `client_body_timeout`: silence between reads, not the whole
body's time, so a large body on a slow link is not cut); once a second a sweep of the
server's connections looks, so a request pays no timer of its own. The request whose body
stopped never runs: the application sees the client gone.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import MutableSet
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from connectmail.aws.restjson import error_response
from connectmail.errors import ServiceError

MALFORMED_HTTP = ServiceError(
    "BadRequestException", "The request is not well-formed HTTP/1.1.", status=400
)
# API Gateway takes 10 KB of request line and headers; SigV4 requests here are 1 to 2 KB.
MAX_HEAD_BYTES = 64 * 1024
HEAD_TOO_LARGE = ServiceError(
    "RequestHeaderFieldsTooLargeException",
    f"The request line and headers are over {MAX_HEAD_BYTES // 1024} KiB.",
    status=431,
)
# How long the rest of a refused head is read and dropped before the connection closes.
LINGER_SECONDS = 2.0
# The loops whose connections a sweep watches (one sweep per event loop).
_SWEPT: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


class AwsHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with its 400 answer in AWS's error shape, writing each
    response at once."""

    # How long a request's head may take to arrive (`Settings.request_head_seconds`).
    head_seconds = 30.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(GatheredWrites(transport))
        # Bytes received, and what the last sweep saw of them and when: its measure of a body's
        # silence.
        self._received = 0
        self._swept = (0, self.loop.time())
        self._head_bytes = 0
        self._head_too_large = False
        self._discarding = False
        self._head_since: float | None = self.loop.time()
        if self.loop not in _SWEPT:
            _SWEPT.add(self.loop)
            self.loop.call_later(1.0, _sweep, self.loop, self.connections, self.head_seconds)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_since is None:
            self._head_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self._head_since = None
        self._head_bytes = 0
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        self._received += len(data)
        # Only a chunk that, with the head so far, could hold more than the limit is looked
        # into: nearly every request's head and body arrive in one chunk far below it.
        if len(data) + self._head_bytes > MAX_HEAD_BYTES and self._head_overflows(data):
            self._head_too_large = True
            self.send_400_response("request head too large")
            return
        super().data_received(data)
        # A head that this chunk did not complete: the head so far is at most the bytes of the
        # chunks it has spanned.
        if self._head_since is not None and not self.transport.is_closing():
            self._head_bytes += len(data)

    def _head_overflows(self, data: bytes) -> bool:
        """Whether `data` goes on with a request head past MAX_HEAD_BYTES: the head is under
        way (or the next one is due) and its blank line does not come within the limit."""
        cycle = self.cycle
        if self._head_since is None and cycle is not None and cycle.more_body:
            return False  # a body's bytes
        if self._head_bytes and data[:1] in (b"\r", b"\n"):
            return False  # the chunk before ended a line: this may be the blank one
        budget = MAX_HEAD_BYTES - self._head_bytes
        return data.find(b"\n\r\n", 0, budget + 3) < 0 and data.find(b"\n\n", 0, budget + 2) < 0

    def send_400_response(self, msg: str) -> None:
        error = HEAD_TOO_LARGE if self._head_too_large else MALFORMED_HTTP
        response = error_response(None, error, str(uuid.uuid4()))
        headers = [
            *self.server_state.default_headers,
            *response.headers,
            (b"content-length", str(len(response.body)).encode()),
            (b"connection", b"close"),
        ]
        head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        if error is HEAD_TOO_LARGE:
            # The client is most likely still sending: closing with its bytes unread would
            # reset the connection and lose the answer. Send it, end our side, and drop what
            # comes for a moment before closing.
            self._discarding = True
            status = b"431 Request Header Fields Too Large"
            self.transport.write(b"HTTP/1.1 " + status + b"\r\n" + head + b"\r\n" + response.body)
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
            return
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\n" + head + b"\r\n" + response.body)
        self.transport.close()


def _sweep(loop: asyncio.AbstractEventLoop, connections: MutableSet[Any], seconds: float) -> None:
    """Close the connections whose request head has taken longer than `seconds`, or whose
    body has sent nothing for as long; again in a second."""
    now = loop.time()
    for connection in list(connections):
        if connection.transport.is_closing():
            continue
        since = getattr(connection, "_head_since", None)
        if since is not None:
            if now - since > seconds:
                connection.transport.close()
            continue
        received, seen_at = connection._swept
        if connection._received != received or not _awaiting_body(connection):
            connection._swept = (connection._received, now)
        elif now - seen_at > seconds:
            connection.transport.close()
    loop.call_later(1.0, _sweep, loop, connections, seconds)


def _awaiting_body(connection: Any) -> bool:
    """Whether the connection's request is waiting for body bytes only the client can send:
    not when the server stopped reading (a full buffer) or has yet to say `100 Continue`."""
    cycle = connection.cycle
    return (
        cycle is not None
        and cycle.more_body
        and not cycle.response_complete
        and not cycle.waiting_for_100_continue
        and not connection.flow.read_paused
    )


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
