"""Contacts: creating them (CreateContact), describing them, stopping them, and their expiry.

An email contact made by CreateContact is a draft until StartOutboundEmailContact sends it;
once sent it is ended, as in Amazon Connect. An unsent contact expires after its expiry
duration and can no longer be sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from connectmail.domain import arns, instances
from connectmail.errors import ServiceError, invalid_request
from connectmail.jsontext import dumps, loads
from connectmail.store.prepared import for_rows
from connectmail.store.tables import Record, contacts, messages

CREATED = "CREATED"
SENT = "SENT"
ENDED = "ENDED"

# What CreateContact accepts, per channel (the API reference's list).
INITIATION_METHODS = {
    "EMAIL": {"OUTBOUND", "AGENT_REPLY", "FLOW"},
    "VOICE": {"TRANSFER"},
    "TASK": {"API"},
}
SENDABLE_METHODS = frozenset({"OUTBOUND", "AGENT_REPLY", "FLOW"})
# The subtype CreateContact gives what it makes (the API reference), as connect:Subtype.
SUBTYPES = {"VOICE": "connect:ExternalAudio", "TASK": "connect:ExternalTask"}
SUBTYPE_ATTRIBUTE = "connect:Subtype"
# Voice contacts StopContact "does not work for" (the API reference).
UNSTOPPABLE_VOICE_METHODS = frozenset(
    {"DISCONNECT", "TRANSFER", "QUEUE_TRANSFER", "EXTERNAL_OUTBOUND", "MONITOR"}
)
EMAIL_REFERENCE_TYPES = frozenset({"URL", "NUMBER", "STRING", "DATE"})
TASK_REFERENCE_TYPES = frozenset({"URL", "NUMBER", "STRING", "DATE", "EMAIL", "ATTACHMENT"})
ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9_-]+\Z")  # \Z: `$` also takes a final newline
MAX_ATTRIBUTE_BYTES = 32_768
MAX_REFERENCE_BYTES = 4_096  # across all references of a contact (the Reference shape)
EXPIRY_ATTRIBUTE = "connect:ContactExpiry"
SUBJECT_ATTRIBUTE = "connect:EmailSubject"
DELIVERY_ATTRIBUTE = "connectmail:DeliveryStatus"
CONNECTMAIL_PREFIX = "connectmail:"


@dataclass(frozen=True)
class ExpiryPolicy:
    """How long an unsent email contact stays sendable (minutes)."""

    default_minutes: int = 14 * 24 * 60
    max_minutes: int = 90 * 24 * 60


def create(
    connection: Connection,
    instance: Record,
    params: dict[str, Any],
    now: float,
    expiry: ExpiryPolicy,
    active_quota: int | None = None,
) -> dict[str, Any]:
    channel, method = params["Channel"], params["InitiationMethod"]
    allowed = INITIATION_METHODS.get(channel)
    if allowed is None:
        raise invalid_request(f"CreateContact does not support the {channel} channel.")
    if method not in allowed:
        raise invalid_request(
            f"InitiationMethod {method} is not supported for the {channel} channel; "
            f"use one of {', '.join(sorted(allowed))}."
        )
    user_id = (params.get("UserInfo") or {}).get("UserId")
    if user_id is not None:
        user_id = user_id_of(instance, user_id)
    if channel == "EMAIL" and method in ("OUTBOUND", "AGENT_REPLY") and not user_id:
        raise invalid_request(f"UserInfo is required for EMAIL contacts initiated by {method}.")
    if params.get("InitiateAs") == "COMPLETED" and channel != "TASK":
        raise invalid_request("Only TASK contacts can be initiated as COMPLETED.")
    if params.get("PreviousContactId") and channel != "VOICE":
        raise invalid_request(
            "PreviousContactId can be provided only for external audio (VOICE) contacts."
        )
    related = None
    if params.get("RelatedContactId"):
        related = require(connection, instance, params["RelatedContactId"])
    if method == "AGENT_REPLY":
        if related is None:
            raise invalid_request("RelatedContactId is required for AGENT_REPLY contacts.")
        if related.channel != "EMAIL":
            raise invalid_request("The related contact of an AGENT_REPLY must be an EMAIL contact.")
    attributes = dict(loads(related.attributes)) if related is not None else {}
    attributes.update(params.get("Attributes", {}))
    check_attributes(attributes)
    references = params.get("References", {})
    check_references(references, reference_types(channel))
    segment_attributes = check_segment_attributes(params.get("SegmentAttributes", {}))
    if channel in SUBTYPES:
        segment_attributes.setdefault(SUBTYPE_ATTRIBUTE, {"ValueString": SUBTYPES[channel]})
    minutes = expiry_minutes(params.get("ExpiryDurationInMinutes"), segment_attributes, expiry)
    completed = params.get("InitiateAs") == "COMPLETED"
    if channel == "EMAIL" and active_quota is not None:
        check_active_quota(connection, instance, now, active_quota)
    contact_id = arns.new_id()
    arn = arns.instance_child_arn(instance.arn, "contact", contact_id)
    connection.execute(
        insert(contacts).values(
            id=contact_id,
            instance_id=instance.id,
            account_id=instance.account_id,
            arn=arn,
            channel=channel,
            initiation_method=method,
            state=ENDED if completed else CREATED,
            name=params.get("Name"),
            description=params.get("Description"),
            related_contact_id=related.id if related is not None else None,
            initial_contact_id=(related.initial_contact_id or related.id)
            if related is not None
            else None,
            previous_contact_id=params.get("PreviousContactId"),
            user_id=user_id,
            attributes=dumps(attributes),
            references=dumps(references),
            segment_attributes=dumps(segment_attributes),
            initiated_at=now,
            updated_at=now,
            disconnected_at=now if completed else None,
            expires_at=now + minutes * 60,
        )
    )
    return {"ContactId": contact_id, "ContactArn": arn}


def check_active_quota(connection: Connection, instance: Record, now: float, quota: int) -> None:
    """At most `quota` email contacts of an instance may be active (not sent, ended, expired).

    Received (INBOUND) contacts wait for agents and do not count: mail keeps arriving whether
    or not agents keep up, and it must not stop them from replying.
    """
    instances.hold(connection, instance)
    active = connection.execute(
        select(func.count())
        .select_from(contacts)
        .where(
            (contacts.c.instance_id == instance.id)
            & (contacts.c.channel == "EMAIL")
            & contacts.c.initiation_method.in_(sorted(SENDABLE_METHODS))
            & (contacts.c.state == CREATED)
            & (contacts.c.expires_at > now)
        )
    ).scalar_one()
    if active >= quota:
        raise ServiceError(
            "ServiceQuotaExceededException",
            f"Instance {instance.id} already has {active} active email contacts (quota {quota}).",
        )


def expiry_minutes(
    requested: int | None, segment_attributes: dict[str, Any], policy: ExpiryPolicy
) -> int:
    from_segment = None
    if EXPIRY_ATTRIBUTE in segment_attributes:
        # "A ValueMap must be specified containing the integer number of minutes": anything
        # else is refused, not taken as no expiry (the default's 14 days).
        value = segment_attributes[EXPIRY_ATTRIBUTE] or {}
        from_segment = ((value.get("ValueMap") or {}).get("ExpiryDuration") or {}).get(
            "ValueInteger"
        )
        if from_segment is None:
            raise invalid_request(
                f"Segment attribute {EXPIRY_ATTRIBUTE} must be a ValueMap with ExpiryDuration "
                'as ValueInteger minutes: {"ValueMap": {"ExpiryDuration": {"ValueInteger": 135}}}.'
            )
    minutes = requested if requested is not None else from_segment
    if minutes is None:
        return policy.default_minutes
    if not 1 <= minutes <= policy.max_minutes:
        raise invalid_request(
            f"The contact expiry must be between 1 and {policy.max_minutes} minutes."
        )
    return int(minutes)


def check_segment_attributes(segment_attributes: dict[str, Any]) -> dict[str, Any]:
    """Segment attributes a caller gives: none of those connectmail itself sets (its
    `connectmail:` ones say what happened to the email, and only it knows)."""
    for key in segment_attributes:
        if key.startswith(CONNECTMAIL_PREFIX):
            raise invalid_request(
                f"Segment attribute {key[:128]} is set by connectmail; it cannot be given."
            )
    return dict(segment_attributes)


def check_attributes(attributes: dict[str, str]) -> None:
    total = 0
    for key, value in attributes.items():
        if not ATTRIBUTE_KEY.match(key):
            raise invalid_request(
                f"Attribute key {key[:64]!r} may contain only alphanumeric, dash and underscore "
                "characters."
            )
        total += len(key.encode()) + len(value.encode())
    if total > MAX_ATTRIBUTE_BYTES:
        raise invalid_request(f"Attributes exceed {MAX_ATTRIBUTE_BYTES} UTF-8 bytes in total.")


def reference_types(channel: str) -> frozenset[str]:
    """The types of reference a contact of the channel can be given."""
    return EMAIL_REFERENCE_TYPES if channel == "EMAIL" else TASK_REFERENCE_TYPES


def check_references(
    references: dict[str, Any], allowed: frozenset[str], given: Iterable[str] | None = None
) -> None:
    """The types of the references `given` (all, unless named) and the size of them all."""
    for key in references if given is None else given:
        reference = references[key]
        if reference["Type"] not in allowed:
            raise invalid_request(
                f"Reference {key[:64]!r} has type {reference['Type']}, which cannot be set "
                f"on a contact; use one of {', '.join(sorted(allowed))}."
            )
    total = 0
    for key, reference in references.items():
        # Counted as attributes are: every name and every value.
        total += len(key.encode()) + len((reference.get("Value") or "").encode())
    if total > MAX_REFERENCE_BYTES:
        raise invalid_request(f"References exceed {MAX_REFERENCE_BYTES} UTF-8 bytes in total.")


def require(
    connection: Connection,
    instance: Record,
    identifier: str,
    code: str = "ResourceNotFoundException",
) -> Record:
    contact_id = arns.resource_id(identifier, "contact")
    row = connection.execute(
        select(contacts).where(
            (contacts.c.id == contact_id) & (contacts.c.instance_id == instance.id)
        )
    ).first()
    if row is None or not arns.names(identifier, row.arn):
        raise ServiceError(code, f"Contact not found: {identifier}")
    return row


def user_id_of(instance: Record, identifier: str) -> str:
    """The id of a user given by id or ARN. An ARN names a user of the contact's instance
    (`INSTANCE_ARN/agent/ID`): another instance's or account's user, or another kind of
    resource, is no user a contact can be given. An id is taken as given (no users here)."""
    if not identifier.startswith("arn:"):
        return identifier
    prefix = f"{instance.arn}/agent/"
    user_id = identifier.removeprefix(prefix)
    if not identifier.startswith(prefix) or not user_id or "/" in user_id:
        raise ServiceError("ResourceNotFoundException", f"User not found: {identifier}")
    return user_id


def hold(
    connection: Connection,
    instance: Record,
    identifier: str,
    code: str = "ResourceNotFoundException",
) -> Record:
    """The contact, as `require` finds it, read again and held until the transaction ends:
    two changes at once each see the other's (a send, an update of its attributes, tags or
    recipients), and a change decided on the row's state sees the state it changes."""
    row = require(connection, instance, identifier, code)
    held: Record = connection.execute(
        select(contacts).where(contacts.c.id == row.id).with_for_update(key_share=True)
    ).one()
    return held


