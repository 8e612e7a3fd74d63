"""The HTTP/1.1 connection: a response goes out in one write, and in order."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from connectmail.aws.http11 import GatheredWrites
from tests.support.server import ServerProcess
from tests.support.wire import host_port, sign


class Recorded:
    """The part of an asyncio transport GatheredWrites calls, recording it."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def write(self, data: bytes) -> None:
        self.calls.append(data)

    def close(self) -> None:
        self.calls.append("close")

    def get_extra_info(self, name: str, default: Any = None) -> str:
        return f"info {name}"

    def resume_reading(self) -> None:
        self.calls.append("resume_reading")

    def is_closing(self) -> bool:
        return "close" in self.calls or "abort" in self.calls

    def write_eof(self) -> None:
        self.calls.append("write_eof")

    def abort(self) -> None:
        self.calls.append("abort")


def test_writes_in_one_turn_of_the_loop_go_out_as_one() -> None:
    async def run() -> list[Any]:
        recorded = Recorded()
        gathered = GatheredWrites(recorded)  # type: ignore[arg-type]
        gathered.write(b"HTTP/1.1 200 OK\r\n\r\n")
        gathered.write(b"body")
        assert recorded.calls == []  # not before the turn ends
        await asyncio.sleep(0)
        gathered.write(b"next")
        await asyncio.sleep(0)
        gathered.write(b"last")
        gathered.close()  # what is pending goes first
        gathered.write(b"after the close")  # dropped: the transport is closing
        await asyncio.sleep(0)
        assert gathered.get_extra_info("peername") == "info peername"
        gathered.resume_reading()
        return recorded.calls

    assert asyncio.run(run()) == [
        b"HTTP/1.1 200 OK\r\n\r\nbody",
        b"next",
        b"last",
        "close",
        "resume_reading",
    ]


def test_the_rest_of_the_transport_keeps_the_writes_in_order() -> None:
    """writelines gathers like write; write_eof sends what is pending first; abort drops it."""

    async def run() -> list[Any]:
        recorded = Recorded()
        gathered = GatheredWrites(recorded)  # type: ignore[arg-type]
        gathered.writelines([b"head ", b"body"])
        gathered.write(b" more")
        gathered.write_eof()
        gathered.write(b"never sent")
        gathered.abort()
        await asyncio.sleep(0)
        return recorded.calls

    assert asyncio.run(run()) == [b"head body more", "write_eof", "abort"]


def test_pipelined_requests_are_answered_whole_and_in_order(
    shared_server: ServerProcess,
) -> None:
    """Three signed requests sent at once on one connection: three answers, in order."""
    targets = ["/instance", "/instance?maxResults=1", "/no-such-thing"]
    wire = b""
    for target in targets:
        headers = sign(shared_server.endpoint, "GET", target, shared_server.credentials)
        lines = [f"GET {target} HTTP/1.1", *(f"{n}: {v}" for n, v in headers)]
        wire += "\r\n".join(lines).encode() + b"\r\n\r\n"
    with socket.create_connection(host_port(shared_server.endpoint), timeout=10) as sock:
        sock.sendall(wire)
        answers: list[tuple[bytes, Any]] = []
        buffer = b""
        while len(answers) < len(targets):
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {len(answers)} answers"
            buffer += chunk
            while b"\r\n\r\n" in buffer:
                head, rest = buffer.split(b"\r\n\r\n", 1)
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                if len(rest) < length:
                    break
                answers.append((head.split(b" ", 2)[1], orjson.loads(rest[:length])))
                buffer = rest[length:]
    assert [status for status, _ in answers] == [b"200", b"200", b"404"]
    assert "InstanceSummaryList" in answers[0][1]
    assert len(answers[1][1]["InstanceSummaryList"]) <= 1
    assert buffer == b""


