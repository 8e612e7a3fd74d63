"""Leases: a slow relay gets each message once. A worker claims only the rows it can start
sending, keeps the leases of what it is sending while it sends, and records an attempt only
under the lease it was made under."""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

from sqlalchemy import Connection, select

from connectmail.delivery.transports import Outcome
from connectmail.delivery.worker import (
    CLAIM_BATCH,
    RECORD_BATCH,
    Claim,
    Delivered,
    DeliveryPolicy,
    Job,
    record,
)
from connectmail.jsontext import loads
from connectmail.store.store import Store
from connectmail.store.tables import messages, outbox
from tests.delivery.relays import Relay, SlowHandler
from tests.delivery.test_claims import _queue
from tests.delivery.test_durability import FAST_RETRIES, wait_for_status
from tests.support.connect import make_outpost

SHORT_LEASE = {**FAST_RETRIES, "CONNECTMAIL_DELIVERY_LEASE_SECONDS": "1"}


def test_a_transaction_longer_than_the_lease_delivers_once(
    start_server: Any, database_url: str
) -> None:
    """Ten recipients at 0.3 s a RCPT: a transaction of 3 s, three times the lease. The
    lease is kept while it runs, so no worker starts the message again."""
    relay = Relay(SlowHandler(rcpt_delay=0.3)).start()
    try:
        server = start_server("--relay", relay.url, "--database-url", database_url, env=SHORT_LEASE)
        outpost = make_outpost(server.client())
        contact_id = outpost.contact()
        cc = [{"EmailAddress": f"cc{n}@example.org"} for n in range(9)]
        outpost.send(contact_id, to="to@example.org", AdditionalRecipients={"CcEmailAddresses": cc})
        wait_for_status(outpost, contact_id, "DELIVERED", timeout=20)
        time.sleep(1.5)  # a second copy, if one had started, would arrive now
        (received,) = relay.received
        assert len(received.recipients) == 10
    finally:
        relay.stop()


def test_a_worker_claims_only_what_it_can_start(start_server: Any, database_url: str) -> None:
    """One sending slot: while the first message is at the slow relay the two sent after it
    stay unleased, free for any worker, instead of waiting in this one past their lease."""
    relay = Relay(SlowHandler(data_delay=1.5)).start()
    store = Store(database_url)
    try:
        env = {**SHORT_LEASE, "CONNECTMAIL_DELIVERY_CONCURRENCY": "1"}
        server = start_server("--relay", relay.url, "--database-url", database_url, env=env)
        outpost = make_outpost(server.client())
        contact_ids = [outpost.contact() for _ in range(3)]
        for n, contact_id in enumerate(contact_ids):
            outpost.send(contact_id, to=f"customer{n}@example.org")
        time.sleep(0.3)  # a claim of the other two would be done by now
        leased = sorted(
            (owner is not None, attempts) for owner, attempts in store.read_now(_leases)
        )
        assert relay.received == []  # the first is still at the relay
        assert leased == [(False, 0), (False, 0), (True, 1)]
        relay.wait_for(3)
        for contact_id in contact_ids:
            wait_for_status(outpost, contact_id, "DELIVERED")
        time.sleep(1.0)
        assert len(relay.received) == 3
    finally:
        store.close()
        relay.stop()


def _leases(connection: Connection) -> list[Any]:
    return list(connection.execute(select(outbox.c.lease_owner, outbox.c.attempts)).all())


def _state(store: Store) -> tuple[list[Any], list[Any]]:
    def read(connection: Any) -> tuple[list[Any], list[Any]]:
        queued = connection.execute(
            select(outbox.c.message_id, outbox.c.lease_owner, outbox.c.attempts)
        ).all()
        found = connection.execute(
            select(messages.c.id, messages.c.status, messages.c.recipient_status)
        ).all()
        return sorted(queued), sorted(found)

    return store.read_now(read)


def test_an_attempt_whose_lease_was_taken_records_nothing(database_url: str) -> None:
    """Worker a's lease ran out and b claimed the row: what a then records (delivered,
    retry or failed; batched or alone) changes neither the row b holds nor the message's
    state. b's own record is kept. The same worker claiming the row again counts as another
    lease."""
    store = Store(database_url)
    store.migrate()
    try:
        now = 1_000_000.0
        (message_id,) = _queue(store, [now - 5])
        policy = DeliveryPolicy(lease_seconds=60.0)
        recipient = f"{message_id}@example.org"

        async def run() -> None:
            (by_a,) = await store.write_batched(CLAIM_BATCH, Claim("a", now, policy))
            (by_b,) = await store.write_batched(CLAIM_BATCH, Claim("b", now + 61, policy))
            before = _state(store)
            assert before[0] == [(message_id, "b", 2)]
            late: list[Outcome] = [
                Outcome(delivered=[recipient]),
                Outcome(retry={recipient: "451 later"}),
                Outcome(failed={recipient: "550 no"}),
            ]
            for outcome in late:
                attempt = Delivered(by_a, outcome, "a", now + 62, policy)
                await store.write_batched(RECORD_BATCH, attempt)  # batched when it can be
                alone = functools.partial(record, job=by_a, outcome=outcome, owner="a")
                await store.write(functools.partial(alone, now=now + 62, policy=policy))
                assert _state(store) == before
            # b claimed again once its own lease ran out: b's first attempt is not its lease.
            (again,) = await store.write_batched(CLAIM_BATCH, Claim("b", now + 200, policy))
            stale = Delivered(by_b, Outcome(delivered=[recipient]), "b", now + 201, policy)
            await store.write_batched(RECORD_BATCH, stale)
            assert _state(store)[0] == [(message_id, "b", 3)]
            current = Delivered(again, Outcome(delivered=[recipient]), "b", now + 201, policy)
            await store.write_batched(RECORD_BATCH, current)

        asyncio.run(run())
        queued, found = _state(store)
        assert queued == []
        ((_, status, recipient_status),) = found
        assert (status, loads(recipient_status)) == ("DELIVERED", {recipient: "DELIVERED"})
    finally:
        store.close()


def test_a_first_attempt_recorded_after_its_lease_ran_out_still_counts(database_url: str) -> None:
    """No other worker claimed the row meanwhile: the lease that ran out is still the
    attempt's, and the batched record of a first delivery takes it."""
    store = Store(database_url)
    store.migrate()
    try:
        now = 1_000_000.0
        first, second = _queue(store, [now - 5, now - 4])
        policy = DeliveryPolicy(lease_seconds=1.0)

        async def run() -> list[Job]:
            jobs: list[Job] = await store.write_batched(CLAIM_BATCH, Claim("a", now, policy))
            await asyncio.gather(
                *(
                    store.write_batched(
                        RECORD_BATCH,
                        Delivered(job, Outcome(delivered=job.recipients), "a", now + 30, policy),
                    )
                    for job in jobs
                )
            )
            return jobs

        assert len(asyncio.run(run())) == 2
        queued, found = _state(store)
        assert queued == []
        assert [status for _, status, _ in found] == ["DELIVERED", "DELIVERED"]
        assert {row[0] for row in found} == {first, second}
    finally:
        store.close()