def ended_at(row: Any, now: float) -> float | None:
    """When the contact ended: stopped or sent, or when an unsent one expired."""
    if row.disconnected_at is None and row.state == CREATED and row.expires_at <= now:
        return float(row.expires_at)
    return None if row.disconnected_at is None else float(row.disconnected_at)


def is_active(row: Record, now: float) -> bool:
    return bool(row.state == CREATED and row.expires_at > now)


def check_sendable(
    row: Any, now: float, methods: frozenset[str] = SENDABLE_METHODS, action: str = "sent"
) -> None:
    """An email contact made for sending (by one of `methods`) that has not been sent,
    stopped or expired."""
    if row.channel != "EMAIL":
        raise invalid_request(f"Contact {row.id} is a {row.channel} contact, not EMAIL.")
    if row.initiation_method not in methods:
        raise invalid_request(
            f"Contact {row.id} was initiated by {row.initiation_method}; only "
            f"{', '.join(sorted(methods))} email contacts can be {action}."
        )
    if row.state == SENT:
        raise invalid_request(f"Contact {row.id} has already been sent.")
    if row.state == ENDED:
        raise invalid_request(f"Contact {row.id} has ended.")
    if row.expires_at <= now:
        raise invalid_request(f"Contact {row.id} has expired.")


MARK_SENT = for_rows(
    update(contacts)
    .where((contacts.c.id == bindparam("contact_id")) & (contacts.c.state == CREATED))
    .values(
        state=SENT,
        segment_attributes=bindparam("segment_attributes"),
        customer_endpoint=bindparam("customer_endpoint"),
        system_endpoint=bindparam("system_endpoint"),
        additional_recipients=bindparam("additional_recipients"),
        draft=None,  # what was sent is the email now: GetAttachedFile reads it
        updated_at=bindparam("now"),
        disconnected_at=bindparam("now"),
    ),
    key=contacts.c.id,
)


