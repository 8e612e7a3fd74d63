"""StartOutboundEmailContact: check the request, then accept the email for delivery.

Accepting updates the contact, stores the message and queues an outbox row in one
transaction; the delivery worker composes and sends it afterwards. The message is stored as
what was asked for (addresses, subject, bodies, threading), with its Message-ID and Date fixed
at acceptance, so every delivery attempt produces the same message.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select

from connectmail.domain import arns, attached_files, contacts, email_addresses, instances
from connectmail.errors import ServiceError, invalid_request
from connectmail.jsontext import dumps, loads
from connectmail.mail.addresses import checked_address, checked_text, envelope_address
from connectmail.mail.threading import reply_subject
from connectmail.store.prepared import Prepared, for_rows
from connectmail.store.tables import CONTACT_COLUMNS, messages, outbox
from connectmail.store.tables import contacts as contacts_table
from connectmail.store.tables import email_addresses as email_addresses_table
from connectmail.store.tables import instances as instances_table
from connectmail.store.tables_inbound import attached_files as files_table
from connectmail.templates import attachments as template_attachments
from connectmail.templates.attachments import TemplateAttachment

CONTENT_TYPES = ("text/plain", "text/html")


@dataclass(frozen=True)
class Mailbox:
    address: str
    name: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"address": self.address, "name": self.name}


@dataclass(frozen=True)
class Content:
    """What the email says: subject, bodies, and from a template any extra headers and the
    template's attachments."""

    subject: str
    text: str | None = None
    html: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    attachments: tuple[TemplateAttachment, ...] = ()


@dataclass(frozen=True)
class OutboundRequest:
    """A StartOutboundEmailContact request that passed every check needing no state."""

    instance_id: str
    contact_id: str
    sender: Mailbox | None
    to: Mailbox
    cc: tuple[Mailbox, ...]
    message: dict[str, Any]
    content: Content | None = None


@dataclass(frozen=True)
class OutboundPolicy:
    max_recipients: int = 50
    default_from: frozenset[str] = frozenset()


def check_recipients(cc: int, policy: OutboundPolicy, where: str) -> None:
    """The destination and `cc` CC recipients (named in `where`) within the policy's limit."""
    if 1 + cc > policy.max_recipients:
        raise ServiceError(
            "ServiceQuotaExceededException",
            f"An email can have at most {policy.max_recipients} recipients: 1 in "
            f"DestinationEmailAddress and up to {policy.max_recipients - 1} in "
            f"{where}; this one has {1 + cc}.",
        )


def prepare(params: dict[str, Any], policy: OutboundPolicy) -> OutboundRequest:
    """Check what can be checked without the database; RAW content is final here."""
    to = _mailbox(params["DestinationEmailAddress"], "DestinationEmailAddress")
    cc = tuple(
        _mailbox(item, f"AdditionalRecipients.CcEmailAddresses.{n + 1}")
        for n, item in enumerate(
            (params.get("AdditionalRecipients") or {}).get("CcEmailAddresses", [])
        )
    )
    check_recipients(len(cc), policy, "CcEmailAddresses")
    sender = None
    if params.get("FromEmailAddress"):
        sender = _mailbox(params["FromEmailAddress"], "FromEmailAddress")
    message = params["EmailMessage"]
    source = message["MessageSourceType"]
    content = None
    if source == "RAW":
        if "TemplatedMessageConfig" in message:
            raise invalid_request("TemplatedMessageConfig cannot be used with a RAW message.")
        raw = message.get("RawMessage")
        if raw is None:
            raise invalid_request("RawMessage is required when MessageSourceType is RAW.")
        if raw["ContentType"] not in CONTENT_TYPES:
            raise invalid_request(
                f"ContentType must be text/plain or text/html, not {raw['ContentType'][:100]!r}."
            )
        subject = checked_text(raw["Subject"], "EmailMessage.RawMessage.Subject")
        if raw["ContentType"] == "text/html":
            content = Content(subject=subject, html=raw["Body"])
        else:
            content = Content(subject=subject, text=raw["Body"])
    elif "RawMessage" in message:
        raise invalid_request("RawMessage cannot be used with a TEMPLATE message.")
    elif "TemplatedMessageConfig" not in message:
        raise invalid_request(
            "TemplatedMessageConfig is required when MessageSourceType is TEMPLATE."
        )
    return OutboundRequest(
        instance_id=params["InstanceId"],
        contact_id=params["ContactId"],
        sender=sender,
        to=to,
        cc=cc,
        message=message,
        content=content,
    )


