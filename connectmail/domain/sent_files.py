"""The files of an email we sent, or of one drafted and not sent yet: its message
(EMAIL_MESSAGE) and its text, made on demand.

A sent message is stored as what was asked for (its spec), with its Message-ID and Date fixed,
and composing it always gives the same bytes; so its files are composed again when someone asks
for them instead of being composed and stored while the request waits. Their ids are the
message's id with a suffix, which is how a FileId leads back to the message.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from connectmail.domain import arns
from connectmail.jsontext import loads
from connectmail.mail.compose import Attachment, compose, compose_draft, html_to_text
from connectmail.store.tables import Record, contacts, messages
from connectmail.store.tables_inbound import attached_files, file_contents
from connectmail.store.tables_templates import message_template_attachment_contents

MESSAGE_SUFFIX = "-message"
TEXT_SUFFIX = "-text"
MESSAGE_FILE_NAME = "message.eml"
PLAIN_TEXT_FILE_NAME = "message.txt"
# A message template's attachment sent with an email: MESSAGE_ID-attachment-ATTACHMENT_ID.
ATTACHMENT_INFIX = "-attachment-"
# A draft's files are named after its contact: a contact has one draft at a time.
DRAFT_SUFFIX = "-draft"
DRAFT_TEXT_SUFFIX = "-draft-text"
DRAFT_FILE_NAME = "draft.eml"
DRAFT_TEXT_FILE_NAME = "draft.txt"
PLAIN_TEXT_TYPE = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class SentFile:
    """Reads like a row of `attached_files` (the fields its views use), with its bytes."""

    id: str
    arn: str
    account_id: str
    associated_resource_arn: str
    use_case: str
    file_name: str
    content_type: str
    data: bytes
    created_at: float
    position: int
    status: str = "APPROVED"
    origin: str = "COMPOSED"
    created_by: str | None = None
    tags: str = "{}"
    message_id: str | None = None

    @property
    def size_bytes(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


_MESSAGE = select(messages.c.id, messages.c.spec, messages.c.accepted_at)


def _files(connection: Connection, contact: Record, message: Record) -> list[SentFile]:
    spec: dict[str, Any] = loads(message.spec)
    attachments = attachments_of(connection, spec)
    raw = compose(spec, attachments)
    names = (message.id + MESSAGE_SUFFIX, MESSAGE_FILE_NAME)
    text_names = (message.id + TEXT_SUFFIX, PLAIN_TEXT_FILE_NAME)
    files = _pair(contact, spec, raw, names, text_names, message.accepted_at, message.id)
    # A template's attachments are the email's own files too; the contact's uploads are
    # attached files of their own already.
    for position, (entry, attachment) in enumerate(
        zip(spec.get("attachments", ()), attachments, strict=True), start=2
    ):
        if "template_attachment_id" in entry:
            files.append(_attachment_file(contact, message, entry, attachment, position))
    return files


def _attachment_file(
    contact: Record,
    message: Record,
    entry: dict[str, Any],
    attachment: Attachment,
    position: int,
) -> SentFile:
    """A template attachment of the email (`entry` of its spec) as one of its files; its
    position counts after the message (0) and its text (1)."""
    file_id = message.id + ATTACHMENT_INFIX + entry["template_attachment_id"]
    instance_arn = contact.arn.rsplit("/contact/", 1)[0]
    return SentFile(
        file_id,
        arns.instance_child_arn(instance_arn, "file", file_id),
        contact.account_id,
        contact.arn,
        "ATTACHMENT",
        attachment.name,
        attachment.content_type,
        attachment.data,
        message.accepted_at,
        position,
        message_id=message.id,
    )


def _one_attachment(
    connection: Connection, contact: Record, message: Record, attachment_id: str
) -> SentFile | None:
    """A template attachment of the email, read alone: not the whole email composed."""
    entries = loads(message.spec).get("attachments", [])
    for position, entry in enumerate(entries, start=2):
        if entry.get("template_attachment_id") == attachment_id:
            (attachment,) = attachments_of(connection, {"attachments": [entry]})
            return _attachment_file(contact, message, entry, attachment, position)
    return None


def draft_files(contact: Record) -> list[SentFile]:
    """The files of the contact's draft (UpdateOutboundEmailContactMessage), if it has one."""
    if contact.draft is None:
        return []
    draft = loads(contact.draft)
    body = "html" if draft["ContentType"] == "text/html" else "text"
    cc = (loads(contact.additional_recipients) or {}).get("CcList", [])
    spec = {
        body: draft["Body"],
        "cc": [{"address": r["Address"], "name": r.get("DisplayName")} for r in cc],
        "date": draft["SavedAt"],
        "message_id": contact.id,
    }
    names = (contact.id + DRAFT_SUFFIX, DRAFT_FILE_NAME)
    text_names = (contact.id + DRAFT_TEXT_SUFFIX, DRAFT_TEXT_FILE_NAME)
    return _pair(contact, spec, compose_draft(spec), names, text_names, draft["SavedAt"], None)


