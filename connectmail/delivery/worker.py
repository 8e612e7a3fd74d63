"""The delivery worker: claims due outbox rows under a lease, sends them, records the outcome.

A lease lets a dead worker's rows come back to any worker once it runs out. A live worker
claims only the rows it can start sending at once and renews the leases of those it is
sending (an SMTP transaction may outlast a lease); it records an attempt only while the row
is still under the lease the attempt was claimed with, so an attempt whose lease another
claim took changes nothing. A slow relay thus gets each message once. Delivery is at least
once per recipient: a message is sent again only to recipients with no final answer, always
with the same Message-ID. A message that cannot be delivered within the give-up age is marked
failed on its contact.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Delete,
    Dialect,
    Select,
    Update,
    bindparam,
    delete,
    exists,
    literal_column,
    select,
    update,
)

from connectmail.delivery.transports import ComposeFailed, Envelope, Outcome, Transport
from connectmail.domain import sent_files
from connectmail.jsontext import dumps, loads
from connectmail.mail.compose import Attachment, compose
from connectmail.store.groups import Outcome as StoreOutcome
from connectmail.store.groups import RunAlone
from connectmail.store.prepared import (
    Fetched,
    Prepared,
    PreparedIn,
    fetched,
    for_rows,
    rows,
)
from connectmail.store.store import Store
from connectmail.store.tables import messages, outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryPolicy:
    lease_seconds: float = 60.0
    batch_size: int = 64
    concurrency: int = 64
    poll_seconds: float = 1.0
    gather_seconds: float = 0.01
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 600.0
    give_up_after_seconds: float = 24 * 3600.0

    @property
    def renew_seconds(self) -> float:
        """How often the leases of the rows being sent are renewed: three times within a
        lease, so one renewal held up (a busy database) does not lose them."""
        return self.lease_seconds / 3

    def gives_up(self, job: Job, now: float) -> bool:
        return now - job.accepted_at >= self.give_up_after_seconds

    def backoff(self, attempts: int) -> float:
        delay = min(self.retry_max_seconds, self.retry_base_seconds * 2.0 ** max(0, attempts - 1))
        return delay * random.uniform(0.8, 1.2)


@dataclass(frozen=True)
class Job:
    message_id: str
    account_id: str
    contact_id: str
    rfc_message_id: str
    spec: dict[str, Any]
    recipients: list[str]
    attempts: int
    accepted_at: float


def _is_due() -> ColumnElement[bool]:
    return (outbox.c.due_at <= bindparam("now")) & (
        outbox.c.lease_until.is_(None) | (outbox.c.lease_until < bindparam("now"))
    )


def _first_due(batch_size: int) -> Select[tuple[str]]:
    """The due rows' ids, oldest first. The limit is written in: with it a parameter,
    PostgreSQL's generic plan could sort the whole outbox."""
    return (
        select(outbox.c.message_id)
        .where(_is_due())
        .order_by(outbox.c.due_at)
        .limit(literal_column(str(int(batch_size))))
    )


_LEASED = {
    "lease_owner": bindparam("owner"),
    "lease_until": bindparam("lease_until"),
    "attempts": outbox.c.attempts + 1,
}
_JOB_COLUMNS = (
    messages.c.account_id,
    messages.c.contact_id,
    messages.c.rfc_message_id,
    messages.c.spec,
    messages.c.accepted_at,
)


@functools.cache
def _due(batch_size: int) -> Prepared:
    return Prepared(_first_due(batch_size))


_LEASE = PreparedIn(lambda ids: update(outbox).where(outbox.c.message_id.in_(ids)).values(_LEASED))
_CLAIMED = PreparedIn(
    lambda ids: (
        select(outbox.c.message_id, outbox.c.recipients, outbox.c.attempts, *_JOB_COLUMNS)
        .join(messages, messages.c.id == outbox.c.message_id)
        .where(outbox.c.message_id.in_(ids))
    )
)


@functools.cache
def _claim_at_once(batch_size: int) -> Prepared:
    """PostgreSQL: the due rows locked (skipping those another worker holds), leased, and
    read with their messages, in one statement: atomic alone, so one round trip on the event
    loop's connection (autocommit), where the three statements in a writer thread's
    transaction took eight."""
    due = _first_due(batch_size).with_for_update(skip_locked=True).cte("due")
    leased = (
        update(outbox)
        .where(outbox.c.message_id == due.c.message_id)
        .values(_LEASED)
        .returning(outbox.c.message_id, outbox.c.recipients, outbox.c.attempts)
        .cte("leased")
    )
    return Prepared(
        select(leased.c.message_id, leased.c.recipients, leased.c.attempts, *_JOB_COLUMNS).join(
            messages, messages.c.id == leased.c.message_id
        )
    )


