"""Requests racing on one contact or one instance: each decision holds for the one it was made
for. (On PostgreSQL, writer threads run side by side in READ COMMITTED transactions.)"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.connect import make_outpost
from tests.support.server import ServerProcess

CONTACTS = 20


def outcome(call: Callable[[], Any]) -> str:
    try:
        call()
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return "OK"


def test_a_contact_is_sent_or_stopped_once(database_url: str, start_server: Any) -> None:
    """Two sends and two stops at once: one of them ends the contact and the other three are
    refused. StopContact answered OK after a send had ended the contact (the mail went out),
    and two stops both answered OK."""
    server: ServerProcess = start_server("--database-url", database_url)
    client = server.client(config=Config(max_pool_connections=4 * CONTACTS))
    outpost = make_outpost(client)
    contact_ids = [outpost.contact() for _ in range(CONTACTS)]

    def send(contact_id: str) -> str:
        return outcome(lambda: outpost.send(contact_id, **outpost.sent_from()))

    def stop(contact_id: str) -> str:
        return outcome(
            lambda: client.stop_contact(InstanceId=outpost.instance_id, ContactId=contact_id)
        )

    with ThreadPoolExecutor(4 * CONTACTS) as pool:
        futures = {
            contact_id: [pool.submit(call, contact_id) for call in (send, stop, send, stop)]
            for contact_id in contact_ids
        }
        outcomes = {
            contact_id: [f.result() for f in found] for contact_id, found in futures.items()
        }
    emails = sum(1 for found in outcomes.values() if "OK" in (found[0], found[2]))
    mailbox = server.wait_for_mail(emails)
    assert len(mailbox) == emails
    for contact_id, (sent, stopped, sent_again, stopped_again) in outcomes.items():
        assert [sent, stopped, sent_again, stopped_again].count("OK") == 1, outcomes[contact_id]
        delivered = [m for m in mailbox if m["ContactId"] == contact_id]
        contact = client.describe_contact(InstanceId=outpost.instance_id, ContactId=contact_id)
        if "OK" in (sent, sent_again):
            assert {stopped, stopped_again} == {"ContactNotFoundException"}
            assert "DisconnectReason" not in contact["Contact"]
        else:
            assert {sent, sent_again} == {"InvalidRequestException"}
            assert delivered == []


def test_quotas_hold_under_concurrent_requests(database_url: str, start_server: Any) -> None:
    """Twenty creates at once against quotas of 5 contacts and 3 addresses: 5 and 3 succeed.
    On PostgreSQL two could count the same total and both insert (1,006 of 1,000 seen)."""
    server: ServerProcess = start_server(
        "--database-url",
        database_url,
        env={
            "CONNECTMAIL_ACTIVE_EMAIL_CONTACTS_PER_INSTANCE": "5",
            "CONNECTMAIL_EMAIL_ADDRESSES_PER_INSTANCE": "3",
        },
    )
    client = server.client(config=Config(max_pool_connections=CONTACTS))
    outpost = make_outpost(client)  # one address of the 3 taken, no contact yet
    with ThreadPoolExecutor(CONTACTS) as pool:
        contacts = list(pool.map(lambda _: outcome(outpost.contact), range(CONTACTS)))
        addresses = list(
            pool.map(
                lambda _: outcome(
                    lambda: client.create_email_address(
                        InstanceId=outpost.instance_id,
                        EmailAddress=f"race-{uuid.uuid4().hex[:10]}@example.com",
                    )
                ),
                range(CONTACTS),
            )
        )
    assert contacts.count("OK") == 5, contacts
    assert set(contacts) == {"OK", "ServiceQuotaExceededException"}
    assert addresses.count("OK") == 2, addresses
    assert set(addresses) == {"OK", "ServiceQuotaExceededException"}
