"""A contact's tree (ListAssociatedContacts): the contacts of one conversation, which share an
initial contact. For email that is a thread: the customer's first email, the agents' replies
and the customer's answers to them, oldest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, union_all

from connectmail.domain import contacts
from connectmail.domain.pagination import page_after
from connectmail.store.tables import CONTACT_COLUMNS, Record
from connectmail.store.tables import contacts as contacts_table

DEFAULT_PAGE = 100


def associated(
    connection: Connection, instance: Record, params: dict[str, Any], now: float
) -> dict[str, Any]:
    row = contacts.require(connection, instance, params["ContactId"])
    root = row.initial_contact_id or row.id
    # The root and the contacts naming it, apart: each finds its rows by an index (an OR of
    # the two made SQLite walk every contact of the instance in time order).
    tree = union_all(
        select(*CONTACT_COLUMNS).where(contacts_table.c.id == root),
        select(*CONTACT_COLUMNS).where(contacts_table.c.initial_contact_id == root),
    ).subquery("tree")
    page = page_after(
        connection,
        select(tree).where(tree.c.instance_id == instance.id),
        tree.c.initiated_at,
        tree.c.id,
        params.get("MaxResults") or DEFAULT_PAGE,
        params.get("NextToken"),
        lambda found: _summary(found, now),
        error_code="InvalidParameterException",
    )
    return {"ContactSummaryList": page.items, "NextToken": page.next_token}


def _summary(row: Record, now: float) -> dict[str, Any]:
    ended = contacts.ended_at(row, now)
    return {
        "ContactId": row.id,
        "ContactArn": row.arn,
        "InitiationTimestamp": contacts.time_of(row.initiated_at),
        "DisconnectTimestamp": contacts.time_of(ended),
        "InitialContactId": row.initial_contact_id,
        "PreviousContactId": row.previous_contact_id,
        "RelatedContactId": row.related_contact_id,
        "InitiationMethod": row.initiation_method,
        "Channel": row.channel,
    }
