"""Housekeeping in the background: forget client tokens past their time, and keep
PostgreSQL's planner statistics current where autovacuum does not."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy import Connection, text

from connectmail.domain.idempotency import purge_expired
from connectmail.store.store import Store

log = logging.getLogger(__name__)

# The tables every send writes: their statistics decide how the hot statements are planned.
BUSY_TABLES = ("contacts", "messages", "outbox", "idempotency_keys", "attached_files")


class Maintenance:
    def __init__(
        self, store: Store, interval_seconds: float, analyze_interval_seconds: float = 0.0
    ) -> None:
        self._store = store
        self._interval = interval_seconds
        self._analyze_interval = analyze_interval_seconds
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._run(), name="maintenance"))
        if self._store.dialect == "postgresql" and self._analyze_interval > 0:
            self._tasks.append(asyncio.create_task(self._analyze(), name="analyze"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                purged = await self._store.write(lambda c: purge_expired(c, time.time()))
                if purged:
                    log.info("forgot %d expired client tokens", purged)
            except Exception:
                log.exception("maintenance failed; trying again later")

    async def _analyze(self) -> None:
        """ANALYZE the busy tables now and then, when the server's autovacuum is off.

        Without fresh statistics PostgreSQL keeps planning the hot statements as it did
        for nearly empty tables, and the accept rate falls as the tables grow (by half
        within a minute of sustained load, measured).
        """
        try:
            if await self._store.read(_autovacuum_on):
                return
        except Exception:
            log.exception("could not read the autovacuum setting; not analyzing")
            return
        log.info(
            "PostgreSQL autovacuum is off: analyzing %s every %.0fs",
            ", ".join(BUSY_TABLES),
            self._analyze_interval,
        )
        while True:
            await asyncio.sleep(self._analyze_interval)
            try:
                await self._store.read(analyze_busy_tables)
            except Exception:
                log.exception("ANALYZE failed; trying again later")


def _autovacuum_on(connection: Connection) -> bool:
    return bool(connection.execute(text("SELECT current_setting('autovacuum')")).scalar() == "on")


def analyze_busy_tables(connection: Connection) -> None:
    # Only sampling: ANALYZE takes no lock that writers or readers wait for.
    connection.execute(text("ANALYZE " + ", ".join(BUSY_TABLES)))
