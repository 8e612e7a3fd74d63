"""Attached files of email contacts: uploads that go out with an email, and what email brings in.

Every file belongs to one EMAIL contact, whose ARN is the file's AssociatedResourceArn. An
agent uploads attachments to an unsent OUTBOUND or AGENT_REPLY contact (StartAttachedFileUpload,
the upload URL, CompleteAttachedFileUpload); sending the contact takes every completed one.
Received and sent email keep their message (EMAIL_MESSAGE) and its plain text as files too.
Limits and allowed types are Amazon Connect's feature specifications: 10 attachments per email,
20 MB per file, and only the listed document, image and media types.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from connectmail.domain import arns, sent_files
from connectmail.domain.contacts import CREATED, SENDABLE_METHODS
from connectmail.errors import ServiceError, invalid_request
from connectmail.jsontext import dumps, loads
from connectmail.store.tables import Record, contacts
from connectmail.store.tables_inbound import attached_files, file_contents

ATTACHMENT = "ATTACHMENT"
EMAIL_MESSAGE = "EMAIL_MESSAGE"
EMAIL_MESSAGE_PLAIN_TEXT = "EMAIL_MESSAGE_PLAIN_TEXT"

PROCESSING = "PROCESSING"
APPROVED = "APPROVED"
REJECTED = "REJECTED"
DELETED = "DELETED"

UPLOAD = "UPLOAD"
INBOUND = "INBOUND"
COMPOSED = "COMPOSED"  # a file of an email we sent (sent_files)

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ATTACHMENTS = 10
DEFAULT_URL_EXPIRY_SECONDS = 300

# The file types Amazon Connect accepts for email, case and chat attachments; anything else
# (executables, scripts, archives, HTML, ...) is refused on upload and rejected on receipt.
ALLOWED_TYPES = {
    "csv": "text/csv",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "heic": "image/heic",
    "jfif": "image/jpeg",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "mov": "video/quicktime",
    "mp4": "video/mp4",
    "pdf": "application/pdf",
    "png": "image/png",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "rtf": "application/rtf",
    "txt": "text/plain",
    "wav": "audio/wav",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def allowed_type(name: str) -> str | None:
    """The MIME type we send and serve a file as, or None when its type is not allowed."""
    stem, dot, extension = name.rpartition(".")
    return ALLOWED_TYPES.get(extension.lower()) if dot and stem.strip() else None


def unsupported_type(name: str) -> ServiceError:
    # A name without an extension (or only one) is a bad name; an extension not allowed, a bad type.
    stem, dot, _ = name.rpartition(".")
    reason = "INVALID_FILE_TYPE" if dot and stem.strip() else "INVALID_FILE_NAME"
    return invalid_request(
        f"The file type of {name[:256]!r} is not supported for attachments; use one of "
        + ", ".join(f".{e}" for e in sorted(ALLOWED_TYPES))
        + ".",
        Reason={"AttachedFileInvalidRequestExceptionReason": reason},
    )


def too_large(name: str, size: int) -> ServiceError:
    return invalid_request(
        f"{name[:256]!r} is {size} bytes; an attachment can be at most {MAX_FILE_BYTES} bytes.",
        Reason={"AttachedFileInvalidRequestExceptionReason": "INVALID_FILE_SIZE"},
    )


def too_many(count: int) -> ServiceError:
    return ServiceError(
        "ServiceQuotaExceededException",
        f"An email can have at most {MAX_ATTACHMENTS} attachments; this one would have {count}.",
        Reason={"AttachedFileServiceQuotaExceededExceptionReason": "TOTAL_FILE_COUNT_EXCEEDED"},
    )


def received_status(name: str, size: int) -> tuple[str, str | None]:
    """How a received attachment is kept: APPROVED, or REJECTED (kept but never served)."""
    if allowed_type(name) is None:
        return REJECTED, "The file type is not supported for attachments."
    if size > MAX_FILE_BYTES:
        return REJECTED, f"The file is larger than {MAX_FILE_BYTES} bytes."
    return APPROVED, None


def file_arn(contact: Record, file_id: str) -> str:
    instance_arn = contact.arn.rsplit("/contact/", 1)[0]
    return arns.instance_child_arn(instance_arn, "file", file_id)


def contact_for(
    connection: Connection,
    instance: Record,
    arn: str,
    *,
    missing: str = "ResourceNotFoundException",
    hold: bool = False,
) -> Record:
    """The EMAIL contact of `instance` whose ARN is `arn` (an AssociatedResourceArn).

    With `hold`, its row is taken until the transaction ends (FOR NO KEY UPDATE on
    PostgreSQL, as a send takes it; SQLite's write transaction keeps other writers out), so a
    change to its files and a send of it happen one after the other: a send takes the files it
    read, and a delete must not remove one of them meanwhile."""
    if not arn.startswith("arn:") or "/contact/" not in arn:
        raise invalid_request(
            f"AssociatedResourceArn must be the ARN of an email contact, not {arn[:256]!r}."
        )
    query = select(contacts).where(
        (contacts.c.id == arn.rsplit("/contact/", 1)[1]) & (contacts.c.instance_id == instance.id)
    )
    if hold:
        query = query.with_for_update(key_share=True)
    row = connection.execute(query).first()
    if row is None or row.arn != arn:
        raise ServiceError(missing, f"Contact not found: {arn[:256]}")
    if row.channel != "EMAIL":
        raise invalid_request(
            f"Contact {row.id} is a {row.channel} contact; files attach to EMAIL."
        )
    return row


# A file as the views read it: a stored row, or a file of an email we sent.
FileRecord = Record | sent_files.SentFile


def require(connection: Connection, contact: Record, file_id: str) -> FileRecord:
    row: FileRecord | None = connection.execute(
        select(attached_files).where(
            (attached_files.c.id == file_id)
            & (attached_files.c.contact_id == contact.id)
            & (attached_files.c.status != DELETED)
        )
    ).first()
    if row is None:
        row = sent_files.find(connection, contact, file_id)
    if row is None:
        raise ServiceError("ResourceNotFoundException", f"File not found: {file_id[:256]}")
    return row


def start_upload(
    connection: Connection, instance: Record, params: dict[str, Any], now: float
) -> Record:
    """Register a file to be uploaded to an unsent email contact (StartAttachedFileUpload)."""
    contact = contact_for(
        connection,
        instance,
        params["AssociatedResourceArn"],
        missing="InvalidRequestException",
        hold=True,
    )
    if params["FileUseCaseType"] != ATTACHMENT:
        raise invalid_request("Only ATTACHMENT files can be uploaded to an email contact.")
    if (
        contact.initiation_method not in SENDABLE_METHODS
        or contact.state != CREATED
        or contact.expires_at <= now
    ):
        raise invalid_request(
            f"Contact {contact.id} is not an email waiting to be sent; attachments can be added "
            "only to OUTBOUND, AGENT_REPLY or FLOW email contacts before they are sent."
        )
    name, size = params["FileName"], params["FileSizeInBytes"]
    content_type = allowed_type(name)
    if content_type is None:
        raise unsupported_type(name)
    if size > MAX_FILE_BYTES:
        raise too_large(name, size)
    count = connection.execute(
        select(func.count())
        .select_from(attached_files)
        .where(
            (attached_files.c.contact_id == contact.id)
            & (attached_files.c.use_case == ATTACHMENT)
            & (attached_files.c.status != DELETED)
        )
    ).scalar_one()
    if count >= MAX_ATTACHMENTS:
        raise too_many(count + 1)
    file_id = arns.new_id()
    connection.execute(
        insert(attached_files).values(
            _row(contact, file_id, ATTACHMENT, UPLOAD, name, content_type, size, now)
            | {
                "status": PROCESSING,
                "created_by": dumps(created_by(params, instance.account_id)),
                "tags": dumps(params.get("Tags", {})),
                "position": count,
            }
        )
    )
    return connection.execute(select(attached_files).where(attached_files.c.id == file_id)).one()


def created_by(params: dict[str, Any], account_id: str) -> dict[str, str]:
    """Who made an upload: the agent the request names (ConnectUserArn), else the caller.

    The model's CreatedByInfo: "SDK users cannot populate" AWSIdentityArn, which "is calculated
    automatically if ConnectUserArn is not provided"; one given in the request is not believed.
    Callers are an account's keys, which act as its root (as templates' lastModifiedBy says).
    """
    agent = (params.get("CreatedBy") or {}).get("ConnectUserArn")
    if agent:
        return {"ConnectUserArn": agent}
    return {"AWSIdentityArn": f"arn:aws:iam::{account_id}:root"}


class UploadRefused(Exception):
    """An upload to a signed URL that cannot be taken; `status` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def expected_upload(connection: Connection, account_id: str, file_id: str) -> Record:
    row = connection.execute(
        select(attached_files).where(
            (attached_files.c.id == file_id) & (attached_files.c.account_id == account_id)
        )
    ).first()
    if row is None or row.status == DELETED:
        raise UploadRefused(404, "No such file.")
    if row.origin != UPLOAD or row.status != PROCESSING:
        raise UploadRefused(409, "The file is not waiting for an upload.")
    return row


