"""Attachments of message templates: files uploaded to the `$LATEST` draft, kept by versions.

CreateMessageTemplateAttachment adds one to the draft and DeleteMessageTemplateAttachment takes
it off; a version keeps, for good, what the draft had when it was made. The bytes are stored
once, however many versions keep them, and deleted when neither the draft, a version nor a
sent email (`record_sent`) holds them. Where AWS says nothing, the limits are those of one
email: only EMAIL templates take attachments, of the types and size attached files may have,
at most MAX_ATTACHMENTS of them and MAX_TOTAL_BYTES in all.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    bindparam,
    delete,
    exists,
    insert,
    literal,
    select,
    update,
)

from connectmail.domain import arns, attached_files
from connectmail.domain.file_urls import GET, TEMPLATE_ATTACHMENT, FileGrant, FileUrls, UrlSigner
from connectmail.jsontext import loads
from connectmail.store.tables import Record
from connectmail.store.tables_templates import (
    message_template_attachment_contents,
    message_template_attachment_uses,
    message_template_attachments,
    message_template_version_attachments,
    message_templates,
)
from connectmail.templates import content, identifiers, knowledge_bases
from connectmail.templates.errors import conflict, not_found, quota_exceeded, validation
from connectmail.templates.identifiers import Scope

if TYPE_CHECKING:
    from connectmail.templates.message_templates import Selected

ATTACHMENT = "ATTACHMENT"
EMAIL = "EMAIL"
MAX_ATTACHMENTS = attached_files.MAX_ATTACHMENTS  # an email carries at most 10
MAX_FILE_BYTES = attached_files.MAX_FILE_BYTES
# Amazon SES takes messages of up to 40 MB; base64 makes 25 MiB of files about 36 MB of
# message, which leaves room for the body.
MAX_TOTAL_BYTES = 25 * 1024 * 1024
URL_EXPIRY_SECONDS = attached_files.DEFAULT_URL_EXPIRY_SECONDS

_attachments = message_template_attachments
_contents = message_template_attachment_contents
_kept = message_template_version_attachments
_uses = message_template_attachment_uses


@dataclass(frozen=True)
class Upload:
    """A CreateMessageTemplateAttachment request's file, decoded and checked."""

    name: str
    content_type: str
    data: bytes
    sha256: str


def prepare(params: dict[str, Any]) -> Upload:
    """The checks that need no state, and the decoding: run before the write (and off the
    event loop: 20 MB of base64 take a while)."""
    name = params["name"]
    if params["contentDisposition"] != ATTACHMENT:
        raise validation(f"contentDisposition must be {ATTACHMENT}.")
    content_type = attached_files.allowed_type(name)
    if content_type is None:
        raise validation(
            f"The file type of {name!r} is not supported for attachments; use one of "
            + ", ".join(f".{e}" for e in sorted(attached_files.ALLOWED_TYPES))
            + "."
        )
    try:
        data = base64.b64decode(params["body"], validate=True)
    except (binascii.Error, ValueError):
        raise validation("The attachment body is not valid base64.") from None
    if not data:
        raise validation("The attachment body is empty.")
    if len(data) > MAX_FILE_BYTES:
        raise validation(
            f"{name!r} is {len(data)} bytes; an attachment can be at most {MAX_FILE_BYTES} bytes."
        )
    return Upload(name, content_type, data, hashlib.sha256(data).hexdigest())


@dataclass(frozen=True)
class Links:
    """Signs the download URLs of the attachments in one answer, for whoever asked."""

    urls: FileUrls
    signer: UrlSigner
    account_id: str
    host: str

    def view(self, row: Record, now: float) -> dict[str, Any]:
        """MessageTemplateAttachment, its URL fresh."""
        return self.fresh(
            {
                "attachmentId": row.id,
                "name": row.name,
                "contentDisposition": ATTACHMENT,
                "uploadedTime": _time(row.uploaded_at),
            },
            now,
        )

    def fresh(self, view: dict[str, Any], now: float) -> dict[str, Any]:
        """The view with a URL signed now (a client token's replay keeps the rest)."""
        expires_at = int(now + URL_EXPIRY_SECONDS)
        grant = FileGrant(
            self.account_id, view["attachmentId"], GET, expires_at, ATTACHMENT,
            kind=TEMPLATE_ATTACHMENT,
        )  # fmt: skip
        url = self.urls.url(self.signer, grant, self.host)
        return {**view, "url": url, "urlExpiry": _time(expires_at)}


