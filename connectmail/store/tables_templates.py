"""The tables of Amazon Q in Connect message templates: knowledge bases, templates, versions,
and the templates' attachments.

A template row is the `$LATEST` draft plus what every version shares (name, description,
grouping, tags); a version row is an immutable copy of the draft's content at one moment.
An attachment is stored once and held by the draft and by the versions made while the draft
held it. Times are epoch seconds and structured values JSON text, as in `tables.py`.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from connectmail.store.tables import ID, metadata

knowledge_bases = Table(
    "knowledge_bases",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("arn", String(256), nullable=False),
    Column("name", String(255), nullable=False),
    Column("description", String(255)),
    Column("knowledge_base_type", String(32), nullable=False),
    # What else CreateKnowledgeBase was given (encryption, rendering, ...), kept to show back.
    Column("configuration", Text, nullable=False, default="{}"),
    Column("tags", Text, nullable=False, default="{}"),
    Column("created_at", Float, nullable=False),
    Column("modified_at", Float, nullable=False),
    # When its templates last changed; none while it has none (lastContentModificationTime).
    Column("content_modified_at", Float),
    Index("ix_knowledge_bases_account_region", "account_id", "region", "created_at"),
)

message_templates = Table(
    "message_templates",
    metadata,
    Column("id", ID, primary_key=True),
    Column("knowledge_base_id", ID, ForeignKey("knowledge_bases.id"), nullable=False),
    Column("account_id", String(12), nullable=False),
    Column("arn", String(256), nullable=False),
    # Unique per knowledge base, as Amazon Q in Connect requires.
    Column("name", String(255), nullable=False),
    Column("description", String(255)),
    Column("channel_subtype", String(16), nullable=False),
    Column("language", String(8)),
    # The $LATEST draft: content, default attributes and source configuration, as JSON.
    Column("content", Text, nullable=False, default="{}"),
    Column("default_attributes", Text, nullable=False, default="{}"),
    Column("source_configuration", Text),
    Column("grouping_configuration", Text),
    Column("content_sha256", String(64), nullable=False),
    Column("tags", Text, nullable=False, default="{}"),
    Column("active_version", Integer),
    # The number the next version gets: versions are numbered upward and never reused.
    Column("next_version", Integer, nullable=False, default=1),
    # How many attachments the draft has: a send of a template without any reads none.
    Column("attachment_count", Integer, nullable=False, default=0, server_default="0"),
    Column("created_at", Float, nullable=False),
    Column("modified_at", Float, nullable=False),
    Column("modified_by", String(256), nullable=False),
    UniqueConstraint("knowledge_base_id", "name", name="uq_message_templates_name"),
    Index("ix_message_templates_knowledge_base", "knowledge_base_id", "created_at"),
)

message_template_versions = Table(
    "message_template_versions",
    metadata,
    Column("template_id", ID, ForeignKey("message_templates.id"), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("content", Text, nullable=False),
    Column("language", String(8)),
    Column("default_attributes", Text, nullable=False, default="{}"),
    Column("source_configuration", Text),
    Column("content_sha256", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("attachment_count", Integer, nullable=False, default=0, server_default="0"),
)

# One row per uploaded attachment (CreateMessageTemplateAttachment), its bytes apart in
# `message_template_attachment_contents` so that listing never reads them.
message_template_attachments = Table(
    "message_template_attachments",
    metadata,
    Column("id", ID, primary_key=True),
    # Cascading, so that deleting a knowledge base with its templates takes these too.
    Column(
        "template_id",
        ID,
        ForeignKey("message_templates.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("account_id", String(12), nullable=False),
    Column("name", String(256), nullable=False),
    Column("content_type", String(128), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("uploaded_at", Float, nullable=False),
    # When DeleteMessageTemplateAttachment took it off the draft; NULL while the draft has it.
    Column("removed_at", Float),
    Index("ix_message_template_attachments_template", "template_id", "uploaded_at"),
    # Names are unique among the draft's attachments.
    Index(
        "ux_message_template_attachments_draft_name",
        "template_id",
        "name",
        unique=True,
        sqlite_where=text("removed_at IS NULL"),
        postgresql_where=text("removed_at IS NULL"),
    ),
)

# The bytes, once per attachment. No foreign key: a sent email that took an attachment keeps
# its bytes after the template is gone (see `message_template_attachment_uses`).
message_template_attachment_contents = Table(
    "message_template_attachment_contents",
    metadata,
    Column("attachment_id", ID, primary_key=True),
    Column("content", LargeBinary, nullable=False),
)

# The attachments each version keeps: what the draft had when the version was made.
message_template_version_attachments = Table(
    "message_template_version_attachments",
    metadata,
    Column("template_id", ID, nullable=False),
    Column("version", Integer, nullable=False, autoincrement=False),
    Column(
        "attachment_id",
        ID,
        ForeignKey("message_template_attachments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    PrimaryKeyConstraint("template_id", "version", "attachment_id"),
    ForeignKeyConstraint(
        ["template_id", "version"],
        ["message_template_versions.template_id", "message_template_versions.version"],
        ondelete="CASCADE",
    ),
    Index("ix_message_template_version_attachments_attachment", "attachment_id"),
)

# The emails that took an attachment: their bytes stay while any of them may be composed.
message_template_attachment_uses = Table(
    "message_template_attachment_uses",
    metadata,
    Column("attachment_id", ID, nullable=False),
    Column("message_id", ID, nullable=False),
    PrimaryKeyConstraint("attachment_id", "message_id"),
)
