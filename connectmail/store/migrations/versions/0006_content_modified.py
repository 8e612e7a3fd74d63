"""Knowledge bases: when their templates last changed (lastContentModificationTime).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("knowledge_bases", sa.Column("content_modified_at", sa.Float(), nullable=True))
    # The best known for what is there: the newest change to one of its templates.
    op.execute(
        "UPDATE knowledge_bases SET content_modified_at = (SELECT max(modified_at) FROM "
        "message_templates WHERE message_templates.knowledge_base_id = knowledge_bases.id)"
    )


def downgrade() -> None:
    op.drop_column("knowledge_bases", "content_modified_at")
