"""Put contacts straight into a server's database: the sendable drafts a run needs, or a
history of a million contacts, far faster than through the API."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Connection, Table, insert

from connectmail.domain import arns, contacts, email_addresses, instances
from connectmail.domain.contacts import ExpiryPolicy
from connectmail.store.store import Store
from connectmail.store.tables import contacts as contacts_table

CHUNK = 5000


def _insert_rows(table: Table, rows: list[dict[str, Any]], connection: Connection) -> None:
    connection.execute(insert(table), rows)


@dataclass(frozen=True)
class Outpost:
    account_id: str
    region: str
    instance_id: str
    instance_arn: str
    sender: str


def make_outpost(store: Store, account_id: str, region: str = "us-east-1") -> Outpost:
    def create(connection: Connection) -> Outpost:
        now = time.time()
        created = instances.create(
            connection,
            account_id,
            region,
            {
                "IdentityManagementType": "SAML",
                "InstanceAlias": f"b-{uuid.uuid4().hex[:10]}",
                "InboundCallsEnabled": True,
                "OutboundCallsEnabled": True,
            },
            now,
        )
        instance = instances.require(connection, account_id, region, created["Id"])
        sender = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        email_addresses.create(
            connection, instance, {"EmailAddress": sender, "DisplayName": "Bench"}, now, 100
        )
        return Outpost(account_id, region, instance.id, instance.arn, sender)

    return store.write_now(create)


def add_contacts(store: Store, outpost: Outpost, count: int, *, sent: bool = False) -> list[str]:
    """`count` email contacts (drafts, or already sent ones for history); their ids."""
    now = time.time()
    expires = now + ExpiryPolicy().default_minutes * 60
    ids: list[str] = []
    for start in range(0, count, CHUNK):
        rows = []
        for _ in range(min(CHUNK, count - start)):
            contact_id = arns.new_id()
            ids.append(contact_id)
            rows.append(
                {
                    "id": contact_id,
                    "instance_id": outpost.instance_id,
                    "account_id": outpost.account_id,
                    "arn": arns.instance_child_arn(outpost.instance_arn, "contact", contact_id),
                    "channel": "EMAIL",
                    "initiation_method": "FLOW",
                    "state": contacts.SENT if sent else contacts.CREATED,
                    "attributes": "{}",
                    "references": "{}",
                    "segment_attributes": "{}",
                    "initiated_at": now,
                    "updated_at": now,
                    "disconnected_at": now if sent else None,
                    "expires_at": expires,
                }
            )
        store.write_now(partial(_insert_rows, contacts_table, rows))
    return ids


def add_history(store: Store, outpost: Outpost, count: int) -> None:
    """`count` contacts already sent and delivered, each with its message, as after months."""
    from connectmail.store.tables import messages

    now = time.time()
    for start in range(0, count, CHUNK):
        size = min(CHUNK, count - start)
        ids = add_contacts(store, outpost, size, sent=True)
        rows = [
            {
                "id": arns.new_id(),
                "contact_id": contact_id,
                "account_id": outpost.account_id,
                "direction": "OUTBOUND",
                "rfc_message_id": f"<{contact_id}@example.com>",
                "thread_references": "[]",
                "spec": "{}",
                "status": "DELIVERED",
                "recipient_status": "{}",
                "attempts": 1,
                "accepted_at": now,
                "finished_at": now,
            }
            for contact_id in ids
        ]
        store.write_now(partial(_insert_rows, messages, rows))


def settle(store: Store) -> None:
    """Put the seeder's writes where a long-running database keeps them, so that writing them
    out does not land in the measurement: PostgreSQL checkpoints (the seeding's WAL would
    otherwise force checkpoints during the runs, and every page first changed after one is
    logged whole), SQLite moves its WAL into the database file."""
    driver = store.write_engine.raw_connection()  # outside any transaction of SQLAlchemy's
    try:
        driver.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)" if store.sqlite else "CHECKPOINT")
        driver.commit()
    finally:
        driver.close()
