"""The store: reads on a thread pool, writes group-committed by dedicated writer threads.

A write is a function of a SQLAlchemy connection. Concurrent writes are gathered into one
transaction, each in its own savepoint, so one fsync makes a whole group durable while a unit
that fails rolls back alone. Nothing is acknowledged before its transaction has committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from connectmail.errors import ServiceError
from connectmail.store.database import create_engines, is_sqlite, migrate, normalize_url

log = logging.getLogger(__name__)

T = TypeVar("T")
Unit = Callable[[Connection], Any]

MAX_GROUP = 256
# A unit that hits a unique-key race runs again, and then sees the row that won.
MAX_CONFLICT_RETRIES = 3


Outcome = tuple[bool, Any]  # (True, result) or (False, the exception to raise)


class RunAlone(Exception):
    """A batch's outcome for a job it leaves to the single-job path (`run([job])`)."""


class Batch(Protocol):
    """Writes of one kind done together: one statement per step for a whole group.

    `run` gets every job of that kind in the group and returns an outcome per job, in order.
    If it raises, its writes are rolled back and each job runs again alone (`run([job])`), so
    a batch may give up on anything unusual and leave it to the single-job path.
    """

    def run(self, connection: Connection, jobs: list[Any]) -> list[Outcome]: ...


@dataclass
class _Pending:
    unit: Unit | None
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    conflicts: int = 0
    batch: Batch | None = None
    job: Any = None


class StoreUnavailable(ServiceError):
    def __init__(self) -> None:
        super().__init__(
            "InternalServiceException",
            "The database is unavailable; retry the request.",
            status=500,
        )


