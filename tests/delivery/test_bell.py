"""A `connectmail worker` claims new mail at once, not at its next poll. On PostgreSQL,
`serve --no-deliver` rings (NOTIFY) for each accepted email and the worker listens (LISTEN);
either side's connection, dropped by the database, is opened again. On SQLite the worker
watches the database file for commits."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from connectmail.delivery.bell import CommitWatch
from tests.support.connect import make_outpost, unique_address
from tests.support.server import start_worker, stop_worker
from tests.support.smtp import SmtpSink

# Far longer than any wait below: mail that arrives did not wait for a poll.
POLL = 600.0


def _backends(url: str, query: str) -> list[int]:
    """The pids of this database's sessions whose last statement was `query`."""
    with psycopg.connect(url, autocommit=True) as check:
        rows = check.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = %s",
            (query,),
        ).fetchall()
    return [pid for (pid,) in rows]


def _wait_for_listener(url: str, gone: int | None = None, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listening = [p for p in _backends(url, "LISTEN connectmail_outbox") if p != gone]
        if listening:
            return listening[0]
        time.sleep(0.05)
    raise AssertionError("no worker listens for the bell")


def _terminate(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_worker_is_woken_by_the_bell_and_both_sides_reconnect(
    postgres_url: str, relay: SmtpSink, start_server: Any
) -> None:
    server = start_server("--no-deliver", "--database-url", postgres_url)
    outpost = make_outpost(server.client())
    worker = start_worker(
        server.data_dir, relay.url, "--database-url", postgres_url, poll_seconds=POLL
    )
    try:
        listener = _wait_for_listener(postgres_url)
        time.sleep(0.5)  # the worker's first claims, on start and on listening, are done
        first, second, third = (unique_address(n) for n in ("first", "second", "third"))

        outpost.send(to=first)
        assert [r.recipients for r in relay.wait_for(1, timeout=10)] == [[first]]

        # The database drops both connections: the bell's, and the worker's listening one.
        (bell,) = _backends(postgres_url, "NOTIFY connectmail_outbox")
        _terminate(postgres_url, bell)
        _terminate(postgres_url, listener)
        _wait_for_listener(postgres_url, gone=listener)
        time.sleep(0.5)  # the claim on listening again, which finds nothing

        outpost.send(to=second)
        assert [r.recipients for r in relay.wait_for(2, timeout=10)][1:] == [[second]]
        outpost.send(to=third)
        assert [r.recipients for r in relay.wait_for(3, timeout=10)][2:] == [[third]]
    finally:
        stop_worker(worker)
    assert len(relay.received) == 3


def _started(worker: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Wait for the worker's log line that it delivers (after its watch has started); its
    log goes on being read, so that a full pipe never stalls it."""
    assert worker.stderr is not None
    stderr = worker.stderr
    started = threading.Event()

    def read() -> None:
        for line in stderr:
            if b"delivering from" in line:
                started.set()

    threading.Thread(target=read, daemon=True).start()
    assert started.wait(timeout), "the worker did not start"


def test_a_worker_on_sqlite_claims_after_a_commit_not_at_its_poll(
    relay: SmtpSink, start_server: Any
) -> None:
    server = start_server("--no-deliver")
    outpost = make_outpost(server.client())
    worker = start_worker(server.data_dir, relay.url, poll_seconds=POLL)
    try:
        _started(worker)
        time.sleep(0.5)  # the worker's first claim, on start, is done
        for count, name in enumerate(("first", "second", "third"), start=1):
            to = unique_address(name)
            outpost.send(to=to)
            assert relay.wait_for(count, timeout=10)[count - 1].recipients == [to]
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
    assert len(relay.received) == 3


def _watched(
    path: Path, notified: bool, idle: float, directory: Path | None = None
) -> tuple[int, int, int]:
    """A CommitWatch on `path` (quiet after 0.3 s; inotify watching `directory` instead of the
    file's, if given): how often it looked at the database while nothing committed for `idle`
    seconds; how many of three commits by another connection it woke for, each within 5 s;
    and how often it looked in `idle` seconds once quiet again."""
    quiet = 0.3

    class Counted(CommitWatch):
        looks = 0

        def _version(self) -> int | None:
            Counted.looks += 1
            return super()._version()

    async def looks_in(seconds: float) -> int:
        before = Counted.looks
        await asyncio.sleep(seconds)
        return Counted.looks - before

    async def run() -> tuple[int, int, int]:
        woken = asyncio.Event()
        watch = Counted(str(path), woken.set, notified=notified, quiet=quiet)
        if directory is not None:
            watch._directory = str(directory)
        await watch.start()
        try:
            await asyncio.sleep(0.1)  # its first look, at start
            idle_looks = await looks_in(idle)
            wakes = 0
            with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as writer:
                for n in range(3):
                    woken.clear()
                    writer.execute("INSERT INTO t VALUES (?)", (n,))
                    await asyncio.wait_for(woken.wait(), timeout=5)
                    wakes += 1
                    await asyncio.sleep(0.05)
            await asyncio.sleep(quiet + 0.1)
            return idle_looks, wakes, await looks_in(idle)
        finally:
            await watch.stop()

    return asyncio.run(run())


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "watched.db"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE t (n INTEGER)")
    return path


def test_the_commit_watch_wakes_after_each_commit_and_idle_never_looks(database: Path) -> None:
    # inotify (Linux): nothing written, nothing looked at; once written, a look every 10 ms
    # until quiet again.
    assert _watched(database, notified=True, idle=0.5) == (0, 3, 0)


def test_the_commit_watch_polls_where_there_is_no_inotify(database: Path) -> None:
    idle_looks, wakes, quiet_looks = _watched(database, notified=False, idle=0.5)
    assert idle_looks >= 5 and quiet_looks >= 5  # every 10 ms, always
    assert wakes == 3


def test_the_commit_watch_polls_when_inotify_refuses_its_directory(
    database: Path, tmp_path: Path
) -> None:
    gone = tmp_path / "gone"  # inotify_add_watch: ENOENT
    idle_looks, wakes, quiet_looks = _watched(database, notified=True, idle=0.5, directory=gone)
    assert idle_looks >= 5 and quiet_looks >= 5
    assert wakes == 3
