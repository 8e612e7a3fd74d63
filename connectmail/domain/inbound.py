"""Inbound email: a received message becomes an INBOUND email contact of each instance it is for.

The raw message, its plain text and its attachments are kept as the contact's files, in the
same transaction as the contact. A message that answers one we know (its In-Reply-To or
References name a Message-ID of the same instance) is linked to that contact through
RelatedContactId, and the new contact takes over its attributes, as Amazon Connect does for
email threads. Mail to an alias address is also forwarded to its primary address, which gets a
contact of its own. StartEmailContact composes a message from its fields and receives it the
same way, at the one address it names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select

from connectmail.domain import arns, attached_files, contacts, sent_files
from connectmail.errors import invalid_request
from connectmail.jsontext import dumps, loads
from connectmail.mail.parse import ParsedEmail, fit_address
from connectmail.store.tables import Record, email_addresses, instances, messages
from connectmail.store.tables import contacts as contacts_table
from connectmail.store.tables_inbound import attached_files as files_table

INBOUND = "INBOUND"
RECEIVED = "RECEIVED"
# A reply's References keep the whole chain; past this many ids, the first and the newest.
MAX_THREAD_REFERENCES = 100
# On a contact made by forwarding mail from an alias to its primary: the alias's address.
FORWARDED_ATTRIBUTE = "connectmail:ForwardedFrom"


@dataclass(frozen=True)
class ContactFields:
    """What StartEmailContact sets on the contact besides the email itself."""

    name: str | None = None
    description: str | None = None
    references: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    segment_attributes: dict[str, Any] = field(default_factory=dict)
    related_contact_id: str | None = None
    expiry_minutes: int | None = None


def recipient_instances(
    connection: Connection, addresses: list[str]
) -> list[tuple[Record, Record]]:
    """(instance, email address) for each of `addresses` that a live instance owns."""
    wanted = [a.lower() for a in addresses]
    rows = connection.execute(
        select(email_addresses, instances.c.status)
        .join(instances, instances.c.id == email_addresses.c.instance_id)
        .where(email_addresses.c.address.in_(wanted) & (instances.c.status == "ACTIVE"))
    ).all()
    by_address = {row.address: row for row in rows}
    found: list[tuple[Record, Record]] = []
    for address in dict.fromkeys(wanted):
        row = by_address.get(address)
        if row is not None:
            instance = connection.execute(
                select(instances).where(instances.c.id == row.instance_id)
            ).one()
            found.append((instance, row))
    return found


def deliverable(connection: Connection, address: str) -> bool:
    return bool(recipient_instances(connection, [address]))


def receive(
    connection: Connection,
    raw: bytes,
    parsed: ParsedEmail,
    recipients: list[str],
    envelope_sender: str | None,
    now: float,
    expiry: contacts.ExpiryPolicy,
) -> list[str]:
    """One contact per instance addressed (its first address in RCPT order is the destination),
    and one for each primary address an addressed alias forwards to, unless that primary is
    the destination already."""
    contact_ids: list[str] = []
    for instance, addressed in _by_instance(recipient_instances(connection, recipients)):
        destination = addressed[0]
        deliveries = [(destination, None)] + [
            (primary, alias)
            for alias, primary in _forwards(connection, instance, addressed)
            if primary.id != destination.id
        ]
        for receiver, forwarded_from in deliveries:
            contact_ids.append(
                ingest(
                    connection,
                    instance,
                    receiver,
                    raw,
                    parsed,
                    now,
                    expiry,
                    envelope_sender=envelope_sender,
                    dedupe=True,
                    forwarded_from=forwarded_from,
                )
            )
    # A retry split otherwise (the primary first, its alias later) finds one contact twice.
    return list(dict.fromkeys(contact_ids))


def _by_instance(found: list[tuple[Record, Record]]) -> list[tuple[Record, list[Record]]]:
    """The addresses found, grouped by instance; both in RCPT order."""
    grouped: dict[str, tuple[Record, list[Record]]] = {}
    for instance, address in found:
        grouped.setdefault(instance.id, (instance, []))[1].append(address)
    return list(grouped.values())


def _forwards(
    connection: Connection, instance: Record, addressed: list[Record]
) -> list[tuple[Record, Record]]:
    """(alias, primary) for each addressed alias. A primary is never an alias itself (no
    chains), so mail is forwarded once, and no two aliases share one."""
    wanted = [address.alias_of for address in addressed if address.alias_of is not None]
    if not wanted:
        return []
    primaries = {
        row.id: row
        for row in connection.execute(
            select(email_addresses).where(
                email_addresses.c.id.in_(wanted) & (email_addresses.c.instance_id == instance.id)
            )
        )
    }
    return [(a, primaries[a.alias_of]) for a in addressed if a.alias_of in primaries]


def ingest(
    connection: Connection,
    instance: Record,
    destination: Record,
    raw: bytes,
    parsed: ParsedEmail,
    now: float,
    expiry: contacts.ExpiryPolicy,
    *,
    fields: ContactFields | None = None,
    envelope_sender: str | None = None,
    dedupe: bool = False,
    forwarded_from: Record | None = None,
) -> str:
    """Create the INBOUND contact for a message received by `instance` at `destination`
    (forwarded there from the alias `forwarded_from`, if given)."""
    fields = fields or ContactFields()
    digest = hashlib.sha256(raw).hexdigest()
    destination_address = destination.address.lower()
    if dedupe and parsed.message_id:
        existing = _already_received(
            connection,
            instance,
            parsed.message_id,
            digest,
            destination_address if forwarded_from is not None else None,
        )
        if existing is not None:
            return existing  # a sender retrying after a lost reply: the contact exists
    if fields.related_contact_id:
        related: Record | None = contacts.require(connection, instance, fields.related_contact_id)
        if related is not None and related.channel != "EMAIL":
            raise invalid_request("RelatedContactId must name an EMAIL contact.")
    else:
        related = thread_parent(connection, instance, parsed, destination.address)
    attributes = dict(loads(related.attributes)) if related is not None else {}
    attributes.update(fields.attributes)
    contacts.check_attributes(attributes)
    contacts.check_references(fields.references, contacts.EMAIL_REFERENCE_TYPES)
    segment_attributes = dict(fields.segment_attributes)
    minutes = contacts.expiry_minutes(fields.expiry_minutes, segment_attributes, expiry)
    segment_attributes[contacts.SUBJECT_ATTRIBUTE] = {"ValueString": parsed.subject[:1024]}
    if forwarded_from is not None:
        segment_attributes[FORWARDED_ATTRIBUTE] = {"ValueString": forwarded_from.address}
    contact_id = arns.new_id()
    connection.execute(
        insert(contacts_table).values(
            id=contact_id,
            instance_id=instance.id,
            account_id=instance.account_id,
            arn=arns.instance_child_arn(instance.arn, "contact", contact_id),
            channel="EMAIL",
            initiation_method=INBOUND,
            state=contacts.CREATED,
            name=fields.name,
            description=fields.description,
            related_contact_id=related.id if related is not None else None,
            initial_contact_id=(related.initial_contact_id or related.id)
            if related is not None
            else None,
            attributes=dumps(attributes),
            references=dumps(fields.references),
            segment_attributes=dumps(segment_attributes),
            customer_endpoint=dumps(_customer(parsed, envelope_sender)),
            system_endpoint=dumps(_endpoint(destination_address, destination.display_name)),
            additional_recipients=dumps(_others(parsed, destination_address)),
            initiated_at=now,
            updated_at=now,
            expires_at=now + minutes * 60,
        )
    )
    contact = connection.execute(
        select(contacts_table).where(contacts_table.c.id == contact_id)
    ).one()
    message_id = arns.new_id()
    rfc_message_id = parsed.message_id or f"<{message_id}@{destination_address.split('@')[1]}>"
    connection.execute(
        insert(messages).values(
            id=message_id,
            contact_id=contact_id,
            account_id=instance.account_id,
            direction=INBOUND,
            rfc_message_id=rfc_message_id,
            thread_references=dumps(_trimmed(parsed.thread_references)),
            spec=None,
            status=RECEIVED,
            recipient_status="{}",
            attempts=0,
            accepted_at=now,
            finished_at=now,
        )
    )

    def keep(use_case: str, name: str, content_type: str, data: bytes, **status: Any) -> None:
        attached_files.record(
            connection,
            contact,
            message_id=message_id,
            use_case=use_case,
            origin=attached_files.INBOUND,
            name=name,
            content_type=content_type,
            data=data,
            now=now,
            **status,
        )

    keep(attached_files.EMAIL_MESSAGE, sent_files.MESSAGE_FILE_NAME, "message/rfc822", raw)
    plain = parsed.plain_text
    if plain:
        keep(
            attached_files.EMAIL_MESSAGE_PLAIN_TEXT,
            sent_files.PLAIN_TEXT_FILE_NAME,
            sent_files.PLAIN_TEXT_TYPE,
            plain.encode(),
            position=1,
        )
    for position, attachment in enumerate(parsed.attachments, start=2):
        status, reason = attached_files.received_status(attachment.name, len(attachment.data))
        keep(
            attached_files.ATTACHMENT,
            attachment.name,
            attached_files.allowed_type(attachment.name) or attachment.content_type,
            attachment.data,
            status=status,
            reason=reason,
            position=position,
        )
    return contact_id


def thread_parent(
    connection: Connection, instance: Record, parsed: ParsedEmail, destination: str | None = None
) -> Record | None:
    """The contact whose message this one answers: In-Reply-To first, then the newest Reference.

    Of contacts with the same message (one received at an alias and at its primary), the
    one at `destination` is taken, so each address's contacts make a thread of their own."""
    candidates = list(dict.fromkeys([*parsed.in_reply_to, *reversed(parsed.references)]))
    # A header may name any number of ids (a query takes at most 65,535 parameters on
    # PostgreSQL): the first ones in that order, and the thread's first message, are asked for.
    candidates = list(dict.fromkeys([*candidates[:MAX_THREAD_REFERENCES], *parsed.references[:1]]))
    if not candidates:
        return None
    rows = connection.execute(
        select(
            messages.c.rfc_message_id,
            messages.c.contact_id,
            messages.c.accepted_at,
            contacts_table.c.system_endpoint,
        )
        .join(contacts_table, contacts_table.c.id == messages.c.contact_id)
        .where(
            messages.c.rfc_message_id.in_(candidates)
            & (contacts_table.c.instance_id == instance.id)
        )
    ).all()
    if not rows:
        return None
    rank = {message_id: n for n, message_id in enumerate(candidates)}
    wanted = (destination or "").lower()
    best = min(
        rows,
        key=lambda r: (
            rank[r.rfc_message_id],
            _endpoint_address(r.system_endpoint) != wanted,
            -r.accepted_at,
            r.contact_id,
        ),
    )
    return connection.execute(
        select(contacts_table).where(contacts_table.c.id == best.contact_id)
    ).one()


