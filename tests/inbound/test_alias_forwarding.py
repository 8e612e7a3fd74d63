"""Mail to an alias address is forwarded to its primary: over SMTP, the alias gets its contact
as before and the primary one of its own, in the same transaction, on both databases."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

import pytest

from tests.support.connect import Outpost, make_outpost, unique_address
from tests.support.inbound import (
    customer_email,
    deliver,
    file_bytes,
    received_search,
    references,
)
from tests.support.server import ServerProcess


@pytest.fixture
def server(smtp_server: ServerProcess) -> ServerProcess:
    return smtp_server


FORWARDED = "connectmail:ForwardedFrom"


class Aliased:
    """An instance whose address (the primary, "Example Support") has an alias."""

    def __init__(self, server: ServerProcess) -> None:
        self.outpost = make_outpost(server.client())
        self.client = self.outpost.client
        self.primary = self.outpost.sender
        self.alias = unique_address("help")
        self.alias_id = self.client.create_email_address(
            InstanceId=self.outpost.instance_id, EmailAddress=self.alias, DisplayName="Help"
        )["EmailAddressId"]
        self.client.associate_email_address_alias(
            InstanceId=self.outpost.instance_id,
            EmailAddressId=self.outpost.sender_id,
            AliasConfiguration={"EmailAddressId": self.alias_id},
        )

    def contacts(self) -> dict[str, dict[str, Any]]:
        """The instance's received contacts (DescribeContact), by the address they are at."""
        return contacts_by_address(self.outpost)


@pytest.fixture
def aliased(server: ServerProcess) -> Aliased:
    return Aliased(server)


def contacts_by_address(outpost: Outpost) -> dict[str, dict[str, Any]]:
    found = outpost.client.search_contacts(**received_search(outpost.instance_id))["Contacts"]
    described = [outpost.describe(c["Id"]) for c in found]
    by_address = {c["SystemEndpoint"]["Address"]: c for c in described}
    assert len(by_address) == len(described), "two contacts at one address"
    return by_address


def email(to: str, subject: str = "Hello", **headers: str) -> EmailMessage:
    return customer_email(to, subject, "Where is my order?", **headers)


def test_mail_to_the_alias_is_a_contact_at_each_address(
    server: ServerProcess, aliased: Aliased
) -> None:
    data = email(aliased.alias).as_bytes(policy=SMTP)
    reply = deliver(server, data, recipients=[aliased.alias])
    assert reply.accepted, reply.data

    contacts = aliased.contacts()
    assert set(contacts) == {aliased.alias, aliased.primary}
    direct, forwarded = contacts[aliased.alias], contacts[aliased.primary]
    assert reply.data is not None
    assert reply.data[1] == f"2.0.0 OK: contact {direct['Id']} {forwarded['Id']}"

    # The alias's contact is the one it always made.
    assert direct["SystemEndpoint"] == {
        "Type": "EMAIL_ADDRESS",
        "Address": aliased.alias,
        "DisplayName": "Help",
    }
    assert FORWARDED not in direct["SegmentAttributes"]
    assert "AdditionalEmailRecipients" not in direct

    # The primary's: at the primary, saying where it came from; the To header names the alias.
    assert forwarded["SystemEndpoint"] == {
        "Type": "EMAIL_ADDRESS",
        "Address": aliased.primary,
        "DisplayName": "Example Support",
    }
    assert forwarded["SegmentAttributes"][FORWARDED] == {"ValueString": aliased.alias}
    assert forwarded["SegmentAttributes"]["connect:EmailSubject"] == {"ValueString": "Hello"}
    assert forwarded["AdditionalEmailRecipients"] == {"ToList": [{"Address": aliased.alias}]}
    assert forwarded["CustomerEndpoint"]["Address"] == "jane@example.org"
    assert forwarded["InitiationMethod"] == "INBOUND" and "DisconnectTimestamp" not in forwarded

    # Each keeps the message as it came.
    for contact in (direct, forwarded):
        (raw,) = references(
            aliased.client, aliased.outpost.instance_id, contact["Id"], "EMAIL_MESSAGE"
        )
        stored = file_bytes(
            aliased.client, aliased.outpost.instance_id, contact["Arn"], raw["EmailMessage"]["Arn"]
        )
        assert stored == data


def test_mail_to_the_primary_is_not_forwarded_back(server: ServerProcess, aliased: Aliased) -> None:
    assert deliver(server, email(aliased.primary), recipients=[aliased.primary]).accepted
    contacts = aliased.contacts()
    assert list(contacts) == [aliased.primary]
    assert FORWARDED not in contacts[aliased.primary]["SegmentAttributes"]


