"""Housekeeping in the background: forget client tokens past their time, and keep
PostgreSQL's planner statistics current as the busy tables grow."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from functools import partial

from sqlalchemy import Connection, bindparam, text

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
        """ANALYZE each busy table once it has changed by as many rows as it had at its last
        ANALYZE (`STALE_FRACTION`), checked every interval.

        PostgreSQL plans the hot statements, and the foreign-key checks of every insert, from
        the statistics it has; plans made while a table was nearly empty scan it whole. Left
        to autovacuum (when it runs at all) a fresh database is re-analyzed only after up to a
        minute, and meanwhile each send scans the messages it has accepted so far: the accept
        rate fell by half within a minute of sustained load (measured). Checking costs one
        read of the statistics views; a small table is cheap to analyze.
        """
        while True:
            await asyncio.sleep(self._analyze_interval)
            try:
                stale = await self._store.read(stale_tables)
                if stale:
                    await self._store.read(partial(analyze_tables, stale))
            except Exception:
                log.exception("ANALYZE failed; trying again later")


_STALE = text(
    "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
    "WHERE s.schemaname = current_schema() AND s.relname IN :tables "
    "AND s.n_mod_since_analyze > 0 "
    "AND s.n_mod_since_analyze >= :fraction * greatest(c.reltuples, 0)"
).bindparams(bindparam("tables", expanding=True))
# A table is analyzed again once it has changed by as many rows as it had (a growing table:
# once it has doubled). Its statements (key lookups, foreign-key checks) are planned by the
# order of magnitude of its rows, not by a tenth more or less, while each ANALYZE samples up
# to 30,000 rows (300 x default_statistics_target). With autovacuum's tenth, a fresh
# database under load re-analyzed the growing tables every second or two: up to a third of
# PostgreSQL's CPU in a sampled window (perf), 170 to 225 µs of it per send against 123 to
# 145 with the doubling. autovacuum, when on, still applies its own rule.
STALE_FRACTION = 1.0


def stale_tables(connection: Connection) -> list[str]:
    """The busy tables changed by `STALE_FRACTION` of their rows or more since they were
    last analyzed (any change, for a table never analyzed or analyzed empty)."""
    found = set(
        connection.execute(
            _STALE, {"tables": list(BUSY_TABLES), "fraction": STALE_FRACTION}
        ).scalars()
    )
    return [name for name in BUSY_TABLES if name in found]


def analyze_tables(tables: list[str], connection: Connection) -> None:
    """ANALYZE `tables` (names from BUSY_TABLES). Only sampling: it takes no lock that
    writers or readers wait for."""
    assert set(tables) <= set(BUSY_TABLES)
    connection.execute(text("ANALYZE " + ", ".join(tables)))