def with_drafted_cc(
    request: OutboundRequest, contact: Any, policy: OutboundPolicy
) -> OutboundRequest:
    """A send that names no CC recipients goes to those the unsent contact was given
    (UpdateContact's AdditionalRecipients, which its draft shows); one that names any, to
    those alone."""
    if request.cc or contact.state != contacts.CREATED or not contact.additional_recipients:
        return request
    drafted = (loads(contact.additional_recipients) or {}).get("CcList", [])
    if not drafted:
        return request
    check_recipients(len(drafted), policy, f"the CC recipients contact {contact.id} was given")
    cc = tuple(Mailbox(r["Address"], r.get("DisplayName")) for r in drafted)
    return replace(request, cc=cc)


def _mailbox(value: dict[str, Any], member: str) -> Mailbox:
    address = checked_address(value["EmailAddress"], f"{member}.EmailAddress")
    name = value.get("DisplayName")
    if name is not None:
        checked_text(name, f"{member}.DisplayName")
    return Mailbox(address, name or None)


@dataclass(frozen=True)
class Acceptance:
    """What `accept` found in the store, for renderers that need it before sending."""

    contact: Any  # a contacts row (with `pending_uploads` when read by the fast path)
    sender: Mailbox


# The instance, the contact, the sender address and any pending uploads in one read: the
# common case of a well-formed request. When it finds nothing, the slow path says why.
# Uploads waiting to go out with the contact's email (none, nearly always).
PENDING_UPLOADS = (
    select(func.count())
    .select_from(files_table)
    .where(
        (files_table.c.contact_id == contacts_table.c.id)
        & (files_table.c.origin == attached_files.UPLOAD)
        & (files_table.c.status != attached_files.DELETED)
        & files_table.c.message_id.is_(None)
    )
    .scalar_subquery()
)
_RESOLVE = Prepared(
    select(
        *CONTACT_COLUMNS,
        email_addresses_table.c.address.label("sender_address"),
        email_addresses_table.c.display_name.label("sender_name"),
        PENDING_UPLOADS.label("pending_uploads"),
    )
    .select_from(
        contacts_table.join(
            instances_table, instances_table.c.id == contacts_table.c.instance_id
        ).outerjoin(
            email_addresses_table,
            (email_addresses_table.c.instance_id == instances_table.c.id)
            & (email_addresses_table.c.address == bindparam("sender")),
        )
    )
    .where(
        (contacts_table.c.id == bindparam("contact_id"))
        & (instances_table.c.id == bindparam("instance_id"))
        & (instances_table.c.account_id == bindparam("account_id"))
        & (instances_table.c.region == bindparam("region"))
        & (instances_table.c.status != instances.DELETED)
    )
    # On PostgreSQL the contact is locked until the send commits, waiting for a transaction
    # that holds it; the checks below then see what that transaction committed.
    .with_for_update(of=contacts_table, key_share=True)
)
_THREAD_PARENT = Prepared(
    select(messages.c.rfc_message_id, messages.c.thread_references)
    .where(messages.c.contact_id == bindparam("contact_id"))
    .order_by(messages.c.accepted_at.desc())
    .limit(1)
)
INSERT_MESSAGE = for_rows(insert(messages))
INSERT_OUTBOX = for_rows(insert(outbox))


def resolve(
    connection: Connection,
    account_id: str,
    region: str,
    request: OutboundRequest,
    policy: OutboundPolicy,
    now: float,
) -> Acceptance:
    """Check the instance, the contact and the sender against the store."""
    contact = _RESOLVE.record(
        connection,
        {
            "contact_id": arns.resource_id(request.contact_id, "contact"),
            "instance_id": arns.resource_id(request.instance_id, "instance"),
            "account_id": account_id,
            "region": region,
            "sender": request.sender.address.lower() if request.sender else "",
        },
    )
    if contact is None or not _named(request, contact.arn):  # say which of them is missing
        instance = instances.require(connection, account_id, region, request.instance_id)
        contacts.require(connection, instance, request.contact_id)
        raise AssertionError("the contact was found on the slow path only")
    contacts.check_sendable(contact, now)
    if request.sender is not None:
        if contact.sender_address is None:
            raise invalid_request(
                f"FromEmailAddress {request.sender.address} is not an email address of "
                f"instance {contact.instance_id}."
            )
        sender = Mailbox(contact.sender_address, request.sender.name or contact.sender_name)
    else:
        instance = instances.require(connection, account_id, region, contact.instance_id)
        row = email_addresses.default_outbound(connection, instance, policy.default_from)
        if row is None:
            raise invalid_request(
                f"FromEmailAddress is not given and instance {instance.id} has no email "
                "address to send from."
            )
        sender = Mailbox(row.address, row.display_name)
    return Acceptance(contact, sender)


def _named(request: OutboundRequest, contact_arn: str) -> bool:
    """Whether the request's ContactId and InstanceId, IDs or ARNs, name the contact."""
    instance_arn = contact_arn.rsplit("/contact/", 1)[0]
    return arns.names(request.contact_id, contact_arn) and arns.names(
        request.instance_id, instance_arn
    )


