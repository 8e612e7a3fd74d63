"""Settings from command-line flags and `CONNECTMAIL_*` variables, with embedded defaults."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import orjson
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from connectmail.access.throttling import PROFILES
from connectmail.delivery.transports import RelaySettings
from connectmail.delivery.worker import DeliveryPolicy
from connectmail.domain.accounts import Credentials
from connectmail.domain.contacts import ExpiryPolicy
from connectmail.domain.outbound import OutboundPolicy
from connectmail.store.store import Store
from connectmail.templates.content import Limits as TemplateLimits

Port = Annotated[int, Field(ge=0, le=65535)]
# A list setting: JSON (`["a@example.com"]`) or, as a user first writes it, comma-separated.
Names = Annotated[list[str], NoDecode]
# The levels both uvicorn and the logging module know.
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
# The database drivers connectmail ships: another would fail at start-up for want of a module.
DATABASE_DRIVERS = ("sqlite", "sqlite+pysqlite", "postgresql", "postgres", "postgresql+psycopg")


class Settings(BaseSettings):
    """Everything a connectmail process is built from; tests build as many as they like."""

    # A refused value is not repeated in the error: a relay or database URL holds a password.
    model_config = SettingsConfigDict(
        env_prefix="CONNECTMAIL_", extra="ignore", hide_input_in_errors=True
    )

    host: str = "127.0.0.1"
    port: Port = 4566
    data_dir: Path = Path("connectmail-data")
    database_url: str | None = None
    relay: str | None = None
    # Postfix's default_destination_concurrency_limit. With 8, connections waited on
    # connectmail's own work between SMTP replies, and the relay idled a third of the time.
    relay_connections: Annotated[int, Field(ge=1)] = 20
    relay_timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    deliver: bool = True

    access_key_id: str | None = None
    secret_access_key: str | None = None
    account_id: str | None = None

    max_request_bytes: Annotated[int, Field(ge=1)] = 64 * 1024 * 1024
    # How long a request's line and headers may take to arrive, and how long its body may send
    # nothing, before the connection is closed.
    request_head_seconds: Annotated[float, Field(gt=0)] = 30.0
    max_recipients: int = 50
    email_addresses_per_instance: int = 100
    active_email_contacts_per_instance: int = 1000
    default_from_addresses: Names = Field(default_factory=list)
    contact_expiry_minutes: int = 14 * 24 * 60
    max_contact_expiry_minutes: int = 90 * 24 * 60
    idempotency_ttl_seconds: float = 24 * 3600.0

    # Positive, each: at 0 a worker claimed no rows and sent nothing, and a lease was lost as
    # soon as it was taken (renewed without pause).
    delivery_lease_seconds: Annotated[float, Field(gt=0)] = 60.0
    delivery_poll_seconds: Annotated[float, Field(gt=0)] = 1.0
    delivery_concurrency: Annotated[int, Field(ge=1)] = 64
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 600.0
    give_up_after_seconds: float = 24 * 3600.0
    database_outage_seconds: float = 30.0
    # PostgreSQL: how long a write waits for a row another transaction holds before the
    # request answers InternalServiceException (0: as long as it takes).
    lock_wait_seconds: float = 5.0

    limits: str = "unlimited"
    # Processes serving the API; each runs its own delivery worker unless --no-deliver.
    workers: Annotated[int, Field(ge=1)] = 1
    maintenance_interval_seconds: Annotated[float, Field(gt=0)] = 600.0
    # PostgreSQL: how often to look for busy tables changed by as many rows as they had at
    # their last ANALYZE (`maintenance.STALE_FRACTION`), and analyze them (0: leave
    # statistics to autovacuum).
    analyze_interval_seconds: float = 1.0

    log_level: str = "info"

    # Inbound email: the SMTP server (off unless a port is given) and attached files.
    smtp_port: Port | None = None
    smtp_host: str | None = None  # default: the API's host
    smtp_hostname: str = "connectmail"  # the name in the SMTP greeting
    # At 0 or below aiosmtpd took any size (0) or refused every message (SIZE -1).
    max_inbound_message_bytes: Annotated[int, Field(ge=1)] = 10 * 1024 * 1024
    # The base of presigned file URLs (default: the Host the API was called at, over http).
    public_url: str | None = None
    # Hosts (glob patterns) StartEmailContact may fetch Attachments[].S3Url from.
    attachment_url_hosts: Names = Field(default_factory=list)

    @field_validator("default_from_addresses", "attachment_url_hosts", mode="before")
    @classmethod
    def _names(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return orjson.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.lower() not in LOG_LEVELS:
            raise ValueError(f"choose one of {', '.join(LOG_LEVELS)}")
        return value.lower()

    @field_validator("account_id")
    @classmethod
    def _account_id(cls, value: str | None) -> str | None:
        # It goes into every ARN, which AWS's clients and policies read as 12 digits.
        if value is not None and not (len(value) == 12 and value.isascii() and value.isdigit()):
            raise ValueError("an AWS account id is 12 digits")
        return value

    @model_validator(mode="after")
    def _root_credentials(self) -> Settings:
        # One of the pair alone would be ignored, and a root account of its own generated.
        if bool(self.access_key_id) != bool(self.secret_access_key):
            raise ValueError(
                "CONNECTMAIL_ACCESS_KEY_ID and CONNECTMAIL_SECRET_ACCESS_KEY go together: "
                "give both, or neither to keep generated credentials in the data directory"
            )
        return self

    @field_validator("limits")
    @classmethod
    def _limits(cls, value: str) -> str:
        if value not in PROFILES:
            raise ValueError(f"choose one of {', '.join(PROFILES)}")
        return value

    @field_validator("relay")
    @classmethod
    def _relay_url(cls, value: str | None) -> str | None:
        if value:
            RelaySettings.from_url(value)  # its ValueError names what is wrong
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value:
            try:
                url = make_url(value)
            except ArgumentError:
                url = None
            if url is None or url.drivername not in DATABASE_DRIVERS:
                raise ValueError("must be sqlite:///path or postgresql://user@host/db")
            if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
                # Every connection and process would have a database of its own.
                raise ValueError("SQLite needs a file: sqlite:///path")
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'connectmail.db').resolve()}"

    @property
    def configured_credentials(self) -> Credentials | None:
        if self.access_key_id and self.secret_access_key:
            return Credentials(
                self.account_id or "000000000000", self.access_key_id, self.secret_access_key
            )
        return None

    @property
    def on_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def open_store(self) -> Store:
        """The store these settings name, its schema brought to the newest revision."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(
            self.resolved_database_url,
            outage_deadline=self.database_outage_seconds,
            lock_wait=self.lock_wait_seconds,
        )
        store.migrate()
        return store

    def delivery_policy(self) -> DeliveryPolicy:
        return DeliveryPolicy(
            lease_seconds=self.delivery_lease_seconds,
            concurrency=self.delivery_concurrency,
            poll_seconds=self.delivery_poll_seconds,
            retry_base_seconds=self.retry_base_seconds,
            retry_max_seconds=self.retry_max_seconds,
            give_up_after_seconds=self.give_up_after_seconds,
        )

    def outbound_policy(self) -> OutboundPolicy:
        return OutboundPolicy(
            max_recipients=self.max_recipients,
            default_from=frozenset(a.lower() for a in self.default_from_addresses),
        )

    def expiry_policy(self) -> ExpiryPolicy:
        return ExpiryPolicy(
            default_minutes=self.contact_expiry_minutes, max_minutes=self.max_contact_expiry_minutes
        )

    # Amazon Q in Connect message templates: AWS's quotas.
    message_templates_per_knowledge_base: int = 200
    versions_per_message_template: int = 20
    email_template_characters: int = 5_000_000

    def template_limits(self) -> TemplateLimits:
        return TemplateLimits(
            templates_per_knowledge_base=self.message_templates_per_knowledge_base,
            versions_per_template=self.versions_per_message_template,
            email_template_characters=self.email_template_characters,
        )