def store_upload(
    connection: Connection, account_id: str, file_id: str, data: bytes, now: float
) -> None:
    """Keep the bytes PUT to an upload URL; the size must be the one announced."""
    row = expected_upload(connection, account_id, file_id)
    if len(data) != row.size_bytes:
        raise UploadRefused(
            400, f"Expected {row.size_bytes} bytes (FileSizeInBytes), received {len(data)}."
        )
    connection.execute(delete(file_contents).where(file_contents.c.file_id == file_id))
    connection.execute(insert(file_contents).values(file_id=file_id, content=data))
    connection.execute(
        update(attached_files)
        .where(attached_files.c.id == file_id)
        .values(sha256=hashlib.sha256(data).hexdigest(), updated_at=now)
    )


def complete_upload(
    connection: Connection, instance: Record, params: dict[str, Any], now: float
) -> None:
    contact = contact_for(connection, instance, params["AssociatedResourceArn"])
    row = require(connection, contact, params["FileId"])
    if row.status == APPROVED:
        return
    if row.status != PROCESSING:
        raise invalid_request(
            f"File {row.id} is {row.status}: only an upload that is PROCESSING can be completed."
        )
    if row.sha256 is None:
        raise invalid_request(
            f"File {row.id} has not been uploaded yet: PUT its bytes to the upload URL first."
        )
    connection.execute(
        update(attached_files)
        .where(attached_files.c.id == row.id)
        .values(status=APPROVED, updated_at=now)
    )