@dataclass(frozen=True)
class Claim:
    """A worker's claim: lease up to `limit` due rows (by default a batch) to `owner` until
    `now` plus the lease."""

    owner: str
    now: float
    policy: DeliveryPolicy
    limit: int | None = None

    @property
    def size(self) -> int:
        return self.policy.batch_size if self.limit is None else self.limit

    def params(self) -> dict[str, Any]:
        return {
            "now": self.now,
            "owner": self.owner,
            "lease_until": self.now + self.policy.lease_seconds,
        }


def claim(connection: Connection, request: Claim) -> list[Job]:
    """Lease up to a batch of due rows to the claim's owner."""
    params, batch_size = request.params(), request.size
    if connection.dialect.name == "postgresql":
        return _jobs(rows(_claim_at_once(batch_size).run(connection, params)))
    # SQLite: no row locks to skip (the write turn is the writer's alone), and no UPDATE
    # inside a WITH.
    ids = [row.message_id for row in rows(_due(batch_size).run(connection, params))]
    if not ids:
        return []
    _LEASE.run(connection, ids, params).close()
    return _jobs(rows(_CLAIMED.run(connection, ids)))


async def claim_async(connection: Any, dialect: Dialect, request: Claim) -> list[Job]:
    """`claim` on PostgreSQL, on a psycopg AsyncConnection in autocommit mode."""
    prepared = _claim_at_once(request.size)
    cursor = await prepared.run_async(connection, dialect, request.params())
    return _jobs(fetched(cursor.description, await cursor.fetchall()))


def _jobs(found: list[Fetched]) -> list[Job]:
    return [
        Job(
            row.message_id,
            row.account_id,
            row.contact_id,
            row.rfc_message_id,
            loads(row.spec),
            loads(row.recipients),
            row.attempts,
            row.accepted_at,
        )
        for row in found
    ]


class ClaimBatch:
    """Claims as a batch of the store (`Store.write_batched`): on PostgreSQL one statement
    from the event loop, with no writer thread in between; on SQLite with the loop's group.
    A worker claims one batch of rows at a time, so a group holds one claim."""

    def run(self, connection: Connection, claims: list[Claim]) -> list[StoreOutcome]:
        return [(True, self.run_alone(connection, request)) for request in claims]

    def run_alone(self, connection: Connection, request: Claim) -> list[Job]:
        return claim(connection, request)

    def takes(self, request: Claim) -> bool:
        return True

    async def run_async(
        self, connection: Any, dialect: Dialect, claims: list[Claim]
    ) -> list[StoreOutcome]:
        return [(True, await claim_async(connection, dialect, request)) for request in claims]


CLAIM_BATCH = ClaimBatch()


def _held(job: Job, owner: str) -> ColumnElement[bool]:
    """The job's outbox row, while it is under the lease the job was claimed with: the same
    owner, and no claim since (each claim counts an attempt)."""
    return (
        (outbox.c.message_id == job.message_id)
        & (outbox.c.lease_owner == owner)
        & (outbox.c.attempts == job.attempts)
    )


def record(
    connection: Connection,
    job: Job,
    outcome: Outcome,
    owner: str,
    now: float,
    policy: DeliveryPolicy,
) -> bool:
    """Write what happened: done, retry later (only the open recipients), or failed.
    Nothing, and False, when the row is no longer under the job's lease: another claim
    took it, and what it sends and records is the message's state now."""
    retry = outcome.retry
    if retry and not policy.gives_up(job, now):
        requeued = connection.execute(
            update(outbox)
            .where(_held(job, owner))
            .values(
                recipients=dumps(sorted(retry)),
                lease_owner=None,
                lease_until=None,
                due_at=now + policy.backoff(job.attempts),
            )
        )
        if not requeued.rowcount:
            return False
        connection.execute(
            update(messages)
            .where(messages.c.id == job.message_id)
            .values(
                attempts=job.attempts,
                recipient_status=dumps(_final(connection, job, outcome)),
                last_error=_errors({r: f"will retry: {why}" for r, why in retry.items()}),
            )
        )
        return True
    if not connection.execute(delete(outbox).where(_held(job, owner))).rowcount:
        return False
    final = _final(connection, job, outcome)
    final.update(
        {
            rcpt: f"FAILED: gave up after {policy.give_up_after_seconds:.0f}s: {why}"
            for rcpt, why in retry.items()
        }
    )
    failed = {
        rcpt: state[len("FAILED: ") :] for rcpt, state in final.items() if state != "DELIVERED"
    }
    if not failed:
        status = "DELIVERED"
    elif len(failed) < len(final):
        status = "PARTIALLY_DELIVERED"
    else:
        status = "FAILED"
    connection.execute(
        update(messages)
        .where(messages.c.id == job.message_id)
        .values(
            status=status,
            attempts=job.attempts,
            finished_at=now,
            recipient_status=dumps(final),
            last_error=_errors(failed) or None,
        )
    )
    return True


