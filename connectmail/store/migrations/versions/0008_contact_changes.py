"""Contacts after they are made: their tags (TagContact), the queue an external audio contact
names (UpdateContact) and an outbound email's draft (UpdateOutboundEmailContactMessage).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("tags", sa.Text(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("queue_id", sa.String(256), nullable=True))
        batch.add_column(sa.Column("draft", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("draft")
        batch.drop_column("queue_id")
        batch.drop_column("tags")