def _already_received(
    connection: Connection,
    instance: Record,
    rfc_message_id: str,
    digest: str,
    forwarded_to: str | None,
) -> str | None:
    """The contact the same message made before: the instance's own (not forwarded), or, for
    a copy forwarded to the address `forwarded_to`, any contact at that address."""
    rows = connection.execute(
        select(
            messages.c.contact_id,
            contacts_table.c.system_endpoint,
            contacts_table.c.segment_attributes,
        )
        .join(contacts_table, contacts_table.c.id == messages.c.contact_id)
        .join(files_table, files_table.c.message_id == messages.c.id)
        .where(
            (messages.c.rfc_message_id == rfc_message_id)
            & (messages.c.direction == INBOUND)
            & (contacts_table.c.instance_id == instance.id)
            & (files_table.c.use_case == attached_files.EMAIL_MESSAGE)
            & (files_table.c.sha256 == digest)
        )
        .order_by(contacts_table.c.initiated_at, contacts_table.c.id)
    ).all()
    for row in rows:
        if forwarded_to is None:
            found = FORWARDED_ATTRIBUTE not in (loads(row.segment_attributes) or {})
        else:
            found = _endpoint_address(row.system_endpoint) == forwarded_to
        if found:
            return str(row.contact_id)
    return None


def _endpoint_address(endpoint: str | None) -> str:
    """The address of a contact's stored endpoint, lower-cased ("" when it has none)."""
    return str((loads(endpoint) or {}).get("Address", "")).lower()


