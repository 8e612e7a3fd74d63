"""Tables for inbound mail and attached files: file metadata, file bytes, URL signing keys.

File bytes live in the database (not in the data directory) because several processes and
machines may serve one PostgreSQL: any of them must be able to hand out what another one
received, and a received message commits together with its contact.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from connectmail.store.tables import ID, metadata

attached_files = Table(
    "attached_files",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("instance_id", ID, ForeignKey("instances.id"), nullable=False),
    # The contact the file belongs to; its ARN is the file's AssociatedResourceArn.
    Column("contact_id", ID, ForeignKey("contacts.id"), nullable=False),
    # The email the file is part of: set on receipt, or when an outbound email is accepted.
    Column("message_id", ID),
    Column("arn", String(256), nullable=False),
    Column("associated_resource_arn", String(256), nullable=False),
    # ATTACHMENT, EMAIL_MESSAGE (the RFC 5322 message) or EMAIL_MESSAGE_PLAIN_TEXT.
    Column("use_case", String(48), nullable=False),
    # PROCESSING (upload not completed), APPROVED, REJECTED or DELETED.
    Column("status", String(16), nullable=False),
    Column("status_reason", String(256)),
    # UPLOAD (StartAttachedFileUpload), INBOUND (a received email) or COMPOSED (ours).
    Column("origin", String(16), nullable=False),
    Column("file_name", String(256), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sha256", String(64)),
    Column("created_by", Text),
    Column("tags", Text, nullable=False, default="{}"),
    # The file's place among those created with it (message, text, attachments in order).
    Column("position", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_attached_files_contact", "contact_id", "created_at"),
    Index("ix_attached_files_message", "message_id"),
)

# Kept apart from the metadata so listing files never reads their bytes.
file_contents = Table(
    "file_contents",
    metadata,
    Column("file_id", ID, ForeignKey("attached_files.id"), primary_key=True),
    Column("content", LargeBinary, nullable=False),
)

# Secrets shared by every process serving the database (the key that signs file URLs).
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("secret", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
)
