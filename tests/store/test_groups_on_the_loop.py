"""On PostgreSQL the common sends, and their delivery records, are written by the event loop's
groups (`SendBatch.run_async`, `RecordBatch.run_async`), not handed to the writer threads.
Nothing a user sees tells the two apart but the rate (a group that fails on the loop runs
again in a writer thread, with the same outcome), so the server's debug log does."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError

from connectmail.aws import Principal, RequestContext
from connectmail.config import Settings
from connectmail.connect.base import Deps
from connectmail.connect.contacts import ContactHandlers
from connectmail.domain import send_batch
from connectmail.store.store import Store
from tests.support.connect import make_outpost
from tests.support.databases import wait_for_statuses
from tests.support.server import REGION
from tests.support.smtp import SmtpSink


def test_sends_and_their_delivery_records_are_written_on_the_event_loop(
    postgres_url: str, start_server: Any, relay: SmtpSink
) -> None:
    server = start_server(
        "--database-url", postgres_url, "--relay", relay.url, env={"CONNECTMAIL_LOG_LEVEL": "debug"}
    )
    outpost = make_outpost(server.client())
    contacts = [outpost.contact() for _ in range(30)]

    def send(contact_id: str) -> str:
        sent = outpost.send(contact_id, ClientToken=f"loop-{contact_id}", **outpost.sent_from())
        return str(sent["ContactId"])

    with ThreadPoolExecutor(10) as pool:  # concurrent: groups of several
        assert list(pool.map(send, contacts)) == contacts
    delivered = ["DELIVERED"] * 30
    assert wait_for_statuses(postgres_url, delivered) == delivered
    assert len(relay.received) == 30
    log = server.log()
    assert "batch gave up on its group" not in log, log
    assert "a group failed on the event loop" not in log, log


def test_a_send_group_holds_its_contacts_from_its_reads_to_its_commit(
    postgres_url: str, start_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop's connections are in autocommit mode; a send group opens its transaction
    with its reads, so the contacts it locks there stay locked while it decides and until
    its writes commit (otherwise another writer could send one of them in between). Seen
    from a second connection at the moment the group decides (the real `decide`, wrapped to
    look), on the real handler and store in this process."""
    server = start_server("--database-url", postgres_url, "--no-deliver")
    outpost = make_outpost(server.client())
    contact_id = outpost.contact()
    seen: list[str] = []
    decide = send_batch._Group.decide

    def looking(group: Any, found_rows: Any) -> Any:
        with psycopg.connect(postgres_url, autocommit=True) as other:
            try:
                other.execute(
                    "SELECT 1 FROM contacts WHERE id = %s FOR NO KEY UPDATE NOWAIT", [contact_id]
                )
                seen.append("free")
            except psycopg.errors.LockNotAvailable:
                seen.append("held")
        return decide(group, found_rows)

    monkeypatch.setattr(send_batch._Group, "decide", looking)
    store = Store(postgres_url)
    try:
        handlers = ContactHandlers(Deps(store=store, settings=Settings(deliver=False)))
        context = RequestContext(
            service="connect",
            operation="StartOutboundEmailContact",
            region=REGION,
            request_id="held-contacts",
            principal=Principal(server.account_id, "AKIDTEST", "secret"),
        )
        params = {
            "InstanceId": outpost.instance_id,
            "ContactId": contact_id,
            "FromEmailAddress": {"EmailAddress": outpost.sender},
            "DestinationEmailAddress": {"EmailAddress": "customer@example.org"},
            "EmailMessage": {
                "MessageSourceType": "RAW",
                "RawMessage": {"Subject": "Hi", "Body": "Hello", "ContentType": "text/plain"},
            },
        }
        answer = asyncio.run(handlers.start_outbound_email_contact(context, params))
    finally:
        store.close()
    assert answer == {"ContactId": contact_id}
    assert seen == ["held"]
    # Committed: the server sees the contact sent.
    with pytest.raises(ClientError, match="already been sent"):
        outpost.send(contact_id, **outpost.sent_from())
