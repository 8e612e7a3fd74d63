"""A contact after it is made: UpdateContact (its name, description, references, segment
attributes, CC recipients, and an external audio contact's queue, agent and endpoints), the
draft of its email (UpdateOutboundEmailContactMessage), the agent it is given
(AssociateContactWithUser) and its user-defined tags (TagContact, UntagContact).

Each change holds the contact's row (`contacts.hold`), so it is decided on the state it
changes: recipients cannot be changed on an email a send has just sent.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, update

from connectmail.domain import contacts
from connectmail.domain.outbound import CONTENT_TYPES, OutboundPolicy
from connectmail.errors import ServiceError, invalid_request
from connectmail.jsontext import dumps, loads
from connectmail.mail.addresses import checked_address, checked_text
from connectmail.store.tables import Record
from connectmail.store.tables import contacts as contacts_table

# The contacts UpdateOutboundEmailContactMessage keeps a draft for (not FLOW: a flow's email
# is sent by the flow).
DRAFTED_METHODS = frozenset({"OUTBOUND", "AGENT_REPLY"})
# A contact keeps at most this many user-defined tags (Amazon Connect's granular billing).
MAX_CONTACT_TAGS = 6
# What UpdateContact changes only on external audio contacts (VOICE here), per the API
# reference: they describe a call made elsewhere.
EXTERNAL_AUDIO_MEMBERS = ("QueueInfo", "UserInfo", "CustomerEndpoint", "SystemEndpoint")
UPDATABLE = (
    "Name",
    "Description",
    "References",
    "SegmentAttributes",
    "AdditionalRecipients",
    *EXTERNAL_AUDIO_MEMBERS,
)
# Segment attributes set by the system, which UpdateContact does not change (Contact Expiry
# excepted): a contact's subtype, the subject and delivery of its email.
SYSTEM_PREFIXES = ("connect:", contacts.CONNECTMAIL_PREFIX, "aws:")


def update_contact(
    connection: Connection,
    instance: Record,
    params: dict[str, Any],
    now: float,
    expiry: contacts.ExpiryPolicy,
    max_cc: int = OutboundPolicy().max_recipients - 1,
) -> None:
    """Add or update what the request gives; what it leaves out stays. Ongoing and completed
    contacts alike, as in Amazon Connect, except where a field says otherwise. `max_cc`: as
    many CC recipients as a send may have besides its destination."""
    if not any(member in params for member in UPDATABLE):
        raise invalid_request(
            f"UpdateContact needs at least one field to update: one of {', '.join(UPDATABLE)}."
        )
    row = contacts.hold(connection, instance, params["ContactId"])
    values: dict[str, Any] = {"updated_at": now}
    for member in ("Name", "Description"):
        if member in params:
            values[member.lower()] = params[member]
    if "References" in params:
        values["references"] = _references(row, params["References"])
    if "SegmentAttributes" in params:
        values.update(_segment_attributes(row, params["SegmentAttributes"], now, expiry))
    if "AdditionalRecipients" in params:
        values["additional_recipients"] = _recipients(
            row, params["AdditionalRecipients"], now, max_cc
        )
    external = [member for member in EXTERNAL_AUDIO_MEMBERS if member in params]
    if external and row.channel != "VOICE":
        raise invalid_request(
            f"{', '.join(external)} can be updated only on external audio (VOICE) contacts; "
            f"contact {row.id} is a {row.channel} contact."
        )
    if "QueueInfo" in params:
        values["queue_id"] = params["QueueInfo"].get("Id")
    if "UserInfo" in params:
        user = params["UserInfo"].get("UserId")
        values["user_id"] = None if user is None else contacts.user_id_of(instance, user)
    if "CustomerEndpoint" in params:
        values["customer_endpoint"] = dumps(params["CustomerEndpoint"])
    if "SystemEndpoint" in params:
        values["system_endpoint"] = dumps(params["SystemEndpoint"])
    connection.execute(update(contacts_table).where(contacts_table.c.id == row.id).values(**values))


def _references(row: Record, given: dict[str, Any]) -> str:
    merged = {**loads(row.references), **given}
    contacts.check_references(merged, contacts.reference_types(row.channel), given=given)
    return dumps(merged)


def _segment_attributes(
    row: Record, given: dict[str, Any], now: float, expiry: contacts.ExpiryPolicy
) -> dict[str, Any]:
    """Contact Expiry, and user-defined attributes of string values (the API reference: those
    are what UpdateContact updates); the attributes the system sets are refused."""
    values: dict[str, Any] = {}
    for key, value in given.items():
        if key == contacts.EXPIRY_ATTRIBUTE:
            if not contacts.is_active(row, now):
                raise invalid_request(
                    f"Contact {row.id} is no longer active: its expiry cannot be changed."
                )
            # The duration runs from the update: how much longer the contact stays sendable.
            minutes = contacts.expiry_minutes(None, {key: value}, expiry)
            values["expires_at"] = now + minutes * 60
        elif key.startswith(SYSTEM_PREFIXES):
            raise invalid_request(
                f"Segment attribute {key[:128]} is set by the system; UpdateContact updates "
                f"only {contacts.EXPIRY_ATTRIBUTE} and user-defined attributes."
            )
        elif not contacts.ATTRIBUTE_KEY.match(key):
            raise invalid_request(
                f"Segment attribute key {key[:128]!r} may contain only alphanumeric, dash and "
                "underscore characters."
            )
        elif set(value) != {"ValueString"}:
            raise invalid_request(
                f"User-defined segment attribute {key} must be a string (ValueString)."
            )
    values["segment_attributes"] = dumps({**loads(row.segment_attributes), **given})
    return values


def _recipients(row: Record, given: dict[str, Any], now: float, max_cc: int) -> str:
    """An unsent outbound email's CC recipients (an empty list clears them). Those of an email
    that was sent or received are what it was sent to, and stay."""
    if row.channel != "EMAIL":
        raise invalid_request(f"Contact {row.id} is a {row.channel} contact, not EMAIL.")
    if row.initiation_method not in contacts.SENDABLE_METHODS:
        raise invalid_request(
            f"Contact {row.id} is a received email; its recipients are those it was sent to."
        )
    if row.state == contacts.SENT:
        raise invalid_request(
            f"Contact {row.id} has been sent; its recipients are those it was sent to."
        )
    if not contacts.is_active(row, now):
        raise invalid_request(f"Contact {row.id} is no longer active.")
    if len(given.get("CcEmailAddresses", [])) > max_cc:
        # The send that takes them has its destination too: no send could go to more.
        raise invalid_request(
            f"An email can have at most {max_cc} CC recipients besides its destination; "
            f"{len(given['CcEmailAddresses'])} were given."
        )
    cc = []
    member = "AdditionalRecipients.CcEmailAddresses"
    for address in given.get("CcEmailAddresses", []):
        # Held to the rules of a send's recipients, which these become when the agent sends.
        recipient = {"Address": checked_address(address["EmailAddress"], f"{member}.EmailAddress")}
        if address.get("DisplayName"):
            recipient["DisplayName"] = checked_text(address["DisplayName"], f"{member}.DisplayName")
        cc.append(recipient)
    return dumps({"CcList": cc} if cc else {})


def save_draft(
    connection: Connection, instance: Record, params: dict[str, Any], now: float
) -> dict[str, Any]:
    """UpdateOutboundEmailContactMessage: the body of an outbound email or reply not sent yet,
    kept on its contact until the send (which clears it) and readable meanwhile as the
    contact's EMAIL_MESSAGE (`sent_files.draft_files`)."""
    row = contacts.hold(connection, instance, params["ContactId"])
    contacts.check_sendable(row, now, DRAFTED_METHODS, action="drafted")
    raw = params["EmailMessage"]["RawMessage"]
    if raw["ContentType"] not in CONTENT_TYPES:
        raise invalid_request(
            f"ContentType must be text/plain or text/html, not {raw['ContentType'][:100]!r}."
        )
    draft = {"Body": raw["Body"], "ContentType": raw["ContentType"], "SavedAt": now}
    connection.execute(
        update(contacts_table)
        .where(contacts_table.c.id == row.id)
        .values(draft=dumps(draft), updated_at=now)
    )
    return {"ContactId": row.id}


