"""One group of writes in one transaction: each in a savepoint, batches of one kind together.

Both writers of the store (the writer threads, and the event-loop batcher) run their groups
with `run_group`; only where it runs and who waits for it differ.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from typing import Any, Protocol, TypeGuard, runtime_checkable

from sqlalchemy import Connection, Dialect
from sqlalchemy.engine import make_url

from connectmail.errors import ServiceError

Unit = Callable[[Connection], Any]
Outcome = tuple[bool, Any]  # (True, result) or (False, the exception to raise)


class RunAlone(Exception):
    """A batch's outcome for a job it leaves to the single-job path (`run_alone`)."""


class Batch(Protocol):
    """Writes of one kind done together: one statement per step for a whole group.

    `run` gets every job of that kind in the group and returns an outcome per job, in order;
    RunAlone for a job sends it to `run_alone`. If `run` raises, its writes are rolled back
    and every job runs alone, so a batch may give up on anything unusual.
    """

    def run(self, connection: Connection, jobs: list[Any]) -> list[Outcome]: ...

    def run_alone(self, connection: Connection, job: Any) -> Any: ...


@runtime_checkable
class LoopBatch(Batch, Protocol):
    """A batch that can also run on the event loop over psycopg's AsyncConnection
    (PostgreSQL): what it raises undoes the whole group, and every job then goes to `run`
    in a writer thread, as do the jobs it answers RunAlone.

    The connection is in autocommit mode, so that the batch chooses its round trips:
    psycopg, left to open a transaction itself, sends BEGIN with a sync of its own (a round
    trip before the first statement), and `commit()` in a pipeline syncs again before the
    pipeline's own sync. A batch whose work is one statement needs no transaction; one of
    several queues BEGIN before its first statement (`BEGIN`, in the same pipeline) and may
    queue COMMIT after its last (`COMMIT`). The store commits a transaction left open and
    rolls back one that failed."""

    def takes(self, job: Any) -> bool: ...

    async def run_async(
        self, connection: Any, dialect: Dialect, jobs: list[Any]
    ) -> list[Outcome]: ...


def runs_on_loop(batch: Batch) -> TypeGuard[LoopBatch]:
    """isinstance(batch, LoopBatch), remembered per class: a runtime-checkable Protocol
    looks up each of its members every time (2 to 3% of a send's CPU on PostgreSQL)."""
    return _loop_kind(type(batch))


@cache
def _loop_kind(kind: type) -> bool:
    return issubclass(kind, LoopBatch)


@dataclass
class Pending:
    """A write waiting for its group: a unit, or a job of a batch."""

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


class RowHeld(ServiceError):
    """A write gave up waiting for a row another transaction holds (PostgreSQL's
    lock_timeout): the request's answer, not an outage of the database."""

    def __init__(self) -> None:
        super().__init__(
            "InternalServiceException",
            "The request waited too long for data another transaction is changing; retry "
            "the request.",
            status=500,
        )


# PostgreSQL's lock_not_available: a lock_timeout ran out (or NOWAIT found the lock taken).
LOCK_NOT_AVAILABLE = "55P03"


def waited_too_long(error: BaseException) -> bool:
    """Whether `error` (the driver's, or SQLAlchemy's wrapping of it) is a lock timeout."""
    driver_error = getattr(error, "orig", None) or error
    return getattr(driver_error, "sqlstate", None) == LOCK_NOT_AVAILABLE


def run_group(
    connection: Connection, group: list[Pending], outage: tuple[type[BaseException], ...]
) -> list[Outcome]:
    """Run every write of the group on `connection`, in its open transaction."""
    outcomes: dict[int, Outcome] = {}
    batches: dict[int, tuple[Batch, list[int]]] = {}
    for index, pending in enumerate(group):
        if pending.batch is not None:
            batches.setdefault(id(pending.batch), (pending.batch, []))[1].append(index)
            continue
        assert pending.unit is not None
        outcomes[index] = in_savepoint(connection, pending.unit, outage)
    for batch, indexes in batches.values():
        jobs = [group[i].job for i in indexes]
        outcomes.update(zip(indexes, _run_batch(connection, batch, jobs, outage), strict=True))
    return [outcomes[index] for index in range(len(group))]


def _run_batch(
    connection: Connection, batch: Batch, jobs: list[Any], outage: tuple[type[BaseException], ...]
) -> list[Outcome]:
    together = in_savepoint(connection, partial(_together, batch, jobs), outage)
    outcomes: list[Outcome] = together[1] if together[0] else [(False, RunAlone())] * len(jobs)
    for index, (ok, value) in enumerate(outcomes):
        if not ok and isinstance(value, RunAlone):  # alone, in its own savepoint
            outcomes[index] = in_savepoint(connection, partial(_alone, batch, jobs[index]), outage)
    return outcomes


def _together(batch: Batch, jobs: list[Any], connection: Connection) -> list[Outcome]:
    return batch.run(connection, jobs)


def _alone(batch: Batch, job: Any, connection: Connection) -> Any:
    return batch.run_alone(connection, job)


def in_savepoint(
    connection: Connection, unit: Unit, outage: tuple[type[BaseException], ...]
) -> Outcome:
    """Run `unit` in a savepoint: its writes stay if it returns, go if it raises.

    Plain SAVEPOINT statements on the driver: SQLAlchemy's nested transactions cost ~100 us
    each, its exec_driver_sql ~20. A database failure is not the unit's: it propagates and
    the whole group runs again. A lock timeout is the unit's: it answers RowHeld.
    """
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute("SAVEPOINT unit")
    try:
        result = unit(connection)
    except Exception as exc:
        held = waited_too_long(exc)
        if isinstance(exc, outage) and not held:
            raise
        driver.execute("ROLLBACK TO SAVEPOINT unit")
        driver.execute("RELEASE SAVEPOINT unit")
        return False, RowHeld() if held else exc
    driver.execute("RELEASE SAVEPOINT unit")
    return True, result


def settle(results: list[tuple[Pending, Outcome]]) -> None:
    """Hand each waiting request its outcome (on its event loop's thread)."""
    for pending, (ok, value) in results:
        if pending.future.cancelled():
            continue
        if ok:
            pending.future.set_result(value)
        else:
            pending.future.set_exception(value)


class WriteTurn:
    """Whose turn it is to write a SQLite database: one writer of this process, and one
    process among those sharing the file.

    SQLite's own lock is taken by polling (a process that finds it busy sleeps 1, 2, 5 ...
    ms and tries again), so a process that writes back to back keeps winning and the others
    starve. A blocking flock on a file beside the database wakes a waiter the moment the
    holder lets go. One process alone pays two system calls per group.
    """

    def __init__(self, url: str) -> None:
        database = make_url(url).database
        self._lock = threading.Lock()
        self._fd = -1
        if database and database != ":memory:":
            self._fd = os.open(f"{database}.write-lock", os.O_CREAT | os.O_RDWR, 0o600)

    def acquire(self) -> None:
        self._lock.acquire()
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def try_acquire(self) -> bool:
        """Take the turn if it is free now, without waiting."""
        if not self._lock.acquire(blocking=False):
            return False
        if self._fd >= 0:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._lock.release()
                return False
        return True

    def release(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._lock.release()

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class NoTurn:
    """PostgreSQL takes concurrent writers as they come."""

    def acquire(self) -> None:
        return None

    def try_acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None

    def close(self) -> None:
        return None