def test_the_primary_first_in_rcpt_gets_the_message_once(
    server: ServerProcess, aliased: Aliased
) -> None:
    """One message to several addresses of an instance is one contact at the first: the
    primary has it already, so the alias's forwarded copy adds nothing."""
    message = email(f"{aliased.primary}, {aliased.alias}")
    assert deliver(server, message, recipients=[aliased.primary, aliased.alias]).accepted
    assert list(aliased.contacts()) == [aliased.primary]


def test_the_alias_first_in_rcpt_is_forwarded_too(server: ServerProcess, aliased: Aliased) -> None:
    message = email(f"{aliased.alias}, {aliased.primary}")
    assert deliver(server, message, recipients=[aliased.alias, aliased.primary]).accepted
    contacts = aliased.contacts()
    assert set(contacts) == {aliased.alias, aliased.primary}
    assert contacts[aliased.primary]["SegmentAttributes"][FORWARDED] == {
        "ValueString": aliased.alias
    }


def test_a_retried_delivery_makes_no_second_contact_at_either(
    server: ServerProcess, aliased: Aliased
) -> None:
    """Several messages: which of the two contacts a lookup meets first is up to their ids."""
    for n in range(5):
        data = email(aliased.alias, f"Message {n}").as_bytes(policy=SMTP)
        first = deliver(server, data, recipients=[aliased.alias])
        again = deliver(server, data, recipients=[aliased.alias])
        assert first.accepted and again.accepted
        assert first.data == again.data  # the same two contacts, the alias's first
        # A server that splits recipients sends the primary's copy on its own: nothing new,
        # the message's contact in the instance is the alias's.
        alone = deliver(server, data, recipients=[aliased.primary])
        assert alone.data is not None and first.data is not None
        assert alone.data[1] == first.data[1].rsplit(" ", 1)[0]
    found = aliased.client.search_contacts(**received_search(aliased.outpost.instance_id))
    assert len(found["Contacts"]) == 10


def test_the_primary_before_its_alias_in_two_deliveries_gets_one_contact(
    server: ServerProcess, aliased: Aliased
) -> None:
    data = email(f"{aliased.primary}, {aliased.alias}").as_bytes(policy=SMTP)
    first = deliver(server, data, recipients=[aliased.primary])
    then = deliver(server, data, recipients=[aliased.alias])
    assert first.accepted and then.accepted
    assert first.data == then.data
    assert list(aliased.contacts()) == [aliased.primary]


def test_after_disassociation_mail_to_the_former_alias_stays_there(
    server: ServerProcess, aliased: Aliased
) -> None:
    aliased.client.disassociate_email_address_alias(
        InstanceId=aliased.outpost.instance_id,
        EmailAddressId=aliased.outpost.sender_id,
        AliasConfiguration={"EmailAddressId": aliased.alias_id},
    )
    assert deliver(server, email(aliased.alias), recipients=[aliased.alias]).accepted
    assert list(aliased.contacts()) == [aliased.alias]


def test_after_the_primary_is_deleted_mail_to_the_alias_stays_there(
    server: ServerProcess, aliased: Aliased
) -> None:
    aliased.client.delete_email_address(
        InstanceId=aliased.outpost.instance_id, EmailAddressId=aliased.outpost.sender_id
    )
    assert deliver(server, email(aliased.alias), recipients=[aliased.alias]).accepted
    assert list(aliased.contacts()) == [aliased.alias]


def test_only_the_aliass_own_instance_gets_the_forwarded_copy(
    server: ServerProcess, aliased: Aliased
) -> None:
    other = make_outpost(server.client())
    message = email(f"{other.sender}, {aliased.alias}")
    assert deliver(server, message, recipients=[other.sender, aliased.alias]).accepted
    assert list(contacts_by_address(other)) == [other.sender]
    assert set(aliased.contacts()) == {aliased.alias, aliased.primary}


def test_a_follow_up_threads_at_each_address(server: ServerProcess, aliased: Aliased) -> None:
    """The customer writes again in the same thread: the alias's new contact follows the
    alias's first, the primary's the primary's."""
    first = email(aliased.alias, "Order 42")
    assert deliver(server, first, recipients=[aliased.alias]).accepted
    before = {address: contact["Id"] for address, contact in aliased.contacts().items()}

    follow_up = email(
        aliased.alias,
        "Re: Order 42",
        In_Reply_To=first["Message-ID"],
        References=first["Message-ID"],
    )
    assert deliver(server, follow_up, recipients=[aliased.alias]).accepted
    found = aliased.client.search_contacts(**received_search(aliased.outpost.instance_id))
    new = [
        aliased.outpost.describe(c["Id"])
        for c in found["Contacts"]
        if c["Id"] not in before.values()
    ]
    assert len(new) == 2
    for contact in new:
        address = contact["SystemEndpoint"]["Address"]
        assert contact["RelatedContactId"] == before[address]
        assert contact["InitialContactId"] == before[address]