def _final(connection: Connection, job: Job, outcome: Outcome) -> dict[str, str]:
    """The recipients' final answers so far, with this attempt's."""
    row = connection.execute(
        select(messages.c.recipient_status).where(messages.c.id == job.message_id)
    ).one()
    final: dict[str, str] = loads(row.recipient_status)
    final.update(dict.fromkeys(outcome.delivered, "DELIVERED"))
    final.update({rcpt: f"FAILED: {reason}" for rcpt, reason in outcome.failed.items()})
    return final


@dataclass(frozen=True)
class Delivered:
    """A delivery attempt to record: the job, what the transport said, when, by whom."""

    job: Job
    outcome: Outcome
    owner: str
    now: float
    policy: DeliveryPolicy


_HELD_BY_BIND = (
    (outbox.c.message_id == bindparam("message_id"))
    & (outbox.c.lease_owner == bindparam("owner"))
    & (outbox.c.attempts == bindparam("attempts"))
)  # `_held`, for many rows
_DONE_OUTBOX = for_rows(delete(outbox).where(_HELD_BY_BIND), key=outbox.c.message_id)
_DONE_VALUES: dict[str, Any] = {
    "status": "DELIVERED",
    "attempts": bindparam("attempts"),
    "finished_at": bindparam("now"),
    "recipient_status": bindparam("recipient_status"),
    "last_error": None,
}
_DONE_MESSAGE = for_rows(
    update(messages).where(messages.c.id == bindparam("message_id")).values(_DONE_VALUES),
    key=messages.c.id,
)
# SQLite: the message first, while its outbox row still says whose lease it is (the write
# turn is the writer's alone, so nothing claims the row in between).
_DONE_MESSAGE_HELD = Prepared(
    update(messages)
    .where(
        (messages.c.id == bindparam("message_id")) & exists().where(_HELD_BY_BIND).correlate(None)
    )
    .values(_DONE_VALUES)
)


@functools.cache
def _done_together() -> Prepared:
    """PostgreSQL: the outbox rows still under their leases deleted, and the messages of
    those (only) marked delivered, in one statement. (`write_all` runs its parts on one
    snapshot, where a lease taken meanwhile would not show.)"""
    assert _DONE_OUTBOX.together is not None and _DONE_MESSAGE.together is not None
    deleted = cast(Delete, _DONE_OUTBOX.together.named("rows_0"))
    done = deleted.returning(outbox.c.message_id).cte("done")
    marked = cast(Update, _DONE_MESSAGE.together.named("rows_1"))
    return Prepared(marked.where(messages.c.id.in_(select(done.c.message_id))).add_cte(done))


class RecordBatch:
    """Records a group of delivery attempts: those delivered to every recipient at the first
    attempt (nearly all) with one statement per table (one in all on PostgreSQL); any other
    alone, by `record`. On PostgreSQL the simple ones are recorded from the event loop (see
    `Store.write_batched`). An attempt whose row another claim took records nothing, as in
    `record`."""

    def run(self, connection: Connection, attempts: list[Delivered]) -> list[StoreOutcome]:
        simple = [a for a in attempts if self.takes(a)]
        if simple:
            if connection.dialect.name == "postgresql":
                cursor = _done_together().run(connection, _done_rows(simple))
            else:
                _DONE_MESSAGE_HELD.run_many(connection, _message_rows(simple))
                cursor = _DONE_OUTBOX.queue_many(connection, _outbox_rows(simple))
            _lost(len(simple) - cursor.rowcount)
            cursor.close()
        done = {id(a) for a in simple}
        return [(True, None) if id(a) in done else (False, RunAlone()) for a in attempts]

    def takes(self, attempt: Delivered) -> bool:
        return (
            attempt.job.attempts == 1 and not attempt.outcome.retry and not attempt.outcome.failed
        )

    async def run_async(
        self, connection: Any, dialect: Dialect, attempts: list[Delivered]
    ) -> list[StoreOutcome]:
        # One statement, atomic on its own: the connection is in autocommit mode (see
        # `groups.LoopBatch`), so no BEGIN and COMMIT, one round trip.
        cursor = await _done_together().run_async(connection, dialect, _done_rows(attempts))
        _lost(len(attempts) - cursor.rowcount)
        return [(True, None)] * len(attempts)

    def run_alone(self, connection: Connection, attempt: Delivered) -> None:
        job = attempt.job
        if not record(connection, job, attempt.outcome, attempt.owner, attempt.now, attempt.policy):
            _lost(1)


