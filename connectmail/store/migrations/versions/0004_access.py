"""Token buckets for throttling, shared by every process; an index for active contacts.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_buckets",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("bucket", sa.String(length=128), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "bucket"),
    )
    op.create_index(
        "ix_contacts_active", "contacts", ["instance_id", "channel", "state", "expires_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_contacts_active", table_name="contacts")
    op.drop_table("rate_buckets")
