"""The HTTP/1.1 server's own refusals, answered in AWS's error shape.

A request too malformed to reach the application (a bad request line, a negative or doubled
Content-Length, bytes that are not HTTP) is refused by uvicorn's parser before any ASGI app
sees it; this protocol answers those refusals as every other error is answered: a JSON body,
`x-amzn-ErrorType` and a request id, so every 4xx a client sees has one shape.
"""

from __future__ import annotations

import uuid

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from connectmail.aws.restjson import error_response
from connectmail.errors import ServiceError

MALFORMED_HTTP = ServiceError(
    "BadRequestException", "The request is not well-formed HTTP/1.1.", status=400
)


class AwsHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with its 400 answer in AWS's error shape."""

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