def _pair(
    contact: Record,
    spec: dict[str, Any],
    raw: bytes,
    names: tuple[str, str],
    text_names: tuple[str, str],
    created_at: float,
    message_id: str | None,
) -> list[SentFile]:
    """The message's file and, when it has text, its plain-text file."""
    plain = spec.get("text")
    if plain is None and spec.get("html") is not None:
        plain = html_to_text(spec["html"])
    instance_arn = contact.arn.rsplit("/contact/", 1)[0]

    def made(
        file_id: str, use_case: str, name: str, kind: str, data: bytes, position: int
    ) -> SentFile:
        return SentFile(
            file_id,
            arns.instance_child_arn(instance_arn, "file", file_id),
            contact.account_id,
            contact.arn,
            use_case,
            name,
            kind,
            data,
            created_at,
            position,
            message_id=message_id,
        )

    file_id, name = names
    files = [made(file_id, "EMAIL_MESSAGE", name, "message/rfc822", raw, 0)]
    if plain:
        file_id, name = text_names
        files.append(
            made(file_id, "EMAIL_MESSAGE_PLAIN_TEXT", name, PLAIN_TEXT_TYPE, plain.encode(), 1)
        )
    return files


def attachments_of(connection: Connection, spec: dict[str, Any]) -> list[Attachment]:
    """The attachments a stored outbound spec names, with their bytes, in order: attached
    files by "file_id", message template attachments by "template_attachment_id" (named and
    typed by the entry: see `templates.attachments.TemplateAttachment.spec`)."""
    entries = spec.get("attachments", ())
    if not entries:
        return []
    files = _attached_files(connection, [a["file_id"] for a in entries if "file_id" in a])
    kept = _template_attachments(
        connection, [a["template_attachment_id"] for a in entries if "file_id" not in a]
    )
    attachments, missing = [], []
    for entry in entries:
        if "file_id" in entry:
            found = files.get(entry["file_id"])
        else:
            data = kept.get(entry["template_attachment_id"])
            found = None if data is None else Attachment(entry["name"], entry["content_type"], data)
        if found is None:
            missing.append(entry.get("file_id") or entry["template_attachment_id"])
        else:
            attachments.append(found)
    if missing:
        raise LookupError(f"attachment bytes missing for {', '.join(missing)}")
    return attachments


def _attached_files(connection: Connection, file_ids: list[str]) -> dict[str, Attachment]:
    if not file_ids:
        return {}
    rows = connection.execute(
        select(
            attached_files.c.id,
            attached_files.c.file_name,
            attached_files.c.content_type,
            file_contents.c.content,
        )
        .join(file_contents, file_contents.c.file_id == attached_files.c.id)
        .where(attached_files.c.id.in_(file_ids))
    ).all()
    return {row.id: Attachment(row.file_name, row.content_type, bytes(row.content)) for row in rows}


def _template_attachments(connection: Connection, attachment_ids: list[str]) -> dict[str, bytes]:
    if not attachment_ids:
        return {}
    contents = message_template_attachment_contents
    rows = connection.execute(
        select(contents.c.attachment_id, contents.c.content).where(
            contents.c.attachment_id.in_(attachment_ids)
        )
    ).all()
    return {row.attachment_id: bytes(row.content) for row in rows}


def of_contact(connection: Connection, contact: Record) -> list[SentFile]:
    """The files of every email sent on the contact, oldest first, then of its draft."""
    rows = connection.execute(
        _MESSAGE.where(
            (messages.c.contact_id == contact.id) & (messages.c.direction == "OUTBOUND")
        ).order_by(messages.c.accepted_at, messages.c.id)
    ).all()
    sent = [file for row in rows for file in _files(connection, contact, row)]
    return [*sent, *draft_files(contact)]


def find(connection: Connection, contact: Record, file_id: str) -> SentFile | None:
    """The sent or draft file `file_id` of the contact, or None when it names no such file."""
    if file_id in (contact.id + DRAFT_SUFFIX, contact.id + DRAFT_TEXT_SUFFIX):
        return next((f for f in draft_files(contact) if f.id == file_id), None)
    message_id = _message_of(file_id)
    if message_id is None:
        return None
    row = connection.execute(
        _MESSAGE.where(
            (messages.c.id == message_id)
            & (messages.c.contact_id == contact.id)
            & (messages.c.direction == "OUTBOUND")
        )
    ).first()
    if row is None:
        return None
    _, infix, attachment_id = file_id.partition(ATTACHMENT_INFIX)
    if infix:
        return _one_attachment(connection, contact, row, attachment_id)
    return next((f for f in _files(connection, contact, row) if f.id == file_id), None)


def _message_of(file_id: str) -> str | None:
    """The id of the sent message `file_id` would be a file of, from its shape."""
    for suffix in (MESSAGE_SUFFIX, TEXT_SUFFIX):
        if file_id.endswith(suffix):
            return file_id[: -len(suffix)]
    message_id, infix, _ = file_id.partition(ATTACHMENT_INFIX)
    return message_id if infix else None


def content(connection: Connection, account_id: str, file_id: str) -> SentFile | None:
    """The sent or draft file `file_id` of the account (for a download URL), or None."""
    for suffix in (DRAFT_SUFFIX, DRAFT_TEXT_SUFFIX):
        if file_id.endswith(suffix):
            contact = connection.execute(
                select(contacts).where(
                    (contacts.c.id == file_id[: -len(suffix)])
                    & (contacts.c.account_id == account_id)
                )
            ).first()
            if contact is not None:
                return find(connection, contact, file_id)
    message_id = _message_of(file_id)
    if message_id is None:
        return None
    row = connection.execute(
        select(contacts)
        .join(messages, messages.c.contact_id == contacts.c.id)
        .where(
            (messages.c.id == message_id)
            & (messages.c.account_id == account_id)
            & (messages.c.direction == "OUTBOUND")
        )
    ).first()
    return None if row is None else find(connection, row, file_id)
