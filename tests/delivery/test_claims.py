"""Claims of the outbox: the due rows leased oldest first, to one worker until the lease runs
out; on PostgreSQL a worker skips the rows another transaction holds (a second worker's
claim, a psql session) instead of waiting for them, and takes them once they are let go."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
from sqlalchemy import Connection, insert, select

from connectmail.delivery.worker import CLAIM_BATCH, Claim, DeliveryPolicy, Job, claim
from connectmail.jsontext import dumps
from connectmail.store.store import Store
from connectmail.store.tables import contacts, instances, messages, outbox
from tests.support.connect import make_outpost, unique_address
from tests.support.server import start_worker, stop_worker
from tests.support.smtp import SmtpSink


def test_a_claim_skips_rows_held_elsewhere_and_takes_them_once_free(
    postgres_url: str, relay: SmtpSink, start_server: Any
) -> None:
    server = start_server("--no-deliver", "--database-url", postgres_url)
    outpost = make_outpost(server.client())
    held_to, free_to = unique_address("held"), unique_address("free")
    held_contact = outpost.send(to=held_to)["ContactId"]
    outpost.send(to=free_to)
    with psycopg.connect(postgres_url) as holder:
        locked = holder.execute(
            "SELECT outbox.message_id FROM outbox JOIN messages ON messages.id = "
            "outbox.message_id WHERE messages.contact_id = %s FOR UPDATE OF outbox",
            (held_contact,),
        ).fetchall()
        assert len(locked) == 1
        worker = start_worker(server.data_dir, relay.url, "--database-url", postgres_url)
        try:
            (received,) = relay.wait_for(1)
            assert received.recipients == [free_to]
            time.sleep(1.0)  # about ten claims meanwhile, each skipping the held row
            assert [r.recipients for r in relay.received] == [[free_to]]
            lease = holder.execute(
                "SELECT lease_owner, attempts FROM outbox WHERE message_id = %s", locked[0]
            ).fetchone()
            assert lease == (None, 0)  # never leased: skipped, not waited on
            holder.rollback()  # let go
            assert [r.recipients for r in relay.wait_for(2)] == [[free_to], [held_to]]
            time.sleep(0.5)
            assert len(relay.received) == 2  # each delivered once
        finally:
            stop_worker(worker)
    with psycopg.connect(postgres_url) as check:
        statuses = check.execute("SELECT status FROM messages ORDER BY status").fetchall()
        assert statuses == [("DELIVERED",), ("DELIVERED",)]
        assert check.execute("SELECT count(*) FROM outbox").fetchone() == (0,)


def _queue(store: Store, due: list[float]) -> list[str]:
    """An instance, a contact, and a message in the outbox due at each of `due`; their ids."""
    ids = [f"00000000-0000-7000-8000-{n:012d}" for n in range(len(due))]

    def unit(connection: Connection) -> None:
        instance, contact = "11111111-1111-7111-8111-111111111111", "contact-1"
        connection.execute(
            insert(instances).values(
                id=instance,
                account_id="123456789012",
                region="us-east-1",
                arn=f"arn:aws:connect:us-east-1:123456789012:instance/{instance}",
                identity_management_type="CONNECT_MANAGED",
                inbound_calls_enabled=True,
                outbound_calls_enabled=True,
                status="ACTIVE",
                created_at=0.0,
            )
        )
        connection.execute(
            insert(contacts).values(
                id=contact,
                instance_id=instance,
                account_id="123456789012",
                arn=f"arn:aws:connect:us-east-1:123456789012:instance/{instance}/contact/c",
                channel="EMAIL",
                initiation_method="OUTBOUND",
                state="CONNECTED",
                initiated_at=0.0,
                updated_at=0.0,
                expires_at=1e12,
            )
        )
        for message_id, due_at in zip(ids, due, strict=True):
            connection.execute(
                insert(messages).values(
                    id=message_id,
                    contact_id=contact,
                    account_id="123456789012",
                    direction="OUTBOUND",
                    rfc_message_id=f"<{message_id}@example.com>",
                    spec=dumps({"subject": message_id}),
                    status="PENDING",
                    accepted_at=due_at,
                )
            )
            connection.execute(
                insert(outbox).values(
                    message_id=message_id,
                    due_at=due_at,
                    recipients=dumps([f"{message_id}@example.org"]),
                    created_at=due_at,
                )
            )

    store.write_now(unit)
    return ids


def test_claims_lease_the_due_rows_oldest_first_once_until_the_lease_runs_out(
    database_url: str,
) -> None:
    """Through the store's batch (the event loop on PostgreSQL) and through a writer thread
    (where the loop's group gives up), on both databases."""
    store = Store(database_url)
    store.migrate()
    try:
        now = 1_000_000.0
        first, second, later = _queue(store, [now - 5, now - 10, now + 30])
        policy = DeliveryPolicy(lease_seconds=60.0, batch_size=1)

        async def run() -> list[list[Job]]:
            claimed = [await store.write_batched(CLAIM_BATCH, Claim("a", now, policy))]
            wide = DeliveryPolicy(lease_seconds=60.0, batch_size=64)
            claimed.append(await store.write_batched(CLAIM_BATCH, Claim("b", now, wide)))
            claimed.append(await store.write(lambda c: claim(c, Claim("c", now + 1, wide))))
            claimed.append(await store.write(lambda c: claim(c, Claim("d", now + 61, wide))))
            return claimed

        by_a, by_b, by_c, by_d = asyncio.run(run())
        assert [(j.message_id, j.attempts) for j in by_a] == [(second, 1)]  # the oldest
        assert by_a[0].spec == {"subject": second}
        assert by_a[0].recipients == [f"{second}@example.org"]
        assert by_a[0].rfc_message_id == f"<{second}@example.com>"
        assert [(j.message_id, j.attempts) for j in by_b] == [(first, 1)]  # not a's
        assert by_c == []  # both leased, `later` not due
        assert sorted((j.message_id, j.attempts) for j in by_d) == sorted(
            [(first, 2), (second, 2), (later, 1)]
        )
        leases = store.read_now(
            lambda c: c.execute(select(outbox.c.message_id, outbox.c.lease_owner)).all()
        )
        assert sorted(leases) == sorted([(first, "d"), (second, "d"), (later, "d")])
    finally:
        store.close()
