"""A retried message to an alias finds the contacts it made, whatever order their ids sort in.

The alias's contact and its primary's are made in one transaction, often in one millisecond,
where ids (UUID version 7) are random: ids that sort the other way round are forced here.
"""

from __future__ import annotations

import itertools
import uuid

import pytest
from sqlalchemy import Connection

from connectmail.domain import arns, email_addresses, inbound, instances
from connectmail.domain.contacts import ExpiryPolicy
from connectmail.mail.parse import parse
from connectmail.store.store import Store
from tests.support.store import ACCOUNT, NOW, REGION, make_contact

PRIMARY, ALIAS = "support@example.com", "help@example.com"
MESSAGE = (
    b"From: jane@example.org\r\nTo: help@example.com\r\nSubject: Hi\r\n"
    b"Message-ID: <retried@example.org>\r\n\r\nHello\r\n"
)


def aliased_instance(connection: Connection) -> None:
    instance_id, _ = make_contact(connection)
    instance = instances.require(connection, ACCOUNT, REGION, instance_id)
    primary, alias = (
        email_addresses.create(connection, instance, {"EmailAddress": a}, NOW, 100)
        for a in (PRIMARY, ALIAS)
    )
    email_addresses.associate_alias(
        connection, instance, primary["EmailAddressId"], alias["EmailAddressId"], NOW
    )


def test_a_retry_answers_the_alias_contact_first_when_ids_sort_backwards(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write_now(aliased_instance)
    countdown = itertools.count(2**120, -1)
    monkeypatch.setattr(arns, "new_id", lambda: str(uuid.UUID(int=next(countdown))))

    def receive(connection: Connection) -> list[str]:
        return inbound.receive(
            connection, MESSAGE, parse(MESSAGE), [ALIAS], None, NOW, ExpiryPolicy()
        )

    first = store.write_now(receive)
    assert len(first) == 2 and first[0] > first[1]  # the primary's contact sorts first
    assert store.write_now(receive) == first
