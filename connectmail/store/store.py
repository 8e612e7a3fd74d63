"""The store: reads on a thread pool, writes group-committed; nothing is acknowledged before
its transaction has committed.

A write is a function of a SQLAlchemy connection. Concurrent writes are gathered into one
transaction, each in its own savepoint, so one commit (one fsync) makes a whole group durable
while a unit that fails rolls back alone. Two writers share the work:

- writer threads take the general units (each runs many statements, some large);
- the batches of the hot path (see `write_batched`) run on the event loop's own thread:
  their statements are few and short, and running them where the request already is avoids
  handing the interpreter lock back and forth between threads, which otherwise costs more
  than the statements. On SQLite only the commit's fsync goes to a thread; both writers take
  the write turn (see groups.WriteTurn), so they never write at the same time (each on a
  connection of its own: see database.batch_engine). On PostgreSQL a group waits for the
  database on a psycopg AsyncConnection (see `_run_on_loop`).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from connectmail.store.database import (
    batch_engine,
    create_engines,
    is_sqlite,
    migrate,
    normalize_url,
)
from connectmail.store.groups import (
    Batch,
    LoopBatch,
    NoTurn,
    Outcome,
    Pending,
    RunAlone,
    StoreUnavailable,
    WriteTurn,
    run_group,
    runs_on_loop,
    settle,
    waited_too_long,
)

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_GROUP = 256
# A unit that hits a unique-key race runs again, and then sees the row that won.
MAX_CONFLICT_RETRIES = 3


class Store:
    """The database, shared by the API, the delivery worker and the command line."""

    def __init__(
        self,
        url: str,
        *,
        readers: int = 4,
        writers: int | None = None,
        outage_deadline: float = 30.0,
        lock_wait: float = 5.0,
    ) -> None:
        """`lock_wait`: on PostgreSQL, how long a write waits for a row that another
        transaction holds before it gives up (0: for as long as it takes). A writer thread's
        write then answers RowHeld; a loop's group goes to the writer threads."""
        self.url = normalize_url(url)
        self.sqlite = is_sqlite(self.url)
        self.write_engine, self.read_engine = create_engines(self.url, readers=readers)
        # SQLite: the loop's groups write on a connection of their own (see batch_engine).
        self._batch_engine = batch_engine(self.url) if self.sqlite else self.write_engine
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
        self._turn: WriteTurn | NoTurn = WriteTurn(self.url) if self.sqlite else NoTurn()
        self._outage_deadline = outage_deadline
        # Set when the process stops: a database that is away is not waited for any more.
        self._stopping = threading.Event()
        # A transaction left open elsewhere (a psql session, a stuck client) must not keep a
        # writer, and every write queued behind it, waiting for as long as it lasts: a
        # writer thread's transaction and the loop's connections give up after `lock_wait`.
        self._lock_wait_ms = 0 if self.sqlite else max(0, round(lock_wait * 1000))
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="store-read")
        self._queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        count = writers or (1 if self.sqlite else 3)
        self._threads = [
            threading.Thread(target=self._write_loop, name=f"store-write-{n}", daemon=True)
            for n in range(count)
        ]
        for thread in self._threads:
            thread.start()
        # The event-loop batcher: jobs waiting, and the task running their groups.
        self._batched: list[Pending] = []
        self._batcher: asyncio.Task[None] | None = None
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="store-commit")
        # PostgreSQL: the loop the batcher runs on, and the psycopg AsyncConnections (of that
        # loop) not in use.
        self._batcher_loop: asyncio.AbstractEventLoop | None = None
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._conninfo = (
            ""
            if self.sqlite
            else make_url(self.url)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )

    @property
    def conninfo(self) -> str:
        """PostgreSQL: the database for a psycopg connection of one's own (see
        delivery.bell); empty on SQLite."""
        return self._conninfo

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    def migrate(self) -> None:
        migrate(self.write_engine)

    def stop_waiting(self) -> None:
        """Give up on a database that is away, now and from now on, instead of retrying until
        the outage deadline: the process is stopping. (A stop during an outage took that
        deadline, 30 s, while the delivery worker's and maintenance's reads retried.)"""
        self._stopping.set()

    def _gave_up(self, deadline: float) -> bool:
        return self._stopping.is_set() or time.monotonic() > deadline

    def close(self) -> None:
        self._stopping.set()
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)
        self._readers.shutdown(wait=True)
        self._committer.shutdown(wait=True)
        self._close_idle()
        self._turn.close()
        self.write_engine.dispose()
        if self._batch_engine is not self.write_engine:
            self._batch_engine.dispose()
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
                if self._gave_up(deadline):
                    raise StoreUnavailable() from exc
                log.warning("database read failed, retrying: %s", exc)
                self._stopping.wait(0.2)

    # -- writes ------------------------------------------------------------------------------

    async def write(self, fn: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(Pending(fn, future, loop))
        return await future

    async def write_batched(self, batch: Batch, job: Any) -> Any:
        """Run `job` with the other jobs of `batch` in the next group; its outcome."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        pending = Pending(None, future, loop, batch=batch, job=job)
        if self.sqlite or (runs_on_loop(batch) and batch.takes(job) and self._batcher_on(loop)):
            self._batched.append(pending)
            if self._batcher is None or self._batcher.done():
                run = self._run_batched() if self.sqlite else self._run_on_loop()
                self._batcher = loop.create_task(run, name="store-batcher")
        else:
            self._queue.put(pending)
        return await future

    def write_now(self, fn: Callable[[Connection], T]) -> T:
        """Run a write in its own transaction in this thread (command line, start-up)."""
        with self._turn, self.write_engine.connect() as connection, connection.begin():
            return fn(connection)

    # -- the writer threads ------------------------------------------------------------------

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
            outcomes = self._commit_group(group)
            retry = self._finish(group, outcomes)
            for pending in retry:
                self._queue.put(pending)

    def _commit_group(self, group: list[Pending]) -> list[Outcome]:
        deadline = time.monotonic() + self._outage_deadline
        while True:
            try:
                with self._turn, self.write_engine.connect() as connection, connection.begin():
                    if self._lock_wait_ms:
                        connection.exec_driver_sql(f"SET LOCAL lock_timeout = {self._lock_wait_ms}")
                    return run_group(connection, group, self._outage)
            except self._outage as exc:
                if self._gave_up(deadline):
                    log.error("database unavailable: %s", exc)
                    return [(False, StoreUnavailable()) for _ in group]
                log.warning("database write failed, retrying the group: %s", exc)
                self._stopping.wait(0.2)

    def _finish(self, group: list[Pending], outcomes: list[Outcome]) -> list[Pending]:
        """Settle every write that has its outcome; return those to run again (conflicts)."""
        retry: list[Pending] = []
        settled: dict[asyncio.AbstractEventLoop, list[tuple[Pending, Outcome]]] = {}
        for pending, outcome in zip(group, outcomes, strict=True):
            if (
                not outcome[0]
                and isinstance(outcome[1], self._conflict)
                and pending.conflicts < MAX_CONFLICT_RETRIES
            ):
                pending.conflicts += 1
                retry.append(pending)
                continue
            settled.setdefault(pending.loop, []).append((pending, outcome))
        # One wake-up per event loop for the whole group, not one per write.
        for loop, results in settled.items():
            loop.call_soon_threadsafe(settle, results)
        return retry

    # -- the event-loop batcher (SQLite) -----------------------------------------------------

    async def _run_batched(self) -> None:
        """Run the waiting batched jobs, a group at a time, until none are left.

        A group's statements run here; taking the turn (which may wait for another process)
        and committing (the fsync) run in a thread, so the loop keeps serving meanwhile and
        the jobs that arrive then make the next group.
        """
        loop = asyncio.get_running_loop()
        while self._batched:
            # The group is what has arrived once the turn is ours: while another process
            # writes, the jobs that come in join this group instead of waiting for the next.
            await self._take_turn(loop)
            group, self._batched = self._batched[:MAX_GROUP], self._batched[MAX_GROUP:]
            outcomes = await self._commit_batched(loop, group, turn_held=True)
            self._batched.extend(self._finish(group, outcomes))

    async def _take_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._turn.try_acquire():  # free most of the time: no thread hop then
            await loop.run_in_executor(self._committer, self._turn.acquire)

    async def _commit_batched(
        self, loop: asyncio.AbstractEventLoop, group: list[Pending], *, turn_held: bool
    ) -> list[Outcome]:
        deadline = time.monotonic() + self._outage_deadline
        while True:
            if not turn_held:
                await self._take_turn(loop)
            turn_held = False  # a retry takes it again
            held = True
            try:
                with self._batch_engine.connect() as connection:
                    transaction = connection.begin()
                    outcomes = run_group(connection, group, self._outage)
                    # The turn goes the moment the commit is done, not when this loop next
                    # gets round to it: another writer may be waiting.
                    held = False
                    await loop.run_in_executor(
                        self._committer, self._commit_and_release, transaction
                    )
                    return outcomes
            except self._outage as exc:
                if self._gave_up(deadline):
                    log.error("database unavailable: %s", exc)
                    return [(False, StoreUnavailable()) for _ in group]
                log.warning("database write failed, retrying the group: %s", exc)
            finally:
                if held:
                    self._turn.release()
            await asyncio.sleep(0.2)

    def _commit_and_release(self, transaction: Any) -> None:
        try:
            transaction.commit()
        finally:
            self._turn.release()

    # -- the event-loop batcher on PostgreSQL ------------------------------------------------

    def _batcher_on(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether the batcher runs on `loop` (it moves to it when it is not running)."""
        if self._batcher_loop is not loop:
            if self._batcher is not None and not self._batcher.done():
                return False  # another loop's: this job goes to a writer thread
            self._close_idle()
            self._batcher_loop = loop
        return True

    async def _run_on_loop(self) -> None:
        """Run the waiting jobs, a group at a time, until none are left. The jobs the batch
        leaves, and every job of a group that failed, go to the writer threads.

        One group at a time: what arrives while a group is in flight makes the next, larger
        group, and each group costs the loop the same few commands whatever its size (a send
        group: BEGIN and three reads, then one statement of writes and COMMIT: two round
        trips). At 500 sends a second with delivery on, three groups in flight at once made
        groups of one or two and took the process to saturation (accept-to-arrival p50 from
        50 ms to 2 s, run to run); under wrk, a second group started once 16 jobs waited
        gained nothing (README).
        """
        while self._batched:
            batch = self._batched[0].batch
            assert batch is not None and runs_on_loop(batch)
            group: list[Pending] = []
            rest: list[Pending] = []
            for pending in self._batched:
                fits = pending.batch is batch and len(group) < MAX_GROUP
                (group if fits else rest).append(pending)
            self._batched = rest
            try:
                outcomes = await self._commit_on_loop(batch, group)
            except Exception:
                log.exception("a group failed on the event loop; writer threads run it")
                outcomes = [(False, RunAlone())] * len(group)
            settled = []
            for pending, outcome in zip(group, outcomes, strict=True):
                if not outcome[0] and isinstance(outcome[1], RunAlone):
                    self._queue.put(pending)
                else:
                    settled.append((pending, outcome))
            settle(settled)

    async def _commit_on_loop(self, batch: LoopBatch, group: list[Pending]) -> list[Outcome]:
        deadline = time.monotonic() + self._outage_deadline
        jobs = [pending.job for pending in group]
        while True:
            connection = None
            reused = bool(self._idle)
            try:
                if reused:
                    connection = self._idle.pop()
                else:
                    import psycopg  # PostgreSQL's only: SQLite's processes do without it

                    # Autocommit: the batch opens its transaction (see groups.LoopBatch).
                    connection = await psycopg.AsyncConnection.connect(
                        self._conninfo, autocommit=True
                    )
                    if self._lock_wait_ms:  # for the connection's life
                        await connection.execute(f"SET lock_timeout = {self._lock_wait_ms}")
                try:
                    outcomes = await batch.run_async(connection, self.write_engine.dialect, jobs)
                    await connection.commit()  # if the batch left its transaction open
                except Exception as exc:  # undone; the writer threads run the jobs
                    if isinstance(exc, self._outage) and not waited_too_long(exc):
                        raise
                    log.debug("batch gave up on its group: %r", exc)
                    await connection.rollback()
                    outcomes = [(False, RunAlone())] * len(jobs)
                self._idle.append(connection)
                return outcomes
            except self._outage as exc:
                if connection is not None:
                    connection.pgconn.finish()
                if self._gave_up(deadline):
                    log.error("database unavailable: %s", exc)
                    return [(False, StoreUnavailable()) for _ in group]
                log.warning("database write failed, retrying the group: %s", exc)
                if reused:
                    continue  # a connection the server dropped while idle: a new one at once
            await asyncio.sleep(0.2)

    def _close_idle(self) -> None:
        for connection in self._idle:
            connection.pgconn.finish()
        self._idle.clear()