def associate_user(
    connection: Connection, instance: Record, params: dict[str, Any], now: float
) -> None:
    """AssociateContactWithUser: the agent (a user's id, or its ARN) a contact waiting for one
    is given: DescribeContact's AgentInfo, SearchContacts' AgentIds. connectmail keeps no
    users, so any id is taken; a contact that has ended waits for no one."""
    row = contacts.hold(connection, instance, params["ContactId"])
    if not contacts.is_active(row, now):
        raise invalid_request(f"Contact {row.id} has ended; only an ongoing contact takes a user.")
    user_id = contacts.user_id_of(instance, params["UserId"])
    connection.execute(
        update(contacts_table)
        .where(contacts_table.c.id == row.id)
        .values(user_id=user_id, updated_at=now)
    )


def tag(connection: Connection, instance: Record, identifier: str, tags: dict[str, str]) -> None:
    row = contacts.hold(connection, instance, identifier)
    merged = {**loads(row.tags), **tags}
    if len(merged) > MAX_CONTACT_TAGS:
        raise ServiceError(
            "InvalidParameterException",
            f"A contact can have at most {MAX_CONTACT_TAGS} user-defined tags; contact "
            f"{row.id} would have {len(merged)}.",
        )
    _set_tags(connection, row, merged)


def untag(connection: Connection, instance: Record, identifier: str, keys: list[str]) -> None:
    row = contacts.hold(connection, instance, identifier)
    removed = set(keys)
    _set_tags(connection, row, {k: v for k, v in loads(row.tags).items() if k not in removed})


def _set_tags(connection: Connection, row: Record, tags: dict[str, str]) -> None:
    # Tags are billing's, not the contact's: they leave LastUpdateTimestamp as it is.
    connection.execute(
        update(contacts_table).where(contacts_table.c.id == row.id).values(tags=dumps(tags))
    )