def _trimmed(references: list[str]) -> list[str]:
    if len(references) <= MAX_THREAD_REFERENCES:
        return references
    return [references[0], *references[-(MAX_THREAD_REFERENCES - 1) :]]


def _endpoint(address: str, name: str | None) -> dict[str, Any]:
    endpoint = {"Type": "EMAIL_ADDRESS", "Address": address}
    if name:
        endpoint["DisplayName"] = name
    return endpoint


def _customer(parsed: ParsedEmail, envelope_sender: str | None) -> dict[str, Any] | None:
    if parsed.sender is not None:
        return _endpoint(parsed.sender.address, parsed.sender.name)
    # The envelope's sender is checked as the From header's addresses are: `MAIL FROM` takes
    # what no reply could be sent to (`<postmaster>`, 500 characters).
    if envelope_sender is None or not fit_address(envelope_sender):
        return None
    return _endpoint(envelope_sender, None)


def _others(parsed: ParsedEmail, destination: str) -> dict[str, Any]:
    def recipients(parties: tuple[Any, ...]) -> list[dict[str, str]]:
        listed = []
        for party in parties:
            if party.address.lower() != destination:
                item = {"Address": party.address}
                if party.name:
                    item["DisplayName"] = party.name
                listed.append(item)
        return listed

    others = {"ToList": recipients(parsed.to), "CcList": recipients(parsed.cc)}
    return {key: value for key, value in others.items() if value}