class Store:
    """The database, shared by the API, the delivery worker and the command line."""

    def __init__(
        self,
        url: str,
        *,
        readers: int = 4,
        writers: int | None = None,
        outage_deadline: float = 30.0,
    ) -> None:
        self.url = normalize_url(url)
        self.sqlite = is_sqlite(self.url)
        self.write_engine, self.read_engine = create_engines(self.url, readers=readers)
        # Statements run through SQLAlchemy raise its exceptions; prepared ones (see
        # prepared.py) raise the driver's own. Both kinds are classified alike.
        dbapi = self.write_engine.dialect.dbapi
        assert dbapi is not None
        self._outage: tuple[type[BaseException], ...] = (
            OperationalError,
            InterfaceError,
            dbapi.OperationalError,
            dbapi.InterfaceError,
        )
        self._conflict: tuple[type[BaseException], ...] = (IntegrityError, dbapi.IntegrityError)
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._write_turn = WriteTurn(self.url) if self.sqlite else contextlib.nullcontext()
        self._outage_deadline = outage_deadline
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="store-read")
        count = writers or (1 if self.sqlite else 3)
        self._threads = [
            threading.Thread(target=self._write_loop, name=f"store-write-{n}", daemon=True)
            for n in range(count)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    def migrate(self) -> None:
        migrate(self.write_engine)

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)
        self._readers.shutdown(wait=True)
        self.write_engine.dispose()
        self.read_engine.dispose()

    # -- reads -------------------------------------------------------------------------------

    async def read(self, fn: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self.read_now, fn)

    def read_now(self, fn: Callable[[Connection], T]) -> T:
        """Run a read in this thread (for the command line and the writer-free paths)."""
        deadline = time.monotonic() + self._outage_deadline
        while True:
            try:
                with self.read_engine.connect() as connection, connection.begin():
                    return fn(connection)
            except self._outage as exc:
                if time.monotonic() > deadline:
                    raise StoreUnavailable() from exc
                log.warning("database read failed, retrying: %s", exc)
                time.sleep(0.2)

    # -- writes ------------------------------------------------------------------------------

    async def write(self, fn: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Pending(fn, future, loop))
        return await future

    async def write_batched(self, batch: Batch, job: Any) -> Any:
        """Run `job` with the other jobs of `batch` in the next group; its outcome."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(_Pending(None, future, loop, batch=batch, job=job))
        return await future

    def write_now(self, fn: Callable[[Connection], T]) -> T:
        """Run a write in its own transaction in this thread (command line, start-up)."""
        with self.write_engine.connect() as connection, connection.begin():
            return fn(connection)

    def _write_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                group.append(item)
            self._commit_group(group)

    def _commit_group(self, group: list[_Pending]) -> None:
        deadline = time.monotonic() + self._outage_deadline
        while True:
            try:
                outcomes = self._run_group(group)
                break
            except self._outage as exc:
                if time.monotonic() > deadline:
                    log.error("database unavailable for %.0fs: %s", self._outage_deadline, exc)
                    outcomes = [(False, StoreUnavailable()) for _ in group]
                    break
                log.warning("database write failed, retrying the group: %s", exc)
                time.sleep(0.2)
        retry: list[_Pending] = []
        settled: dict[asyncio.AbstractEventLoop, list[tuple[_Pending, bool, Any]]] = {}
        for pending, (ok, value) in zip(group, outcomes, strict=True):
            if (
                not ok
                and isinstance(value, self._conflict)
                and pending.conflicts < MAX_CONFLICT_RETRIES
            ):
                pending.conflicts += 1
                retry.append(pending)
                continue
            settled.setdefault(pending.loop, []).append((pending, ok, value))
        # One wake-up per event loop for the whole group, not one per unit.
        for loop, results in settled.items():
            loop.call_soon_threadsafe(_settle, results)
        if retry:
            self._commit_group(retry)

    def _run_group(self, group: list[_Pending]) -> list[tuple[bool, Any]]:
        with self._write_turn:
            return self._run_group_locked(group)

    def _run_group_locked(self, group: list[_Pending]) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}
        batches: dict[int, tuple[Batch, list[int]]] = {}
        with self.write_engine.connect() as connection, connection.begin():
            for index, pending in enumerate(group):
                if pending.batch is not None:
                    batches.setdefault(id(pending.batch), (pending.batch, []))[1].append(index)
                    continue
                assert pending.unit is not None
                outcomes[index] = self.in_savepoint(connection, pending.unit)
            for batch, indexes in batches.values():
                jobs = [group[i].job for i in indexes]
                outcomes.update(zip(indexes, self._run_batch(connection, batch, jobs), strict=True))
        return [outcomes[index] for index in range(len(group))]

    def _run_batch(self, connection: Connection, batch: Batch, jobs: list[Any]) -> list[Outcome]:
        together = self.in_savepoint(connection, partial(_run_jobs, batch, jobs))
        outcomes: list[Outcome] = together[1] if together[0] else [(False, RunAlone())] * len(jobs)
        for index, (ok, value) in enumerate(outcomes):
            if not ok and isinstance(value, RunAlone):  # alone, in its own savepoint
                alone = self.in_savepoint(connection, partial(_run_jobs, batch, [jobs[index]]))
                outcomes[index] = alone[1][0] if alone[0] else alone
        return outcomes

    def in_savepoint(self, connection: Connection, unit: Callable[[Connection], Any]) -> Outcome:
        """Run `unit` in a savepoint: its writes stay if it returns, go if it raises.

        Plain SAVEPOINT statements on the driver: SQLAlchemy's nested transactions cost ~100
        us each, its exec_driver_sql ~20. A database failure is not the unit's: it propagates
        and the whole group runs again.
        """
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.execute("SAVEPOINT unit")
        try:
            result = unit(connection)
        except self._outage:
            raise
        except Exception as exc:
            driver.execute("ROLLBACK TO SAVEPOINT unit")
            driver.execute("RELEASE SAVEPOINT unit")
            return False, exc
        driver.execute("RELEASE SAVEPOINT unit")
        return True, result


def _run_jobs(batch: Batch, jobs: list[Any], connection: Connection) -> list[Outcome]:
    return batch.run(connection, jobs)


class WriteTurn:
    """Whose turn it is to write a SQLite database, among the processes sharing it.

    SQLite's own lock is taken by polling (a process that finds it busy sleeps 1, 2, 5 ...
    ms and tries again), so a process that writes back to back keeps winning and the others
    starve. A blocking flock on a file beside the database wakes a waiter the moment the
    holder lets go. One process alone pays two system calls per group.
    """

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        database = make_url(url).database
        self._fd = -1
        if database and database != ":memory:":
            self._fd = os.open(f"{database}.write-lock", os.O_CREAT | os.O_RDWR, 0o600)

    def __enter__(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


def _settle(results: list[tuple[_Pending, bool, Any]]) -> None:
    for pending, ok, value in results:
        if pending.future.cancelled():
            continue
        if ok:
            pending.future.set_result(value)
        else:
            pending.future.set_exception(value)