def mark_sent_values(
    row: Any,
    now: float,
    *,
    subject: str,
    customer: dict[str, Any],
    system: dict[str, Any],
    recipients: dict[str, Any],
) -> dict[str, Any]:
    """The parameters of MARK_SENT for the contact `row`."""
    segment_attributes = loads(row.segment_attributes)
    segment_attributes[SUBJECT_ATTRIBUTE] = {"ValueString": subject[:1024]}
    return {
        "contact_id": row.id,
        "segment_attributes": dumps(segment_attributes),
        "customer_endpoint": dumps(customer),
        "system_endpoint": dumps(system),
        "additional_recipients": dumps(recipients),
        "now": now,
    }


def mark_sent(connection: Connection, row: Any, values: dict[str, Any]) -> None:
    """Mark an unsent contact sent (and ended); refused if it was sent meanwhile."""
    if MARK_SENT.rowcount(connection, values) != 1:
        raise invalid_request(f"Contact {row.id} has already been sent.")


def stop(connection: Connection, instance: Record, params: dict[str, Any], now: float) -> None:
    row = require(connection, instance, params["ContactId"], code="ContactNotFoundException")
    if row.channel == "VOICE" and row.initiation_method in UNSTOPPABLE_VOICE_METHODS:
        raise invalid_request(
            f"StopContact does not work for VOICE contacts initiated by {row.initiation_method}."
        )
    if not is_active(row, now):
        raise ServiceError("ContactNotFoundException", f"Contact {row.id} is not active.")
    reason = (params.get("DisconnectReason") or {}).get("Code")
    stopped = connection.execute(
        update(contacts)
        .where((contacts.c.id == row.id) & (contacts.c.state == CREATED))
        .values(state=ENDED, disconnected_at=now, updated_at=now, disconnect_reason=reason)
    )
    # A send or a stop that committed after the row was read has ended it: this stop stops
    # nothing, and says so (PostgreSQL's UPDATE waits for that transaction and then finds the
    # row no longer CREATED).
    if stopped.rowcount != 1:
        raise ServiceError("ContactNotFoundException", f"Contact {row.id} is not active.")


