"""Several API processes on one port, and delivery in a process of its own."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

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