def read_all(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_head_over_the_limit_is_refused_in_aws_shape(shared_server: ServerProcess) -> None:
    """Headers were read without bound (32 MiB took 50 MB of memory) before any check."""
    with socket.create_connection(host_port(shared_server.endpoint), timeout=10) as sock:
        sock.sendall(b"GET /instance HTTP/1.1\r\nHost: x\r\n")
        header = b"X-Filler: " + b"a" * 1000 + b"\r\n"
        try:
            for _ in range(200):  # 200 KB: the server answers and closes before the end
                sock.sendall(header)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_all(sock)
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 431 ")
    assert b"x-amzn-errortype: requestheaderfieldstoolargeexception" in head.lower()
    assert "64 KiB" in orjson.loads(body)["message"]


@pytest.fixture(scope="module")
def impatient_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that waits a second for a request's head, or for its body to go on."""
    directory = tmp_path_factory.mktemp("impatient")
    server = ServerProcess(directory, [], {"CONNECTMAIL_REQUEST_HEAD_SECONDS": "1"}).start()
    yield server
    server.stop()


def test_a_head_over_the_limit_in_one_write_is_refused(shared_server: ServerProcess) -> None:
    """A head over 64 KiB that arrived whole in one read was served (only heads spanning
    several reads were counted)."""
    filler = b"X-Filler: " + b"a" * 70_000 + b"\r\n"
    with socket.create_connection(host_port(shared_server.endpoint), timeout=10) as sock:
        sock.sendall(b"GET /instance HTTP/1.1\r\nHost: x\r\n" + filler + b"\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_a_head_under_the_limit_with_a_large_body_in_one_write(
    shared_server: ServerProcess,
) -> None:
    """Head and body together far over 64 KiB in one write: only the head counts."""
    body = orjson.dumps({"MaxResults": 5, "Padding": "p" * 200_000})
    headers = sign(shared_server.endpoint, "PUT", "/instance", shared_server.credentials, body=body)
    filler = "a" * 60_000
    head = b"PUT /instance HTTP/1.1\r\n" + b"".join(
        f"{name}: {value}\r\n".encode() for name, value in [*headers, ("X-Filler", filler)]
    )
    with socket.create_connection(host_port(shared_server.endpoint), timeout=10) as sock:
        sock.sendall(head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        answer = sock.recv(65536)
    # The request reached the API: refused for what it says, not for its size.
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert b"InvalidRequestException" in answer


def test_a_head_that_does_not_arrive_is_cut_off(impatient_server: ServerProcess) -> None:
    """A client that opens a connection and sends nothing, or half a request line, no longer
    holds it for ever; a kept-alive connection between requests is uvicorn's (5 s)."""
    server = impatient_server
    address = host_port(server.endpoint)
    with (
        socket.create_connection(address, timeout=10) as silent,
        socket.create_connection(address, timeout=10) as halfway,
    ):
        halfway.sendall(b"GET /instance HT")
        started = time.monotonic()
        assert read_all(silent) == b"" and read_all(halfway) == b""
        assert time.monotonic() - started < 5
    # A whole request in time is served as ever.
    assert server.client().list_instances()["ResponseMetadata"]["HTTPStatusCode"] == 200


def create_instance_request(server: ServerProcess, alias: str) -> tuple[bytes, bytes]:
    """A signed CreateInstance's head and body, to be sent at the test's own pace."""
    body = orjson.dumps(
        {
            "IdentityManagementType": "CONNECT_MANAGED",
            "InstanceAlias": alias,
            "InboundCallsEnabled": True,
            "OutboundCallsEnabled": True,
        }
    )
    headers = sign(server.endpoint, "PUT", "/instance", server.credentials, body=body)
    head = b"PUT /instance HTTP/1.1\r\n" + b"".join(
        f"{name}: {value}\r\n".encode() for name, value in headers
    )
    return head + f"Content-Length: {len(body)}\r\n\r\n".encode(), body


def aliases(server: ServerProcess) -> set[str]:
    listed = server.client().list_instances(MaxResults=10)["InstanceSummaryList"]
    return {instance["InstanceAlias"] for instance in listed}


def test_a_body_that_stops_is_cut_off(impatient_server: ServerProcess) -> None:
    """A signed request whose body stopped halfway held its connection (and a task waiting
    for the rest) for ever; now it is closed, and the half request never runs."""
    server = impatient_server
    head, body = create_instance_request(server, "stopped-body")
    with socket.create_connection(host_port(server.endpoint), timeout=10) as sock:
        sock.sendall(head + body[:20])
        started = time.monotonic()
        assert read_all(sock) == b""
        assert time.monotonic() - started < 5
    assert "stopped-body" not in aliases(server)


def test_a_slow_body_that_keeps_coming_is_served(impatient_server: ServerProcess) -> None:
    """The bound is on silence, not on the whole body's time: 3 s of a body sent in pieces
    half a second apart, against a limit of 1 s, is a request like any other."""
    server = impatient_server
    head, body = create_instance_request(server, "slow-body")
    pieces = [body[i : i + len(body) // 6 + 1] for i in range(0, len(body), len(body) // 6 + 1)]
    assert len(pieces) >= 6
    with socket.create_connection(host_port(server.endpoint), timeout=10) as sock:
        sock.sendall(head)
        for piece in pieces:
            time.sleep(0.5)
            sock.sendall(piece)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert "slow-body" in aliases(server)
