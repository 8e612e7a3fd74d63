"""How a `connectmail worker` learns that new mail is in the outbox, sooner than its next poll.

On PostgreSQL, `serve --no-deliver` rings the outbox bell (NOTIFY) after accepted mail, and the
workers listen (LISTEN) and claim at once. On SQLite, whose processes share one machine and one
file, a worker watches the database for commits by others (`CommitWatch`: PRAGMA data_version,
a read of the WAL index in shared memory, when inotify says the files were written) and claims
after one.

Hints, never the only way mail is found: a worker still polls, so a notification lost (the
connection down, the bell not rung, the file busy) delays mail by a poll at most, and the bell
failing never fails an accept, which has committed before it rings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import psycopg

if TYPE_CHECKING:
    from asyncinotify import Inotify

log = logging.getLogger(__name__)

CHANNEL = "connectmail_outbox"


class OutboxBell:
    """Rings (NOTIFY) after accepted mail, at most once per `gap` seconds: the rings that
    come meanwhile make one more NOTIFY after it, so a worker gathers them in one claim."""

    def __init__(self, conninfo: str, gap: float = 0.01, retry: float = 1.0) -> None:
        self._conninfo = conninfo
        self._gap = gap
        self._retry = retry
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def ring(self) -> None:
        """Mail was accepted (and committed): let the workers know soon."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._notify(), name="outbox-bell")

    async def _notify(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            if await self._send():
                await asyncio.sleep(self._gap)
            else:
                await asyncio.sleep(self._retry)  # the rings meanwhile try again after it

    async def _send(self) -> bool:
        """NOTIFY; on a connection of its own again if the one kept failed (the database
        dropped it while idle, say). Whether it went."""
        for fresh in (False, True):
            try:
                if fresh or self._connection is None or self._connection.closed:
                    await self._drop()
                    self._connection = await psycopg.AsyncConnection.connect(
                        self._conninfo, autocommit=True
                    )
                await self._connection.execute(f"NOTIFY {CHANNEL}")
                return True
            except psycopg.Error as exc:
                error = exc
        log.warning("could not notify the delivery workers (they poll): %s", error)
        await self._drop()
        return False

    async def _drop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error):
                await self._connection.close()
            self._connection = None

    async def close(self) -> None:
        await _cancel(self._task)  # a ring left: the workers' next poll finds that mail
        await self._drop()


class BellListener:
    """Listens for the bell and calls `wake` for each ring, from when `start` returns until
    `stop`. A connection that fails is opened again after `retry` seconds; meanwhile the
    worker polls."""

    def __init__(
        self, conninfo: str, wake: Callable[[], None], retry: float = 1.0, check: float = 30.0
    ) -> None:
        self._conninfo = conninfo
        self._wake = wake
        self._retry = retry
        self._check = check  # how often a quiet connection is checked to be alive
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def start(self, wait: float = 5.0) -> None:
        """Start listening; returns once LISTEN has run, or after `wait` seconds (then it
        goes on trying in the background)."""
        self._task = asyncio.create_task(self._run(), name="outbox-bell-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), wait)

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except psycopg.Error as exc:
                log.warning("not listening for new mail (polling) for %.0fs: %s", self._retry, exc)
            await asyncio.sleep(self._retry)

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True
        ) as connection:
            await connection.execute(f"LISTEN {CHANNEL}")
            self._listening.set()
            self._wake()  # mail may have come while no one listened
            while True:
                async for _ in connection.notifies(timeout=self._check):
                    self._wake()
                await connection.execute("SELECT 1")  # quiet: is the connection still there?

    async def stop(self) -> None:
        await _cancel(self._task)


class CommitWatch:
    """SQLite: calls `wake` after other connections commit to the database, from when `start`
    returns until `stop`, at most once per `check` seconds.

    `PRAGMA data_version` changes when another connection has committed; in WAL mode reading it
    is a look at the WAL index in shared memory (about 5 µs), with no lock to wait for. The
    watch reads it every `check` seconds. On Linux it stops once the database has had no
    commit for `quiet` seconds, and starts again when the kernel says a file in the database's
    directory was written (inotify: a commit writes the WAL, or the journal and the file), so
    an idle watch costs nothing; elsewhere, where inotify cannot be had, or with `notified`
    false, it never stops. Any commit counts, the worker's own recordings too: a claim that
    finds nothing costs a transaction (one that writes nothing, so wakes nothing), at most one
    a `check`."""

    def __init__(
        self,
        path: str,
        wake: Callable[[], None],
        check: float = 0.01,
        notified: bool = True,
        quiet: float = 1.0,
    ) -> None:
        self._path = path
        self._directory = os.path.dirname(os.path.abspath(path))
        self._wake = wake
        self._check = check
        self._notified = notified
        self._quiet = quiet
        self._connection: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    async def start(self) -> None:
        # timeout=0: a busy file is skipped until the next check, never waited for on the loop.
        self._connection = sqlite3.connect(self._path, timeout=0, isolation_level=None)
        version = self._version()
        inotify = _inotify() if self._notified else None
        run = self._polled_run(version) if inotify is None else self._notified_run(inotify, version)
        self._task = asyncio.create_task(run, name="outbox-commit-watch")

    def _version(self) -> int | None:
        assert self._connection is not None
        try:
            (version,) = self._connection.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error as exc:
            if not self._failing:
                log.warning("cannot watch the database for new mail (polling): %s", exc)
            self._failing = True
            return None
        self._failing = False
        return int(version)

    async def _poll(self, last: int | None, quiet: float | None = None) -> int | None:
        """Look every `check` seconds and wake on a change; after `quiet` seconds without
        one (never, if None), return the version last seen."""
        changed = time.monotonic()
        while True:
            version = self._version()
            if version is not None and version != last:
                last, changed = version, time.monotonic()
                self._wake()
            elif quiet is not None and time.monotonic() - changed >= quiet:
                return last
            await asyncio.sleep(self._check)

    async def _polled_run(self, last: int | None) -> None:
        await self._poll(last)

    async def _notified_run(self, inotify: Inotify, last: int | None) -> None:
        from asyncinotify import Mask

        # One event, then the kernel drops the watch (and says so, IGNORED): while the files
        # are written, two events instead of one a write, and the watches' table stays small.
        written = Mask.MODIFY | Mask.CREATE | Mask.MOVED_TO | Mask.ONLYDIR | Mask.ONESHOT
        with inotify:
            while True:
                # Armed before the look: a commit after it is an event, one before it is seen.
                try:
                    inotify.add_watch(self._directory, written)
                except OSError as exc:  # the user's watches used up, say
                    log.warning("cannot watch %s for new mail (polling): %s", self._directory, exc)
                    await self._poll(last)
                if self._version() == last:
                    await inotify.get()
                # A commit writes its pages, syncs, and only then is seen by others, with no
                # write to say so: look every `check` until the database has been quiet a while.
                last = await self._poll(last, quiet=self._quiet)
                while inotify.sync_get() is not None:
                    pass  # the events meanwhile; the next look covers them

    async def stop(self) -> None:
        await _cancel(self._task)
        if self._connection is not None:
            self._connection.close()


def _inotify() -> Inotify | None:
    """An inotify instance whose `sync_get` never waits, or None where there is none: not
    Linux, or the user's inotify instances used up (`fs.inotify.max_user_instances`)."""
    try:
        from asyncinotify import Inotify

        return Inotify(sync_timeout=0)
    except (ImportError, OSError, AttributeError) as exc:  # AttributeError: libc has no inotify
        log.info("no inotify (%s): the watch polls the database for new mail", exc)
        return None


async def _cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel `task`, if any, and wait until it has ended."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
