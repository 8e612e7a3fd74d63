"""The email addresses of deleted instances released, as deleting an instance now does.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM email_addresses WHERE instance_id IN "
        "(SELECT id FROM instances WHERE status = 'DELETED')"
    )


def downgrade() -> None:
    """Nothing to restore: the addresses of a deleted instance were of no use."""