@dataclass(frozen=True)
class Accepted:
    """The rows an accepted email writes, and the answer to give."""

    message: dict[str, Any]  # a messages row
    outbox: dict[str, Any]  # its outbox row
    contact: dict[str, Any]  # what marks the contact sent (contacts.mark_sent_values)
    answer: dict[str, Any]


def accept(
    connection: Connection,
    found: Acceptance,
    request: OutboundRequest,
    content: Content,
    now: float,
) -> dict[str, Any]:
    """Store the message and queue it; mark the contact sent. Runs in one transaction."""
    contact = found.contact
    parent = None
    if contact.related_contact_id:
        row = _THREAD_PARENT.first(connection, {"contact_id": contact.related_contact_id})
        if row is not None:
            parent = (str(row[0]), list(loads(row[1])))
    outgoing = (
        attached_files.outgoing(connection, contact)
        if contact.get("pending_uploads", 1)
        else attached_files.NOTHING_OUTGOING
    )
    count = len(outgoing.file_ids) + len(content.attachments)
    if count > attached_files.MAX_ATTACHMENTS:  # the contact's uploads and the template's
        raise attached_files.too_many(count)
    accepted = build(found, request, content, now, parent=parent, outgoing=outgoing)
    INSERT_MESSAGE.run(connection, accepted.message)
    INSERT_OUTBOX.run(connection, accepted.outbox)
    attached_files.record_sent(connection, accepted.message["id"], outgoing, now)
    if content.attachments:
        template_attachments.record_sent(connection, accepted.message["id"], content.attachments)
    contacts.mark_sent(connection, contact, accepted.contact)
    return accepted.answer


def build(
    found: Acceptance,
    request: OutboundRequest,
    content: Content,
    now: float,
    *,
    parent: tuple[str, list[str]] | None,
    outgoing: attached_files.Outgoing,
) -> Accepted:
    """The rows of an accepted email. `parent` is the Message-ID and References of the email
    the contact answers, if any."""
    contact = found.contact
    in_reply_to, references, subject = None, [], content.subject
    if parent is not None:
        in_reply_to = parent[0]
        references = [*parent[1], parent[0]]
    if contact.related_contact_id and contact.initiation_method == "AGENT_REPLY":
        subject = reply_subject(subject)
    message_id = arns.new_id()
    domain = found.sender.address.rsplit("@", 1)[1]
    rfc_message_id = f"<{message_id}@{domain}>"
    spec = {
        "from": found.sender.as_json(),
        "to": [request.to.as_json()],
        "cc": [m.as_json() for m in request.cc],
        "subject": subject,
        "text": content.text,
        "html": content.html,
        "headers": [list(h) for h in content.headers],
        "message_id": rfc_message_id,
        "in_reply_to": in_reply_to,
        "references": references,
        "date": now,
    }
    if outgoing.file_ids or content.attachments:
        spec["attachments"] = [*outgoing.spec(), *(a.spec() for a in content.attachments)]
    # An address given twice (in To and Cc, or twice in Cc, its domain in any case) is one
    # recipient: one RCPT, one entry in the captured mailbox. The headers keep what was said.
    once: dict[str, str] = {}
    for address in (request.to.address, *(m.address for m in request.cc)):
        once.setdefault(envelope_address(address), address)
    recipients = list(once.values())
    return Accepted(
        message={
            "id": message_id,
            "contact_id": contact.id,
            "account_id": contact.account_id,
            "direction": "OUTBOUND",
            "rfc_message_id": rfc_message_id,
            "thread_references": dumps(references),
            "spec": dumps(spec),
            "status": "PENDING",
            "recipient_status": "{}",
            "attempts": 0,
            "last_error": None,
            "accepted_at": now,
            "finished_at": None,
        },
        outbox={
            "message_id": message_id,
            "due_at": now,
            "lease_owner": None,
            "lease_until": None,
            "attempts": 0,
            "recipients": dumps(recipients),
            "created_at": now,
        },
        contact=contacts.mark_sent_values(
            contact,
            now,
            subject=subject,
            customer=_endpoint(request.to),
            system=_endpoint(found.sender),
            recipients={"CcList": [_recipient(m) for m in request.cc]} if request.cc else {},
        ),
        answer={"ContactId": contact.id},
    )


def _endpoint(mailbox: Mailbox) -> dict[str, Any]:
    endpoint = {"Type": "EMAIL_ADDRESS", "Address": mailbox.address}
    if mailbox.name:
        endpoint["DisplayName"] = mailbox.name
    return endpoint


def _recipient(mailbox: Mailbox) -> dict[str, Any]:
    recipient = {"Address": mailbox.address}
    if mailbox.name:
        recipient["DisplayName"] = mailbox.name
    return recipient
