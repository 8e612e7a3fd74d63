"""Several API processes on one port, and delivery in a process of its own."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import connectmail
from tests.support.connect import make_outpost, unique_address
from tests.support.proxy import postgres_behind_proxy
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


def listening(pid: int, port: str) -> bool:
    """Whether process `pid` has a socket listening on `port` (one of its own, not inherited)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    for row in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = row.split()
        local_port, state, inode = int(fields[1].split(":")[1], 16), fields[3], fields[9]
        if local_port == int(port) and state == "0A" and inode in inodes:
            return True
    return False


def test_ctrl_c_stops_the_workers_quietly(tmp_path: Path) -> None:
    """A terminal's Ctrl-C signals the whole process group: each worker ended in a
    KeyboardInterrupt traceback."""
    data = tmp_path / "data"
    server = subprocess.Popen(
        [sys.executable, "-m", "connectmail", "serve", "--port", "0", "--workers", "2",
         "--data-dir", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        workers: list[int] = []
        while time.monotonic() < deadline:
            if (data / "server.json").exists():
                port = json.loads((data / "server.json").read_text())["endpoint"].split(":")[-1]
                workers = workers_of(server.pid)
                if len(workers) == 2 and all(listening(pid, port) for pid in workers):
                    break
            time.sleep(0.1)
        assert len(workers) == 2
        os.killpg(server.pid, signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    assert not (data / "server.json").exists()


def serving(data: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`connectmail serve --port 0` on `data`, its output kept."""
    return subprocess.Popen(
        [sys.executable, "-m", "connectmail", "serve", "--port", "0", "--data-dir", str(data),
         *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def announced(data: Path, server: subprocess.Popen[str], *, answering: bool) -> str:
    """The endpoint in `data`/server.json once it is there (and, if `answering`, once the
    server answers health there)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and server.poll() is None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            endpoint = str(json.loads((data / "server.json").read_text())["endpoint"])
            if not answering:
                return endpoint
            with urllib.request.urlopen(f"{endpoint}/_connectmail/health", timeout=5) as answer:
                if answer.status == 200:
                    return endpoint
        time.sleep(0.02)
    raise AssertionError(f"not announced: {server.poll()}")


def stopped(server: subprocess.Popen[str], *, sigterm: bool = True, timeout: float = 30) -> str:
    """What the server printed once it exited: after a SIGTERM (as systemd or docker stop
    sends it), or by itself; killed if it has not within `timeout` seconds."""
    try:
        if sigterm:
            server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=timeout)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    return output


@pytest.mark.parametrize(
    ("workers", "answering"),
    # Without waiting for an answer: server.json is written before uvicorn has started.
    [("1", True), ("2", True), ("1", False)],
    ids=["serving", "two-workers", "starting"],
)
def test_sigterm_stops_the_server_with_0_and_takes_back_server_json(
    tmp_path: Path, workers: str, answering: bool
) -> None:
    """It exited as killed by SIGTERM (143), which service managers and scripts read as a
    failure, and left a server.json naming a port nothing listened on."""
    data = tmp_path / "data"
    server = serving(data, "--workers", workers)
    announced(data, server, answering=answering)
    output = stopped(server)
    assert server.returncode == 0, output
    assert not (data / "server.json").exists()


def test_a_stopped_server_leaves_another_servers_server_json(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = serving(data)
    announced(data, server, answering=True)
    # Another server started on the same data directory since, and wrote its own.
    theirs = b'{"endpoint":"http://127.0.0.1:1"}'
    (data / "server.json").write_bytes(theirs)
    output = stopped(server)
    assert server.returncode == 0, output
    assert (data / "server.json").read_bytes() == theirs


def test_workers_that_cannot_start_stop_the_server(tmp_path: Path) -> None:
    """The database goes away once the supervisor has prepared it and before the workers open
    it: none can start, and starting them again would only fail again."""
    with postgres_behind_proxy() as (proxied, proxy):
        data = tmp_path / "data"
        server = serving(data, "--workers", "2", "--database-url", proxied)
        # server.json is written once the database is prepared, before the workers start.
        announced(data, server, answering=False)
        proxy.cut()
        output = stopped(server, sigterm=False, timeout=60)
    assert server.returncode == 1, output
    assert "before it served; stopping" in output
    assert "starting another" not in output
    assert not (data / "server.json").exists()


def test_a_server_whose_database_is_away_stops_at_once(tmp_path: Path) -> None:
    """SIGTERM during an outage waited for the outage deadline (CONNECTMAIL_DATABASE_OUTAGE_
    SECONDS, 30 s by default): the delivery worker's and maintenance's reads kept retrying."""
    with postgres_behind_proxy() as (proxied, proxy):
        data = tmp_path / "data"
        server = serving(
            data, "--database-url", proxied, env={"CONNECTMAIL_DATABASE_OUTAGE_SECONDS": "120"}
        )
        announced(data, server, answering=True)
        proxy.cut()
        time.sleep(2)  # the worker's claims and maintenance's reads are retrying by now
        output = stopped(server, timeout=30)  # far less than the deadline
    assert server.returncode == 0, output


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_before_the_server_is_made_stops_it_once_started(
    tmp_path: Path, workers: str
) -> None:
    """A SIGTERM in the second a start takes (its imports, its migrations) ended the process
    as killed by it (143). The start is held at the database's migration lock, which every
    start takes, while the signal comes."""
    data = tmp_path / "data"
    data.mkdir()
    lock = data / "connectmail.db.migrate-lock"
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        server = serving(data, "--workers", workers)
        deadline = time.monotonic() + 30
        while not holds_open(server.pid, lock) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert holds_open(server.pid, lock)  # waiting for the lock, after its imports
        server.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        fcntl.flock(held, fcntl.LOCK_UN)
    output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert not (data / "server.json").exists()


def holds_open(pid: int, path: Path) -> bool:
    """Whether process `pid` has `path` open."""
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            if os.readlink(fd) == str(path):
                return True
    return False


def test_a_second_sigterm_ends_a_start_that_hangs(tmp_path: Path) -> None:
    """The first SIGTERM while the server starts waits for the start; a start that does not
    end (here, held at the migration lock for good) still ends on a second one."""
    data = tmp_path / "data"
    data.mkdir()
    lock = data / "connectmail.db.migrate-lock"
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        server = serving(data)
        try:
            deadline = time.monotonic() + 30
            while not holds_open(server.pid, lock) and time.monotonic() < deadline:
                time.sleep(0.02)
            server.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            assert server.poll() is None  # still starting: the first is remembered
            server.send_signal(signal.SIGTERM)
            server.communicate(timeout=30)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
    assert server.returncode == -signal.SIGTERM
