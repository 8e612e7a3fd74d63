"""Where composed mail goes: the captured mailbox (the default) or an SMTP relay.

A transport answers, per recipient, whether the message was delivered, should be retried
(4xx, connection trouble) or has failed for good (5xx).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from aiosmtplib import SMTPStatus
from aiosmtplib.email import quote_address

from connectmail.jsontext import dumps
from connectmail.mail.addresses import is_plain_address
from connectmail.store.store import Store
from connectmail.store.tables import mailbox
from connectmail.store.upsert import insert_ignore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Envelope:
    message_id: str
    account_id: str
    contact_id: str
    rfc_message_id: str
    subject: str
    mail_from: str
    recipients: list[str]
    data: bytes


@dataclass
class Outcome:
    delivered: list[str] = field(default_factory=list)
    retry: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    @classmethod
    def all_retry(cls, recipients: list[str], reason: str) -> Outcome:
        return cls(retry=dict.fromkeys(recipients, reason))

    @classmethod
    def all_failed(cls, recipients: list[str], reason: str) -> Outcome:
        return cls(failed=dict.fromkeys(recipients, reason))


class Transport(Protocol):
    async def send(self, envelope: Envelope) -> Outcome: ...

    async def close(self) -> None: ...


class CaptureTransport:
    """Keeps every message in the `mailbox` table, readable at /_connectmail/mailbox."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def send(self, envelope: Envelope) -> Outcome:
        values = {
            "account_id": envelope.account_id,
            "message_id": envelope.message_id,
            "contact_id": envelope.contact_id,
            "rfc_message_id": envelope.rfc_message_id,
            "mail_from": envelope.mail_from,
            "recipients": dumps(envelope.recipients),
            "subject": envelope.subject,
            "raw": envelope.data,
            "captured_at": time.time(),
        }
        # A retried capture of the same message is a no-op: the mailbox holds it once.
        await self._store.write(lambda c: insert_ignore(c, mailbox, values, ["message_id"]))
        return Outcome(delivered=list(envelope.recipients))

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class RelaySettings:
    hostname: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: str = "auto"  # starttls | implicit | none | auto (STARTTLS when offered)
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str, timeout: float = 30.0) -> RelaySettings:
        """`smtp://[user:pass@]host:port[?tls=starttls|implicit|none]`."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"relay URL must look like smtp://host:port, not {url!r}")
        tls = parse_qs(parts.query).get("tls", ["implicit" if parts.scheme == "smtps" else "auto"])[
            0
        ]
        if tls not in ("starttls", "implicit", "none", "auto"):
            raise ValueError(f"tls must be starttls, implicit or none, not {tls!r}")
        default_port = 465 if tls == "implicit" else 25
        return cls(
            hostname=parts.hostname,
            port=parts.port or default_port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
            timeout=timeout,
        )


class SmtpRelayTransport:
    """Sends through an SMTP relay over a pool of persistent connections."""

    def __init__(self, settings: RelaySettings, connections: int = 8) -> None:
        self._settings = settings
        self._idle: asyncio.LifoQueue[aiosmtplib.SMTP] = asyncio.LifoQueue()
        self._slots = asyncio.Semaphore(connections)

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self._settings
        client = aiosmtplib.SMTP(
            hostname=s.hostname,
            port=s.port,
            username=s.username,
            password=s.password,
            timeout=s.timeout,
            use_tls=s.tls == "implicit",
            start_tls={"starttls": True, "none": False}.get(s.tls),
        )
        await client.connect()
        if client.is_ehlo_or_helo_needed:  # before MAIL: its SIZE option depends on the answer
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                await client.helo()
        return client

    async def send(self, envelope: Envelope) -> Outcome:
        async with self._slots:
            client = None
            try:
                client = self._idle.get_nowait() if not self._idle.empty() else None
                if client is None or not client.is_connected:
                    client = await self._connect()
                refused = await _transaction(client, envelope)
            except aiosmtplib.SMTPResponseException as exc:
                # MAIL FROM or DATA refused: the whole message shares the fate.
                await self._discard(client)
                reason = f"{exc.code} {exc.message}"
                if 400 <= exc.code < 500:
                    return Outcome.all_retry(envelope.recipients, reason)
                return Outcome.all_failed(envelope.recipients, reason)
            except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
                await self._discard(client)
                return Outcome.all_retry(envelope.recipients, f"relay unavailable: {exc}")
            self._release(client)
            return _refusals(refused, envelope.recipients)

    def _release(self, client: aiosmtplib.SMTP | None) -> None:
        if client is not None and client.is_connected:
            self._idle.put_nowait(client)

    async def _discard(self, client: aiosmtplib.SMTP | None) -> None:
        if client is not None:
            client.close()

    async def close(self) -> None:
        while not self._idle.empty():
            client = self._idle.get_nowait()
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()


async def _transaction(client: aiosmtplib.SMTP, envelope: Envelope) -> dict[str, tuple[int, str]]:
    """MAIL, RCPT for each recipient, DATA: what `SMTP.sendmail` does, without parsing every
    address twice. The recipients refused, with their answers; none accepted → no DATA."""
    options = [f"SIZE={len(envelope.data)}".encode()] if client.supports_extension("size") else []
    answer = await client.execute_command(b"MAIL", b"FROM:" + _angle(envelope.mail_from), *options)
    if answer.code != SMTPStatus.completed:
        raise aiosmtplib.SMTPSenderRefused(answer.code, answer.message, envelope.mail_from)
    refused: dict[str, tuple[int, str]] = {}
    for recipient in envelope.recipients:
        answer = await client.execute_command(b"RCPT", b"TO:" + _angle(recipient))
        if answer.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
            refused[recipient] = (answer.code, answer.message)
    if len(refused) == len(envelope.recipients):
        await client.rset()  # an envelope with no recipient: nothing to send
        return refused
    await client.data(envelope.data)
    return refused


def _angle(address: str) -> bytes:
    """`<address>` for the envelope. Addresses were checked when the mail was accepted: a
    plain addr-spec goes in as it is (aiosmtplib's parse of every address had cost a tenth of
    a delivery); anything else through aiosmtplib's own quoting, as `SMTP.mail` would."""
    quoted = f"<{address}>" if is_plain_address(address) else quote_address(address)
    return quoted.encode("ascii")


def _refusals(refused: dict[str, tuple[int, str]], recipients: list[str]) -> Outcome:
    outcome = Outcome()
    for recipient in recipients:
        if recipient not in refused:
            outcome.delivered.append(recipient)
            continue
        code, text = refused[recipient]
        reason = f"{code} {text}"
        if 400 <= code < 500:
            outcome.retry[recipient] = reason
        else:
            outcome.failed[recipient] = reason
    return outcome
