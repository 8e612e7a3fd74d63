"""The tables of Amazon Q in Connect message templates: knowledge bases, templates, versions.

A template row is the `$LATEST` draft plus what every version shares (name, description,
grouping, tags); a version row is an immutable copy of the draft's content at one moment.
Times are epoch seconds and structured values JSON text, as in `tables.py`.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
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
)
