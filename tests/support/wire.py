"""Raw HTTP to a connectmail server, signed with botocore's SigV4 signer or not at all.

For tests that need what no SDK sends: an exact path, query, header set or body, a request
changed after it was signed, or bytes that are not HTTP at all.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REGION = "us-east-1"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def error_type(self) -> str | None:
        return self.headers.get("x-amzn-errortype")

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def message(self) -> str:
        document = self.json
        return str(document.get("message", document.get("Message", "")))


def host_port(endpoint: str) -> tuple[str, int]:
    parts = urlsplit(endpoint)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def sign(
    endpoint: str,
    method: str,
    target: str,
    credentials: dict[str, str],
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    service: str = "connect",
    region: str = REGION,
) -> list[tuple[str, str]]:
    """The headers botocore's SigV4 signer adds for this request, with Host, as a list."""
    request = AWSRequest(method=method, url=endpoint + target, data=body, headers=headers or {})
    SigV4Auth(
        Credentials(credentials["aws_access_key_id"], credentials["aws_secret_access_key"]),
        service,
        region,
    ).add_auth(request)
    signed = [(name, str(value)) for name, value in request.headers.items()]
    if not any(name.lower() == "host" for name, _ in signed):
        signed.insert(0, ("Host", urlsplit(endpoint).netloc))
    return signed


def send(
    endpoint: str,
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes = b"",
    *,
    timeout: float = 30.0,
) -> Answer:
    """Send exactly these headers (Host included, or not) and this body; read the answer."""
    host, port = host_port(endpoint)
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        given = list(headers)
        for name, value in given:
            connection.putheader(name, value)
        if body and not any(name.lower() == "content-length" for name, _ in given):
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        response = connection.getresponse()
        answer_headers: dict[str, str] = {}
        for name, value in response.getheaders():
            key = name.lower()
            answer_headers[key] = (
                f"{answer_headers[key]},{value}" if key in answer_headers else value
            )
        return Answer(response.status, answer_headers, response.read())
    finally:
        connection.close()


def signed(
    endpoint: str,
    method: str,
    target: str,
    credentials: dict[str, str],
    *,
    body: bytes | dict[str, Any] = b"",
    headers: dict[str, str] | None = None,
    service: str = "connect",
    region: str = REGION,
    timeout: float = 30.0,
) -> Answer:
    """Sign with botocore's signer and send as it is."""
    raw = orjson.dumps(body) if isinstance(body, dict) else body
    signed_headers = sign(
        endpoint,
        method,
        target,
        credentials,
        body=raw,
        headers=headers,
        service=service,
        region=region,
    )
    return send(endpoint, method, target, signed_headers, raw, timeout=timeout)


def exchange(endpoint: str, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Write raw bytes on a new connection; read until the server closes or one answer ends."""
    with socket.create_connection(host_port(endpoint), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return received
            received += chunk
            head, separator, body = received.partition(b"\r\n\r\n")
            if separator:
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length" and len(body) >= int(value):
                        return received


def payload_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