RECORD_BATCH = RecordBatch()


def _lost(count: int) -> None:
    if count > 0:
        log.warning(
            "%d delivery attempt(s) not recorded: another worker claimed the message after "
            "the lease ran out, and sends it again",
            count,
        )


def _done_rows(attempts: list[Delivered]) -> dict[str, Any]:
    return {"rows_0": dumps(_outbox_rows(attempts)), "rows_1": dumps(_message_rows(attempts))}


def _outbox_rows(attempts: list[Delivered]) -> list[dict[str, Any]]:
    return [
        {"message_id": a.job.message_id, "owner": a.owner, "attempts": a.job.attempts}
        for a in attempts
    ]


def _message_rows(attempts: list[Delivered]) -> list[dict[str, Any]]:
    return [
        {
            "message_id": a.job.message_id,
            "owner": a.owner,
            "attempts": a.job.attempts,
            "now": a.now,
            "recipient_status": dumps(dict.fromkeys(a.outcome.delivered, "DELIVERED")),
        }
        for a in attempts
    ]


def _errors(reasons: dict[str, str]) -> str:
    return "; ".join(f"{rcpt}: {why}" for rcpt, why in reasons.items())[:4000]


_RENEW = PreparedIn(
    lambda ids: (
        update(outbox)
        .where(outbox.c.message_id.in_(ids) & (outbox.c.lease_owner == bindparam("owner")))
        .values(lease_until=bindparam("lease_until"))
    )
)


def renew(connection: Connection, message_ids: list[str], owner: str, until: float) -> int:
    """Extend `owner`'s leases of these rows to `until`; how many it still held."""
    cursor = _RENEW.run(connection, message_ids, {"owner": owner, "lease_until": until})
    count = int(cursor.rowcount)
    cursor.close()
    return count


def _claim_size(free: int, batch_size: int) -> int:
    """How many rows to claim with `free` sending slots: all of them up to a batch, rounded
    down to a power of two, so that a few statements (each with its limit written in, see
    `_first_due`) serve every size."""
    size = min(free, batch_size)
    return size if size == batch_size else 1 << (size.bit_length() - 1)