def describe(connection: Connection, row: Record, now: float) -> dict[str, Any]:
    segment_attributes = loads(row.segment_attributes)
    delivery = connection.execute(
        select(messages.c.status, messages.c.last_error)
        .where((messages.c.contact_id == row.id) & (messages.c.direction == "OUTBOUND"))
        .order_by(messages.c.accepted_at.desc())
        .limit(1)
    ).first()
    if delivery is not None:
        segment_attributes[DELIVERY_ATTRIBUTE] = {"ValueString": delivery.status}
        if delivery.last_error:
            segment_attributes["connectmail:DeliveryError"] = {
                "ValueString": delivery.last_error[:1024]
            }
    disconnected_at, reason = row.disconnected_at, row.disconnect_reason
    updated_at = row.updated_at
    if row.state == CREATED and row.expires_at <= now:
        # Expiring ends the contact, and that is its last update, as a stop or a send is.
        disconnected_at, reason = row.expires_at, "EXPIRED"
        updated_at = max(updated_at, row.expires_at)
    recipients = loads(row.additional_recipients) or {}
    return {
        "Arn": row.arn,
        "Id": row.id,
        "InitialContactId": row.initial_contact_id,
        "PreviousContactId": row.previous_contact_id,
        "RelatedContactId": row.related_contact_id,
        "InitiationMethod": row.initiation_method,
        "Name": row.name,
        "Description": row.description,
        "Channel": row.channel,
        "QueueInfo": {"Id": row.queue_id} if row.queue_id else None,
        "AgentInfo": {"Id": row.user_id} if row.user_id else None,
        "InitiationTimestamp": time_of(row.initiated_at),
        "LastUpdateTimestamp": time_of(updated_at),
        "DisconnectTimestamp": time_of(disconnected_at),
        "DisconnectReason": reason,
        "CustomerEndpoint": loads(row.customer_endpoint),
        "SystemEndpoint": loads(row.system_endpoint),
        "AdditionalEmailRecipients": recipients or None,
        "SegmentAttributes": segment_attributes or None,
        "Attributes": loads(row.attributes) or None,
        "Tags": loads(row.tags) or None,
    }


def time_of(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)