# What listing reads: never the bytes.
_LISTED = (
    _attachments.c.id,
    _attachments.c.name,
    _attachments.c.content_type,
    _attachments.c.size_bytes,
    _attachments.c.sha256,
    _attachments.c.uploaded_at,
)
_ORDER = (_attachments.c.uploaded_at, _attachments.c.id)
_OF_DRAFT = (
    select(*_LISTED)
    .where(
        (_attachments.c.template_id == bindparam("template_id"))
        & _attachments.c.removed_at.is_(None)
    )
    .order_by(*_ORDER)
)
_OF_VERSION = (
    select(*_LISTED)
    .join(_kept, _kept.c.attachment_id == _attachments.c.id)
    .where(
        (_kept.c.template_id == bindparam("template_id"))
        & (_kept.c.version == bindparam("version"))
    )
    .order_by(*_ORDER)
)


# A send's reads hold the rows they found (FOR KEY SHARE on PostgreSQL) until it commits, so
# that a delete waits to see whether the send took them before it drops their bytes.
_TAKEN_FROM_DRAFT = _OF_DRAFT.with_for_update(read=True, key_share=True, of=_attachments)
_TAKEN_FROM_VERSION = _OF_VERSION.with_for_update(read=True, key_share=True, of=_attachments)


def of_draft(connection: Connection, template_id: str) -> list[Record]:
    """The `$LATEST` draft's attachments, in upload order."""
    return list(connection.execute(_OF_DRAFT, {"template_id": template_id}).all())


def of_selected(connection: Connection, selected: Selected, *, hold: bool = False) -> list[Record]:
    """The attachments of the draft or version `selected` is, in upload order (`hold`: held
    for a send, as above)."""
    if not selected.source.attachment_count:
        return []
    if selected.version is None:
        query = _TAKEN_FROM_DRAFT if hold else _OF_DRAFT
        return list(connection.execute(query, {"template_id": selected.template.id}).all())
    query = _TAKEN_FROM_VERSION if hold else _OF_VERSION
    params = {"template_id": selected.template.id, "version": selected.version.version}
    return list(connection.execute(query, params).all())


def views(
    connection: Connection, selected: Selected, links: Links, now: float
) -> list[dict[str, Any]] | None:
    """The `attachments` of GetMessageTemplate and the like; None when there are none."""
    return [links.view(row, now) for row in of_selected(connection, selected)] or None


def fingerprint(rows: Sequence[Record]) -> list[tuple[str, str]]:
    """What the draft's checksum covers of its attachments: names and bytes, in order (not
    ids: a file taken off and uploaded again as it was leaves the draft as it was)."""
    return [(row.name, row.sha256) for row in rows]


def hold(connection: Connection, template_id: str) -> Record:
    """The template's row, read again and held until the transaction ends (FOR NO KEY UPDATE
    on PostgreSQL; SQLite's write transaction keeps other writers out), so that changes to
    the draft's attachments, and versions made of it, happen one after the other."""
    held: Record | None = connection.execute(
        select(message_templates)
        .where(message_templates.c.id == template_id)
        .with_for_update(key_share=True)
    ).first()
    if held is None:  # deleted since it was found
        raise not_found("Message template", template_id)
    return held


