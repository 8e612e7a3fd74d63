"""Email address aliases (AssociateEmailAddressAlias): an address may forward to another.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("email_addresses") as batch:
        batch.add_column(sa.Column("alias_of", sa.String(64), nullable=True))
        batch.create_index("ux_email_addresses_alias_of", ["alias_of"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("email_addresses") as batch:
        batch.drop_index("ux_email_addresses_alias_of")
        batch.drop_column("alias_of")
