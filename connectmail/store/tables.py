"""The schema, as SQLAlchemy Core tables. Alembic migrations create and change it.

Times are epoch seconds (float); structured values are JSON text, so the same schema runs on
SQLite and PostgreSQL unchanged.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Row,
    String,
    Table,
    Text,
)

# A result row of any of these tables (or a selection of their columns).
Record = Row[*tuple[Any, ...]]

metadata = MetaData()

ID = String(64)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(12), primary_key=True),
    Column("created_at", Float, nullable=False),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("access_key_id", String(128), primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False),
    Column("secret_access_key", String(128), nullable=False),
    Column("policy", Text),
    Column("is_root", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
)

instances = Table(
    "instances",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("arn", String(256), nullable=False),
    Column("alias", String(64)),
    Column("identity_management_type", String(32), nullable=False),
    Column("directory_id", String(64)),
    Column("inbound_calls_enabled", Boolean, nullable=False),
    Column("outbound_calls_enabled", Boolean, nullable=False),
    Column("status", String(32), nullable=False),
    Column("tags", Text, nullable=False, default="{}"),
    Column("created_at", Float, nullable=False),
    Index("ix_instances_account_region", "account_id", "region"),
)

email_addresses = Table(
    "email_addresses",
    metadata,
    Column("id", ID, primary_key=True),
    Column("instance_id", ID, ForeignKey("instances.id"), nullable=False),
    Column("account_id", String(12), nullable=False),
    Column("arn", String(256), nullable=False),
    # Lower-cased: one address belongs to one instance, as in Amazon Connect.
    Column("address", String(255), nullable=False, unique=True),
    Column("display_name", String(256)),
    Column("description", Text),
    Column("tags", Text, nullable=False, default="{}"),
    Column("created_at", Float, nullable=False),
    Column("modified_at", Float, nullable=False),
    # The primary address this one is an alias of (AssociateEmailAddressAlias): mail to it is
    # forwarded there. Unique: an address has at most one alias.
    Column("alias_of", ID),
    Index("ix_email_addresses_instance", "instance_id", "created_at"),
    Index("ux_email_addresses_alias_of", "alias_of", unique=True),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("instance_id", ID, ForeignKey("instances.id"), nullable=False),
    Column("account_id", String(12), nullable=False),
    Column("arn", String(256), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("initiation_method", String(32), nullable=False),
    # CREATED (not sent yet), SENT (an outbound email left), ENDED (stopped or expired unsent).
    Column("state", String(16), nullable=False),
    Column("name", Text),
    Column("description", Text),
    Column("related_contact_id", ID),
    Column("initial_contact_id", ID),
    Column("previous_contact_id", ID),
    Column("user_id", String(256)),
    Column("attributes", Text, nullable=False, default="{}"),
    Column("references", Text, nullable=False, default="{}"),
    Column("segment_attributes", Text, nullable=False, default="{}"),
    Column("customer_endpoint", Text),
    Column("system_endpoint", Text),
    Column("additional_recipients", Text),
    Column("disconnect_reason", String(128)),
    # User-defined tags (TagContact), at most 6.
    Column("tags", Text, nullable=False, default="{}", server_default="{}"),
    # The queue an external audio contact names (UpdateContact's QueueInfo).
    Column("queue_id", String(256)),
    # An unsent outbound email's draft body, {"Body", "ContentType"} as JSON
    # (UpdateOutboundEmailContactMessage); dropped when the email is sent.
    Column("draft", Text),
    Column("initiated_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("disconnected_at", Float),
    Column("expires_at", Float, nullable=False),
    Index("ix_contacts_instance_initiated", "instance_id", "initiated_at"),
    Index("ix_contacts_active", "instance_id", "channel", "state", "expires_at"),
    Index("ix_contacts_initial", "initial_contact_id", "initiated_at"),
)
# A contact's columns but its draft (up to 5 MiB of body), for the reads that list contacts or
# send one and have no use for it.
CONTACT_COLUMNS = tuple(column for column in contacts.c if column.name != "draft")

messages = Table(
    "messages",
    metadata,
    Column("id", ID, primary_key=True),
    Column("contact_id", ID, ForeignKey("contacts.id"), nullable=False),
    Column("account_id", String(12), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("rfc_message_id", String(512), nullable=False),
    # The Message-IDs this message answers (its References), oldest first, as JSON.
    Column("thread_references", Text, nullable=False, default="[]"),
    # The outbound message as accepted (addresses, subject, bodies): composed at delivery.
    Column("spec", Text),
    # PENDING, then DELIVERED, PARTIALLY_DELIVERED or FAILED.
    Column("status", String(24), nullable=False),
    # Final answers so far, per recipient: {"rcpt": "DELIVERED" | "FAILED: reason"}.
    Column("recipient_status", Text, nullable=False, default="{}"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("accepted_at", Float, nullable=False),
    Column("finished_at", Float),
    Index("ix_messages_contact", "contact_id"),
    Index("ix_messages_rfc_message_id", "rfc_message_id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("message_id", ID, ForeignKey("messages.id"), primary_key=True),
    Column("due_at", Float, nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_until", Float),
    Column("attempts", Integer, nullable=False, default=0),
    # The recipients still owed this message; a partial 4xx retries only them.
    Column("recipients", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_outbox_due", "due_at"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("account_id", String(12), primary_key=True),
    # REGION:SERVICE:Operation: a token is its account's in one region, as in AWS.
    Column("operation", String(128), primary_key=True),
    Column("token", String(512), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_idempotency_expires", "expires_at"),
)

mailbox = Table(
    "mailbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("message_id", ID, nullable=False, unique=True),
    Column("contact_id", ID, nullable=False),
    Column("rfc_message_id", String(512), nullable=False),
    Column("mail_from", String(255), nullable=False),
    Column("recipients", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("captured_at", Float, nullable=False),
    Index("ix_mailbox_account", "account_id", "id"),
)

rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("bucket", String(128), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