def remove(connection: Connection, instance: Record, params: dict[str, Any], now: float) -> None:
    """DeleteAttachedFile: the bytes go; the reference stays, as DELETED."""
    contact = contact_for(connection, instance, params["AssociatedResourceArn"], hold=True)
    row = require(connection, contact, params["FileId"])
    if row.use_case != ATTACHMENT:
        raise invalid_request("The email message of a contact cannot be deleted, only attachments.")
    if row.origin in (UPLOAD, COMPOSED) and row.message_id is not None:
        raise invalid_request(
            f"File {row.id} went out with the contact's email and stays part of it."
        )
    connection.execute(delete(file_contents).where(file_contents.c.file_id == row.id))
    connection.execute(
        update(attached_files)
        .where(attached_files.c.id == row.id)
        .values(status=DELETED, sha256=None, updated_at=now)
    )


def record(
    connection: Connection,
    contact: Record,
    *,
    message_id: str,
    use_case: str,
    origin: str,
    name: str,
    content_type: str,
    data: bytes,
    now: float,
    status: str = APPROVED,
    reason: str | None = None,
    position: int = 0,
) -> str:
    """Keep a file of an email (received or sent) with its bytes."""
    file_id = arns.new_id()
    connection.execute(
        insert(attached_files).values(
            _row(contact, file_id, use_case, origin, name, content_type, len(data), now)
            | {
                "message_id": message_id,
                "status": status,
                "status_reason": reason,
                "sha256": hashlib.sha256(data).hexdigest(),
                "position": position,
            }
        )
    )
    connection.execute(insert(file_contents).values(file_id=file_id, content=data))
    return file_id