class DeliveryWorker:
    """Runs in the server process (or `connectmail worker`) until stopped."""

    def __init__(self, store: Store, transport: Transport, policy: DeliveryPolicy) -> None:
        self._store = store
        self._transport = transport
        self._policy = policy
        self._owner = f"worker-{uuid.uuid4()}"
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._free = policy.concurrency  # sending slots
        self._freed = asyncio.Event()
        # With fewer slots free than this, a moment for more to free up before claiming: a
        # busy worker then claims several rows a statement instead of one.
        self._claim_floor = max(1, min(policy.batch_size, policy.concurrency) // 4)
        self._sending: dict[str, int] = {}  # message id: its deliveries in flight
        self._record_gate: asyncio.Future[None] | None = None

    def notify(self) -> None:
        """New mail was accepted: look now instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="delivery-worker")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._freed.set()
        if self._task is not None:
            await self._task
        await self._transport.close()

    async def run(self) -> None:
        in_flight: set[asyncio.Task[None]] = set()
        leases = asyncio.create_task(self._keep_leases(), name="delivery-leases")
        try:
            while not self._stopping:
                self._wake.clear()
                free = await self._room()
                if self._stopping:
                    break
                size = _claim_size(free, self._policy.batch_size)
                try:
                    jobs = await self._store.write_batched(
                        CLAIM_BATCH, Claim(self._owner, time.time(), self._policy, size)
                    )
                except Exception:
                    log.exception("claiming outbox rows failed")
                    jobs = []
                for job in jobs:
                    self._free -= 1
                    self._sending[job.message_id] = self._sending.get(job.message_id, 0) + 1
                    task = asyncio.create_task(self._deliver(job))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                if len(jobs) < size:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._policy.poll_seconds)
                        # Woken by new mail: let a little more arrive, so that one claim
                        # takes many rows instead of one transaction per message.
                        await asyncio.sleep(self._policy.gather_seconds)
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)
        finally:
            leases.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await leases

    async def _room(self) -> int:
        """The free sending slots, once there is one. Only rows that can start at once are
        claimed: a claimed row waiting for a slot would wait out its lease with nobody
        renewing it, and be claimed and sent again."""
        while self._free <= 0 and not self._stopping:
            self._freed.clear()
            await self._freed.wait()
        if self._free < self._claim_floor:
            await asyncio.sleep(self._policy.gather_seconds)
        return self._free

    async def _keep_leases(self) -> None:
        """Renew the leases of the rows being sent, every `renew_seconds`: an SMTP
        transaction to a slow relay, or a wait for one of its connections, may outlast a
        lease. One statement for all of them."""
        while True:
            await asyncio.sleep(self._policy.renew_seconds)
            sending = list(self._sending)
            if not sending:
                continue
            until = time.time() + self._policy.lease_seconds
            try:
                await self._store.write(functools.partial(renew, **self._lease(sending, until)))
            except Exception as exc:
                log.warning("renewing the leases of %d messages failed: %s", len(sending), exc)

    def _lease(self, message_ids: list[str], until: float) -> dict[str, Any]:
        return {"message_ids": message_ids, "owner": self._owner, "until": until}

    async def _record(self, delivered: Delivered) -> None:
        """Record an attempt together with those that finish within `gather_seconds` of it:
        they wait for the same gate, then join the store's group at once. Recorded as they
        came, they made groups of one to three, each a transaction and some hundreds of
        microseconds of the event loop. The email is out already: only its status waits."""
        gate = self._record_gate
        if gate is None or gate.done():
            gate = asyncio.ensure_future(asyncio.sleep(self._policy.gather_seconds))
            self._record_gate = gate
        await asyncio.shield(gate)
        await self._store.write_batched(RECORD_BATCH, delivered)

    async def _deliver(self, job: Job) -> None:
        try:
            try:
                outcome = await self._send(await self._envelope(job))
            except ComposeFailed as exc:
                log.error("message %s cannot be composed, so it failed: %s", job.message_id, exc)
                outcome = Outcome.all_failed(job.recipients, f"cannot be composed: {exc}")
            now = time.time()
            await self._record(Delivered(job, outcome, self._owner, now, self._policy))
            _log_trouble(job, outcome, self._policy.gives_up(job, now))
        except Exception:
            log.exception("delivering message %s failed; its lease will expire", job.message_id)
        finally:
            left = self._sending.pop(job.message_id, 1) - 1
            if left:
                self._sending[job.message_id] = left
            self._free += 1
            self._freed.set()

    async def _envelope(self, job: Job) -> Envelope:
        """The job's envelope, its attachments read; ComposeFailed if it can never be made (a
        store that cannot be read raises its own error: the lease runs out, and it is tried
        again)."""
        spec = job.spec
        attachments: list[Attachment] = []
        if spec.get("attachments"):
            try:
                attachments = await self._store.read(lambda c: sent_files.attachments_of(c, spec))
            except LookupError as exc:  # the bytes of a file it names are gone
                raise ComposeFailed(str(exc)) from exc
        try:
            subject, mail_from = spec["subject"], spec["from"]["address"]
        except (KeyError, TypeError) as exc:
            raise ComposeFailed(f"the stored message lacks {exc}") from exc
        return Envelope(
            message_id=job.message_id,
            account_id=job.account_id,
            contact_id=job.contact_id,
            rfc_message_id=job.rfc_message_id,
            subject=subject,
            mail_from=mail_from,
            recipients=job.recipients,
            composer=functools.partial(compose, spec, attachments),
        )

    async def _send(self, envelope: Envelope) -> Outcome:
        try:
            return await self._transport.send(envelope)
        except ComposeFailed:
            raise
        except Exception as exc:  # a transport bug must not lose the message
            log.exception("transport failed for message %s", envelope.message_id)
            return Outcome.all_retry(envelope.recipients, f"transport error: {exc}")


def _log_trouble(job: Job, outcome: Outcome, gave_up: bool) -> None:
    """A warning for recipients that failed or wait for a retry: the contact, the message,
    the attempt and the relay's answers (never the message's content)."""
    if outcome.failed:
        log.warning(
            "contact %s message %s attempt %d: %d recipient(s) failed: %s",
            job.contact_id,
            job.message_id,
            job.attempts,
            len(outcome.failed),
            _reasons(outcome.failed),
        )
    if outcome.retry:
        log.warning(
            "contact %s message %s attempt %d: %d recipient(s) %s: %s",
            job.contact_id,
            job.message_id,
            job.attempts,
            len(outcome.retry),
            "failed, giving up" if gave_up else "will be retried",
            _reasons(outcome.retry),
        )


def _reasons(reasons: dict[str, str]) -> str:
    """The distinct answers, each once, at most 300 characters in all."""
    return "; ".join(dict.fromkeys(reasons.values()))[:300]
