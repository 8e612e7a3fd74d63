"""Several API processes on one port, and delivery in a process of its own."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

from tests.support.cli import connectmail
from tests.support.connect import make_outpost, unique_address
from tests.support.server import ServerProcess, start_worker, stop_worker
from tests.support.smtp import SmtpSink


def workers_of(pid: int) -> list[int]:
    """The worker processes `serve --workers N` started (spawned Python processes)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    found = []
    for child in children:
        try:
            if "spawn_main" in Path(f"/proc/{child}/cmdline").read_text():
                found.append(int(child))
        except OSError:
            continue
    return found


def test_two_workers_serve_and_share_the_store(
    database_url: str, relay: SmtpSink, start_server: Any
) -> None:
    server: ServerProcess = start_server(
        "--workers", "2", "--relay", relay.url, "--database-url", database_url
    )
    assert server.process is not None
    workers = workers_of(server.process.pid)
    assert len(workers) == 2
    outpost = make_outpost(server.client())
    addresses = [unique_address("w") for _ in range(20)]
    for to in addresses:
        outpost.send(to=to)
    received = relay.wait_for(20)
    assert sorted(r.recipients[0] for r in received) == sorted(addresses)

    # A worker that dies is replaced; the API keeps answering.
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = workers_of(server.process.pid)
        if len(now) == 2 and workers[0] not in now:
            break
        time.sleep(0.1)
    assert len(now) == 2 and workers[0] not in now
    outpost.send(to=unique_address("after"))
    relay.wait_for(21)


def test_delivery_in_its_own_process(tmp_path: Path, relay: SmtpSink, start_server: Any) -> None:
    server: ServerProcess = start_server("--no-deliver", "--relay", relay.url)
    outpost = make_outpost(server.client())
    to = unique_address("separate")
    outpost.send(to=to)
    time.sleep(0.5)
    assert relay.received == []  # the API process does not deliver
    worker = start_worker(server.data_dir, relay.url)
    try:
        (received,) = relay.wait_for(1)
        assert received.recipients == [to]
        second = unique_address("separate")
        outpost.send(to=second)
        assert relay.wait_for(2)[1].recipients == [second]
    finally:
        stop_worker(worker)


def endpoint_port(server: ServerProcess) -> str:
    return server.endpoint.rsplit(":", 1)[1]


def test_a_second_server_cannot_share_the_workers_port(tmp_path: Path, start_server: Any) -> None:
    """The workers bind with SO_REUSEPORT, which would let another server of the same user
    bind the port too and take half its connections."""
    server: ServerProcess = start_server("--workers", "2")
    for workers in ("1", "2"):
        refused = connectmail(
            "serve",
            "--port",
            endpoint_port(server),
            "--workers",
            workers,
            "--data-dir",
            str(tmp_path / f"other-{workers}"),
            check=False,
        )
        assert refused.returncode == 1
        assert "Address already in use" in refused.stderr
        assert not (tmp_path / f"other-{workers}" / "connectmail.db").exists()
    outpost = make_outpost(server.client())
    for _ in range(6):  # every connection reaches this server's workers
        outpost.send(to=unique_address("mine"))


def test_workers_stop_when_the_supervisor_is_killed(start_server: Any) -> None:
    server: ServerProcess = start_server("--workers", "2")
    assert server.process is not None
    workers = workers_of(server.process.pid)
    assert len(workers) == 2
    server.kill()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers)
    # Nothing is left on the port: the same server starts again on it.
    port = endpoint_port(server)
    server.args = [*server.args, "--port", port]
    server.start()
    assert endpoint_port(server) == port
    make_outpost(server.client()).send(to=unique_address("again"))


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for whoever adopted it to reap it."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def test_workers_that_cannot_start_stop_the_server(tmp_path: Path) -> None:
    """Each worker binds the inbound SMTP port; one taken by another program lets none start,
    and restarting them would only fail again."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = connectmail(
            "serve",
            "--port",
            "0",
            "--workers",
            "2",
            "--smtp-port",
            str(taken.getsockname()[1]),
            "--data-dir",
            str(tmp_path / "data"),
            check=False,
        )
    assert result.returncode == 1
    assert "before it served; stopping" in result.stderr
    assert result.stderr.count("starting another") == 0