def _row(
    contact: Record,
    file_id: str,
    use_case: str,
    origin: str,
    name: str,
    content_type: str,
    size: int,
    now: float,
) -> dict[str, Any]:
    return {
        "id": file_id,
        "account_id": contact.account_id,
        "instance_id": contact.instance_id,
        "contact_id": contact.id,
        "arn": file_arn(contact, file_id),
        "associated_resource_arn": contact.arn,
        "use_case": use_case,
        "origin": origin,
        "file_name": name,
        "content_type": content_type,
        "size_bytes": size,
        "tags": "{}",
        "position": 0,
        "created_at": now,
        "updated_at": now,
    }


@dataclass(frozen=True)
class Outgoing:
    """The attachments an outbound email takes, in upload order (their bytes stay stored)."""

    files: tuple[dict[str, str], ...]

    @property
    def file_ids(self) -> tuple[str, ...]:
        return tuple(f["file_id"] for f in self.files)

    def spec(self) -> list[dict[str, str]]:
        return list(self.files)


NOTHING_OUTGOING = Outgoing(())


def outgoing(connection: Connection, contact: Any) -> Outgoing:
    """The uploaded attachments of an unsent contact; every one must be completed."""
    rows = connection.execute(
        select(attached_files)
        .where(
            (attached_files.c.contact_id == contact.id)
            & (attached_files.c.origin == UPLOAD)
            & (attached_files.c.status != DELETED)
            & attached_files.c.message_id.is_(None)
        )
        .order_by(attached_files.c.created_at, attached_files.c.position, attached_files.c.id)
    ).all()
    for row in rows:
        if row.status != APPROVED:
            raise invalid_request(
                f"Attachment {row.file_name!r} ({row.id}) is not complete: upload it and call "
                "CompleteAttachedFileUpload, or delete it with DeleteAttachedFile."
            )
    if len(rows) > MAX_ATTACHMENTS:
        raise too_many(len(rows))
    return Outgoing(
        tuple(
            {"file_id": row.id, "name": row.file_name, "content_type": row.content_type}
            for row in rows
        )
    )


def record_sent(connection: Connection, message_id: str, outgoing: Outgoing, now: float) -> None:
    """Tie the attachments to the accepted email. The email's own files (its message and text)
    are not stored: `sent_files` composes them from the message when they are asked for."""
    if outgoing.file_ids:
        connection.execute(
            update(attached_files)
            .where(attached_files.c.id.in_(list(outgoing.file_ids)))
            .values(message_id=message_id, updated_at=now)
        )


def content(
    connection: Connection, account_id: str, file_id: str
) -> tuple[FileRecord, bytes] | None:
    """An APPROVED file of `account_id` and its bytes (for a download URL)."""
    row = connection.execute(
        select(attached_files, file_contents.c.content)
        .join(file_contents, file_contents.c.file_id == attached_files.c.id)
        .where(
            (attached_files.c.id == file_id)
            & (attached_files.c.account_id == account_id)
            & (attached_files.c.status == APPROVED)
        )
    ).first()
    if row is not None:
        return row, bytes(row.content)
    sent = sent_files.content(connection, account_id, file_id)
    return None if sent is None else (sent, sent.data)


def metadata(row: FileRecord) -> dict[str, Any]:
    """A file as GetAttachedFile and BatchGetAttachedFileMetadata describe it."""
    return {
        "FileArn": row.arn,
        "FileId": row.id,
        "CreationTime": iso(row.created_at),
        "FileStatus": row.status,
        "FileName": row.file_name,
        "FileSizeInBytes": row.size_bytes,
        "AssociatedResourceArn": row.associated_resource_arn,
        "FileUseCaseType": row.use_case,
        "CreatedBy": loads(row.created_by),
        "Tags": loads(row.tags) or None,
    }


def batch_metadata(
    connection: Connection, instance: Record, params: dict[str, Any]
) -> dict[str, Any]:
    contact = contact_for(connection, instance, params["AssociatedResourceArn"])
    files, errors = [], []
    for file_id in params["FileIds"]:
        try:
            files.append(metadata(require(connection, contact, file_id)))
        except ServiceError as error:
            errors.append(
                {"FileId": file_id, "ErrorCode": error.code, "ErrorMessage": error.message}
            )
    return {"Files": files, "Errors": errors}


def iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
