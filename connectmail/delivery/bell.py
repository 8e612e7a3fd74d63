"""The outbox bell: on PostgreSQL, `serve --no-deliver` tells the `connectmail worker`
processes that new mail is in the outbox (NOTIFY), and they listen (LISTEN) and claim at once
instead of at their next poll.

A hint, never the only way mail is found: a worker still polls, so a notification lost (the
connection down, the bell not rung) delays mail by a poll at most, and the bell failing never
fails an accept, which has committed before it rings. SQLite has no such channel between
processes; its workers poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import psycopg

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
        if self._task is not None:
            self._task.cancel()  # a ring left: the workers' next poll finds that mail
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
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
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
