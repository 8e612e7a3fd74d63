"""StartEmailContact: an inbound email contact made through the API rather than over SMTP.

The request's fields are composed into the RFC 5322 message a mail server would have received,
and that message is received like any other, so both ways give the same contact and files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from connectmail.domain import (
    arns,
    attached_files,
    contacts,
    email_addresses,
    inbound,
    instances,
)
from connectmail.domain.outbound import CONTENT_TYPES, Mailbox
from connectmail.errors import ServiceError, invalid_request
from connectmail.mail.addresses import checked_address, checked_text
from connectmail.mail.compose import Attachment, compose
from connectmail.mail.parse import ParsedEmail, message_ids, parse
from connectmail.store.tables import Record

MAX_RECIPIENTS = 50
# The informational headers of InboundRawMessage.Headers, as they appear in the message.
VERDICT_HEADERS = {
    "X_SES_SPAM_VERDICT": "X-SES-Spam-Verdict",
    "X_SES_VIRUS_VERDICT": "X-SES-Virus-Verdict",
}


@dataclass(frozen=True)
class AttachmentSource:
    name: str
    url: str


@dataclass(frozen=True)
class StartEmailRequest:
    """A StartEmailContact request that passed every check needing no state."""

    instance_id: str
    customer: Mailbox
    destination: str
    to: tuple[Mailbox, ...]
    cc: tuple[Mailbox, ...]
    subject: str
    text: str | None
    html: str | None
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]
    attachments: tuple[AttachmentSource, ...]
    fields: inbound.ContactFields


def prepare(params: dict[str, Any]) -> StartEmailRequest:
    customer = _mailbox(params["FromEmailAddress"], "FromEmailAddress")
    destination = checked_address(params["DestinationEmailAddress"], "DestinationEmailAddress")
    extra = params.get("AdditionalRecipients") or {}
    to = tuple(
        _mailbox(m, f"AdditionalRecipients.ToAddresses.{n + 1}")
        for n, m in enumerate(extra.get("ToAddresses", []))
    )
    cc = tuple(
        _mailbox(m, f"AdditionalRecipients.CcAddresses.{n + 1}")
        for n, m in enumerate(extra.get("CcAddresses", []))
    )
    if 1 + len(to) + len(cc) > MAX_RECIPIENTS:
        raise ServiceError(
            "ServiceQuotaExceededException",
            f"An email can have at most {MAX_RECIPIENTS} recipients: DestinationEmailAddress and "
            f"up to {MAX_RECIPIENTS - 1} in ToAddresses and CcAddresses together.",
        )
    raw = params["EmailMessage"].get("RawMessage")
    if raw is None:
        raise invalid_request("RawMessage is required when MessageSourceType is RAW.")
    if raw["ContentType"] not in CONTENT_TYPES:
        raise invalid_request(
            f"ContentType must be text/plain or text/html, not {raw['ContentType'][:100]!r}."
        )
    subject = checked_text(raw["Subject"], "EmailMessage.RawMessage.Subject")
    headers: dict[str, str] = raw.get("Headers") or {}
    message_id = None
    if "MESSAGE_ID" in headers:
        found = message_ids(headers["MESSAGE_ID"])
        if not found:
            raise invalid_request("Headers.MESSAGE_ID must be a message id such as <id@domain>.")
        message_id = found[0]
    replied = message_ids(headers.get("IN_REPLY_TO"))
    sources = tuple(
        AttachmentSource(a["FileName"], a["S3Url"]) for a in params.get("Attachments", [])
    )
    if len(sources) > attached_files.MAX_ATTACHMENTS:
        raise attached_files.too_many(len(sources))
    for source in sources:
        if attached_files.allowed_type(source.name) is None:
            raise attached_files.unsupported_type(source.name)
    html = raw["ContentType"] == "text/html"
    segment_attributes = contacts.check_segment_attributes(params.get("SegmentAttributes", {}))
    return StartEmailRequest(
        instance_id=params["InstanceId"],
        customer=customer,
        destination=destination,
        to=to,
        cc=cc,
        subject=subject,
        text=None if html else raw["Body"],
        html=raw["Body"] if html else None,
        message_id=message_id,
        in_reply_to=replied[0] if replied else None,
        references=tuple(message_ids(headers.get("REFERENCES"))),
        headers=tuple(
            (name, checked_text(headers[key], f"EmailMessage.RawMessage.Headers.{key}"))
            for key, name in VERDICT_HEADERS.items()
            if key in headers
        ),
        attachments=sources,
        fields=inbound.ContactFields(
            name=params.get("Name"),
            description=params.get("Description"),
            references=params.get("References", {}),
            attributes=params.get("Attributes", {}),
            segment_attributes=segment_attributes,
            related_contact_id=params.get("RelatedContactId"),
        ),
    )


def _mailbox(value: dict[str, Any], member: str) -> Mailbox:
    address = checked_address(value["EmailAddress"], f"{member}.EmailAddress")
    name = value.get("DisplayName")
    if name is not None:
        checked_text(name, f"{member}.DisplayName")
    return Mailbox(address, name or None)


def read_destination(
    connection: Connection, account_id: str, region: str, request: StartEmailRequest
) -> Record | None:
    """The request's destination address as the store holds it now; None when there is no
    such instance or address (the write says which, after its client token's check)."""
    try:
        instance = instances.require(connection, account_id, region, request.instance_id)
    except ServiceError:
        return None
    return email_addresses.find(connection, instance, request.destination)


@dataclass(frozen=True)
class Composed:
    """The message as `destination` (address, display name) receives it, and its parse."""

    destination: tuple[str, str | None]
    raw: bytes
    parsed: ParsedEmail


def compose_for(
    request: StartEmailRequest, destination: Record, attachments: list[Attachment], now: float
) -> Composed:
    """The message composed and parsed: the slow part of a start (an HTML body's plain text
    takes seconds for a large one), run before the write, outside the database's writer."""
    domain = destination.address.split("@", 1)[1]
    spec = {
        "from": request.customer.as_json(),
        "to": [
            Mailbox(destination.address, destination.display_name).as_json(),
            *(m.as_json() for m in request.to),
        ],
        "cc": [m.as_json() for m in request.cc],
        "subject": request.subject,
        "text": request.text,
        "html": request.html,
        "headers": [list(h) for h in request.headers],
        "message_id": request.message_id or f"<{arns.new_id()}@{domain}>",
        "in_reply_to": request.in_reply_to,
        "references": list(request.references),
        "date": now,
    }
    raw = compose(spec, attachments)
    return Composed((destination.address, destination.display_name), raw, parse(raw))


def start(
    connection: Connection,
    instance: Record,
    request: StartEmailRequest,
    attachments: list[Attachment],
    now: float,
    expiry: contacts.ExpiryPolicy,
    composed: Composed | None = None,
) -> dict[str, Any]:
    """Make the contact. `composed` is the message made before the write; it is made here
    when there is none, or when the destination changed since (its display name is in it)."""
    destination = email_addresses.find(connection, instance, request.destination)
    if destination is None:
        raise invalid_request(
            f"DestinationEmailAddress {request.destination} is not an email address of "
            f"instance {instance.id}."
        )
    if composed is None or composed.destination != (destination.address, destination.display_name):
        composed = compose_for(request, destination, attachments, now)
    contact_id = inbound.ingest(
        connection,
        instance,
        destination,
        composed.raw,
        composed.parsed,
        now,
        expiry,
        fields=request.fields,
    )
    return {"ContactId": contact_id}
