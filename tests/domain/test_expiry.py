"""Contact expiry, at a chosen moment: an unsent contact past its expiry cannot be sent."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection

from connectmail.domain import contact_updates, contacts, instances, search
from connectmail.domain.contacts import ExpiryPolicy
from connectmail.errors import ServiceError
from connectmail.store.store import Store
from tests.support.store import ACCOUNT, NOW, REGION, make_contact


def test_unsent_contact_expires_after_its_expiry(store: Store) -> None:
    instance_id, contact_id = store.write_now(make_contact)

    def sendable_at(at: float) -> dict[str, Any]:
        def run(connection: Connection) -> dict[str, Any]:
            instance = instances.require(connection, ACCOUNT, REGION, instance_id)
            row = contacts.require(connection, instance, contact_id)
            contacts.check_sendable(row, at)
            return contacts.describe(connection, row, at)

        return store.read_now(run)

    assert sendable_at(NOW + 59 * 60)["DisconnectTimestamp"] is None
    with pytest.raises(ServiceError) as exc:
        sendable_at(NOW + 61 * 60)
    assert exc.value.code == "InvalidRequestException" and "expired" in exc.value.message

    def described(connection: Connection) -> dict[str, Any]:
        instance = instances.require(connection, ACCOUNT, REGION, instance_id)
        return contacts.describe(
            connection, contacts.require(connection, instance, contact_id), NOW + 61 * 60
        )

    expired = store.read_now(described)
    assert expired["DisconnectReason"] == "EXPIRED"
    assert expired["DisconnectTimestamp"].timestamp() == NOW + 60 * 60
    assert expired["LastUpdateTimestamp"] == expired["DisconnectTimestamp"]


def test_an_updated_expiry_runs_from_the_update(store: Store) -> None:
    instance_id, contact_id = store.write_now(make_contact)  # expires at NOW + 60 minutes
    policy = ExpiryPolicy(default_minutes=60)

    def update_at(at: float, minutes: int) -> None:
        def run(connection: Connection) -> None:
            instance = instances.require(connection, ACCOUNT, REGION, instance_id)
            expiry = {"ValueMap": {"ExpiryDuration": {"ValueInteger": minutes}}}
            contact_updates.update_contact(
                connection,
                instance,
                {"ContactId": contact_id, "SegmentAttributes": {contacts.EXPIRY_ATTRIBUTE: expiry}},
                at,
                policy,
            )

        store.write_now(run)

    def sendable_at(at: float) -> bool:
        def run(connection: Connection) -> bool:
            instance = instances.require(connection, ACCOUNT, REGION, instance_id)
            try:
                contacts.check_sendable(contacts.require(connection, instance, contact_id), at)
            except ServiceError:
                return False
            return True

        return bool(store.read_now(run))

    update_at(NOW + 30 * 60, 120)  # at half an hour, two hours more
    assert sendable_at(NOW + 149 * 60)
    assert not sendable_at(NOW + 151 * 60)
    update_at(NOW + 100 * 60, 10)  # and shortened
    assert sendable_at(NOW + 109 * 60)
    assert not sendable_at(NOW + 111 * 60)
    with pytest.raises(ServiceError) as exc:
        update_at(NOW + 120 * 60, 60)  # expired: too late to extend
    assert "no longer active" in exc.value.message


def test_search_pages_answer_as_of_the_first_page(store: Store) -> None:
    """A contact that expires between two pages ordered by DISCONNECT_TIMESTAMP moves from
    the open contacts (first, ascending) to the ended ones: the second page, worked out at
    its own moment, listed it twice or skipped another."""
    instance_id, first = store.write_now(make_contact)  # each expires at NOW + 60 minutes

    def more(connection: Connection) -> str:
        instance = instances.require(connection, ACCOUNT, REGION, instance_id)
        made = contacts.create(
            connection,
            instance,
            {"Channel": "EMAIL", "InitiationMethod": "FLOW", "ExpiryDurationInMinutes": 600},
            NOW + 1,
            ExpiryPolicy(),
        )
        return str(made["ContactId"])

    second, third = store.write_now(more), store.write_now(more)

    def page(at: float, token: str | None) -> dict[str, Any]:
        def run(connection: Connection) -> dict[str, Any]:
            instance = instances.require(connection, ACCOUNT, REGION, instance_id)
            params: dict[str, Any] = {
                "TimeRange": {
                    "Type": "INITIATION_TIMESTAMP",
                    "StartTime": datetime.fromtimestamp(NOW - 60, UTC),
                    "EndTime": datetime.fromtimestamp(NOW + 60, UTC),
                },
                "Sort": {"FieldName": "DISCONNECT_TIMESTAMP", "Order": "ASCENDING"},
                "MaxResults": 1,
            }
            if token:
                params["NextToken"] = token
            return search.search(connection, instance, params, at)

        return store.read_now(run)

    listed, token, at = [], None, NOW + 30 * 60  # all three open at the first page
    while True:
        answer = page(at, token)
        listed += [c["Id"] for c in answer["Contacts"]]
        token = answer["NextToken"]
        if token is None:
            break
        at = NOW + 90 * 60  # later pages: the first contact has expired
    assert sorted(listed) == sorted([first, second, third])
