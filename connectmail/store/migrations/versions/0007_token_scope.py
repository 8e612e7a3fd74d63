"""Client tokens scoped by region too: an idempotency key's operation is
`REGION:SERVICE:Operation`, up to 32 + 1 + 64 characters.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite does not hold a VARCHAR to its length; PostgreSQL does.
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "idempotency_keys", "operation", type_=sa.String(128), existing_nullable=False
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DELETE FROM idempotency_keys WHERE length(operation) > 64")
        op.alter_column(
            "idempotency_keys", "operation", type_=sa.String(64), existing_nullable=False
        )