def create(
    connection: Connection,
    scope: Scope,
    knowledge_base: Record,
    template: Record,
    upload: Upload,
    now: float,
    links: Links,
) -> dict[str, Any]:
    """CreateMessageTemplateAttachment: add a file to the draft."""
    template = hold(connection, template.id)
    if template.channel_subtype != EMAIL:
        raise validation(
            f"Message template {template.id} is a {template.channel_subtype} template; only "
            "EMAIL templates take attachments."
        )
    draft = of_draft(connection, template.id)
    if any(row.name == upload.name for row in draft):
        raise conflict(
            f"Message template {template.id} already has an attachment named {upload.name!r}."
        )
    if len(draft) >= MAX_ATTACHMENTS:
        raise quota_exceeded(
            f"A message template can have at most {MAX_ATTACHMENTS} attachments; "
            f"{template.id} has {len(draft)}."
        )
    total = sum(row.size_bytes for row in draft) + len(upload.data)
    if total > MAX_TOTAL_BYTES:
        raise quota_exceeded(
            f"A message template's attachments can hold at most {MAX_TOTAL_BYTES} bytes in "
            f"all; with {upload.name!r} those of {template.id} would hold {total}."
        )
    attachment_id = arns.new_id()
    connection.execute(
        insert(_attachments).values(
            id=attachment_id,
            template_id=template.id,
            account_id=scope.account_id,
            name=upload.name,
            content_type=upload.content_type,
            size_bytes=len(upload.data),
            sha256=upload.sha256,
            uploaded_at=now,
            removed_at=None,
        )
    )
    connection.execute(insert(_contents).values(attachment_id=attachment_id, content=upload.data))
    draft = _draft_changed(connection, scope, knowledge_base, template, now)
    added = next(row for row in draft if row.id == attachment_id)
    return {"attachment": links.view(added, now)}


def remove(
    connection: Connection,
    scope: Scope,
    knowledge_base: Record,
    template: Record,
    attachment_id: str,
    now: float,
) -> None:
    """DeleteMessageTemplateAttachment: take a file off the draft; versions keep theirs."""
    template = hold(connection, template.id)
    taken = connection.execute(
        update(_attachments)
        .where(
            (_attachments.c.id == attachment_id)
            & (_attachments.c.template_id == template.id)
            & _attachments.c.removed_at.is_(None)
        )
        .values(removed_at=now)
    )
    if taken.rowcount == 0:
        raise not_found("Message template attachment", attachment_id)
    _draft_changed(connection, scope, knowledge_base, template, now)
    _release(connection, [attachment_id])


def _draft_changed(
    connection: Connection, scope: Scope, knowledge_base: Record, template: Record, now: float
) -> list[Record]:
    """Bring the draft's count and checksum (which covers its attachments) up to date."""
    draft = of_draft(connection, template.id)
    checksum = content.checksum(
        loads(template.content),
        template.language,
        loads(template.default_attributes),
        fingerprint(draft),
    )
    connection.execute(
        update(message_templates)
        .where(message_templates.c.id == template.id)
        .values(
            attachment_count=len(draft),
            content_sha256=checksum,
            modified_at=now,
            modified_by=identifiers.principal_arn(scope.account_id),
        )
    )
    knowledge_bases.content_changed(connection, knowledge_base.id, now)
    return draft


def keep_for_version(connection: Connection, template_id: str, version: int) -> None:
    """A new version keeps what the draft has now."""
    connection.execute(
        insert(_kept).from_select(
            ["template_id", "version", "attachment_id"],
            select(
                _attachments.c.template_id,
                literal(version, Integer),
                _attachments.c.id,
            ).where(
                (_attachments.c.template_id == template_id) & _attachments.c.removed_at.is_(None)
            ),
        )
    )


def forget_version(connection: Connection, template_id: str, version: int) -> None:
    """Before a version is deleted: what only it kept goes."""
    kept = list(
        connection.execute(
            select(_kept.c.attachment_id).where(
                (_kept.c.template_id == template_id) & (_kept.c.version == version)
            )
        ).scalars()
    )
    connection.execute(
        delete(_kept).where((_kept.c.template_id == template_id) & (_kept.c.version == version))
    )
    _release(connection, kept)


def forget_template(connection: Connection, template_id: str) -> None:
    """Before a template is deleted: all its attachments go (bytes a sent email took stay).
    The template is held first, so an upload to it in flight has committed (and its
    attachment is found here) or waits and then finds no template: else the delete's cascade
    took the new attachment's row and left its bytes to no one (PostgreSQL)."""
    hold(connection, template_id)
    _forget(connection, _attachments.c.template_id == template_id)


