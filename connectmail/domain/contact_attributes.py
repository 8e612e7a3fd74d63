"""User-defined contact attributes after the contact is made: GetContactAttributes and
UpdateContactAttributes, on ongoing and completed contacts alike, as in Amazon Connect."""

from __future__ import annotations

from sqlalchemy import Connection, update

from connectmail.domain import contacts
from connectmail.jsontext import dumps, loads
from connectmail.store.tables import Record
from connectmail.store.tables import contacts as contacts_table


def get(connection: Connection, instance: Record, contact_id: str) -> dict[str, str]:
    attributes: dict[str, str] = loads(
        contacts.require(connection, instance, contact_id).attributes
    )
    return attributes


def update_attributes(
    connection: Connection,
    instance: Record,
    contact_id: str,
    attributes: dict[str, str],
    now: float,
) -> None:
    """Add the attributes given, replacing those of the same names; the others stay. The
    whole must keep to the limits of attributes set when the contact is made."""
    # Held until the transaction ends: two updates at once each keep the other's attributes.
    row = contacts.hold(connection, instance, contact_id)
    merged = {**loads(row.attributes), **attributes}
    contacts.check_attributes(merged)
    connection.execute(
        update(contacts_table)
        .where(contacts_table.c.id == row.id)
        .values(attributes=dumps(merged), updated_at=now)
    )
