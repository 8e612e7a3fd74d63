"""Contacts by their initial contact: ListAssociatedContacts reads a tree without scanning
every contact of the instance.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_contacts_initial", "contacts", ["initial_contact_id", "initiated_at"])


def downgrade() -> None:
    op.drop_index("ix_contacts_initial", table_name="contacts")