def forget_knowledge_base(connection: Connection, knowledge_base_id: str) -> None:
    """Before a knowledge base is deleted with its templates, the same for all of them.
    (Without it the rows go with the templates, by cascade, but the bytes stay.) Its
    templates are held first, as `forget_template` holds one, in the order an upload takes
    them (the template, then the knowledge base's row), so the two never wait on each other
    in a circle."""
    of_knowledge_base = select(message_templates.c.id).where(
        message_templates.c.knowledge_base_id == knowledge_base_id
    )
    connection.execute(of_knowledge_base.with_for_update(key_share=True)).all()
    _forget(connection, _attachments.c.template_id.in_(of_knowledge_base))


def _forget(connection: Connection, which: ColumnElement[bool]) -> None:
    ids = list(connection.execute(select(_attachments.c.id).where(which)).scalars())
    if ids:
        connection.execute(delete(_kept).where(_kept.c.attachment_id.in_(ids)))
        connection.execute(delete(_attachments).where(_attachments.c.id.in_(ids)))
        _drop_bytes(connection, ids)


def _release(connection: Connection, candidates: Sequence[str]) -> None:
    """Delete those of `candidates` that neither the draft nor a version holds any more."""
    if not candidates:
        return
    unheld = list(
        connection.execute(
            select(_attachments.c.id).where(
                _attachments.c.id.in_(candidates)
                & _attachments.c.removed_at.is_not(None)
                & ~exists().where(_kept.c.attachment_id == _attachments.c.id)
            )
        ).scalars()
    )
    if unheld:
        connection.execute(delete(_attachments).where(_attachments.c.id.in_(unheld)))
        _drop_bytes(connection, unheld)


def _drop_bytes(connection: Connection, ids: Sequence[str]) -> None:
    connection.execute(
        delete(_contents).where(
            _contents.c.attachment_id.in_(ids)
            & ~exists().where(_uses.c.attachment_id == _contents.c.attachment_id)
        )
    )


def download(
    connection: Connection, account_id: str, attachment_id: str
) -> tuple[Record, bytes] | None:
    """An attachment of `account_id` that the draft or a version holds, with its bytes (for a
    download URL); None if there is none."""
    row = connection.execute(
        select(*_LISTED, _contents.c.content)
        .join(_contents, _contents.c.attachment_id == _attachments.c.id)
        .where((_attachments.c.id == attachment_id) & (_attachments.c.account_id == account_id))
    ).first()
    return None if row is None else (row, bytes(row.content))


# -- the send path ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateAttachment:
    """An attachment as an email takes it; its bytes are read when the email is composed."""

    attachment_id: str
    name: str
    content_type: str

    def spec(self) -> dict[str, str]:
        """Its entry in a stored outbound spec's "attachments" (`sent_files.attachments_of`
        reads the bytes of an entry with "template_attachment_id")."""
        return {
            "template_attachment_id": self.attachment_id,
            "name": self.name,
            "content_type": self.content_type,
        }


def for_sending(connection: Connection, selected: Selected) -> tuple[TemplateAttachment, ...]:
    """The attachments an email of the template `selected` (the draft or a version, as the
    send chose it) carries, in order; none read when the template has none. Call it in the
    send's write transaction, and `record_sent` in the same one."""
    return tuple(
        TemplateAttachment(row.id, row.name, row.content_type)
        for row in of_selected(connection, selected, hold=True)
    )


def record_sent(
    connection: Connection, message_id: str, taken: Sequence[TemplateAttachment]
) -> None:
    """Tie the attachments to the accepted email (in the send's transaction), so that their
    bytes outlive the template while the email may still be composed."""
    if taken:
        connection.execute(
            insert(_uses),
            [{"attachment_id": a.attachment_id, "message_id": message_id} for a in taken],
        )


def content_of(connection: Connection, attachment_id: str) -> bytes | None:
    """The bytes of an attachment, or None once they are gone."""
    found = connection.execute(
        select(_contents.c.content).where(_contents.c.attachment_id == attachment_id)
    ).scalar()
    return None if found is None else bytes(found)


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
