"""Message template attachments: the files of a template's draft and versions, and their bytes.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

DRAFT = sa.text("removed_at IS NULL")


def upgrade() -> None:
    for table in ("message_templates", "message_template_versions"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("attachment_count", sa.Integer(), nullable=False, server_default="0")
            )
    op.create_table(
        "message_template_attachments",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", sa.Float(), nullable=False),
        sa.Column("removed_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["template_id"], ["message_templates.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_message_template_attachments_template",
        "message_template_attachments",
        ["template_id", "uploaded_at"],
    )
    op.create_index(
        "ux_message_template_attachments_draft_name",
        "message_template_attachments",
        ["template_id", "name"],
        unique=True,
        sqlite_where=DRAFT,
        postgresql_where=DRAFT,
    )
    op.create_table(
        "message_template_attachment_contents",
        sa.Column("attachment_id", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("attachment_id"),
    )
    op.create_table(
        "message_template_version_attachments",
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("attachment_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"], ["message_template_attachments.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["template_id", "version"],
            ["message_template_versions.template_id", "message_template_versions.version"],
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("template_id", "version", "attachment_id"),
    )
    op.create_index(
        "ix_message_template_version_attachments_attachment",
        "message_template_version_attachments",
        ["attachment_id"],
    )
    op.create_table(
        "message_template_attachment_uses",
        sa.Column("attachment_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("attachment_id", "message_id"),
    )


def downgrade() -> None:
    op.drop_table("message_template_attachment_uses")
    op.drop_index(
        "ix_message_template_version_attachments_attachment",
        table_name="message_template_version_attachments",
    )
    op.drop_table("message_template_version_attachments")
    op.drop_table("message_template_attachment_contents")
    op.drop_index(
        "ux_message_template_attachments_draft_name", table_name="message_template_attachments"
    )
    op.drop_index(
        "ix_message_template_attachments_template", table_name="message_template_attachments"
    )
    op.drop_table("message_template_attachments")
    for table in ("message_template_versions", "message_templates"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("attachment_count")
