"""Where composed mail goes: the captured mailbox (the default) or an SMTP relay.

A transport answers, per recipient, whether the message was delivered, should be retried
(4xx, connection trouble) or has failed for good (5xx).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from aiosmtplib import SMTPStatus
from aiosmtplib.email import quote_address

from connectmail.jsontext import dumps
from connectmail.mail.addresses import envelope_address, is_plain_address
from connectmail.store.store import Store
from connectmail.store.tables import mailbox
from connectmail.store.upsert import insert_ignore

log = logging.getLogger(__name__)


class ComposeFailed(Exception):
    """The message cannot be composed from what was accepted (a stored spec that is damaged
    or lacks a part, an attached file whose bytes are gone). Composing is deterministic, so
    it would fail on every attempt: the message fails at once instead of being retried."""


@dataclass(frozen=True)
class Envelope:
    message_id: str
    account_id: str
    contact_id: str
    rfc_message_id: str
    subject: str
    mail_from: str
    recipients: list[str]
    composer: Callable[[], bytes]

    @cached_property
    def data(self) -> bytes:
        """The message's bytes, composed when first asked for. The relay transport asks
        once it holds a connection: composed when a claim's messages started (about 200 us
        each, turning HTML into text), they ran in one stretch of the event loop while every
        connection's reply waited, and each SMTP transaction took 8 ms instead of 2.

        ComposeFailed if it cannot be composed (MemoryError, which may pass, propagates)."""
        try:
            return self.composer()
        except MemoryError:
            raise
        except Exception as exc:
            raise ComposeFailed(f"{type(exc).__name__}: {exc}") from exc


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
        """`smtp://[user:pass@]host:port[?tls=starttls|implicit|none|auto]`, the user name and
        password percent-encoded. A URL that cannot be read is refused with what is wrong,
        never with the URL: a password with a reserved character (`#`, `/`, `?`, `@`, `:`)
        not encoded breaks it apart, and would be shown in the error."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:  # its message quotes the URL: not chained, so never shown
            message = f"the relay URL's port is not a number from 0 to 65535{_ENCODE}"
            raise ValueError(message) from None
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("the relay URL must start with smtp:// or smtps://")
        if not parts.hostname or parts.fragment:
            raise ValueError(f"the relay URL must look like smtp://host:port{_ENCODE}")
        default_tls = "implicit" if parts.scheme == "smtps" else "auto"
        tls = parse_qs(parts.query).get("tls", [default_tls])[0]
        if tls not in ("starttls", "implicit", "none", "auto"):
            raise ValueError(
                f"the relay URL's tls must be starttls, implicit, none or auto{_ENCODE}"
            )
        default_port = 465 if tls == "implicit" else 25
        return cls(
            hostname=parts.hostname,
            port=port or default_port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
            timeout=timeout,
        )


_ENCODE = " (percent-encode the user name and password: # as %23, / as %2F, ? as %3F, @ as %40)"


class SmtpRelayTransport:
    """Sends through an SMTP relay over a pool of persistent connections: up to
    `connections` of them, fewer while the relay turns more away.

    Relays cap the connections one client may hold (Postfix answers 421 at the greeting
    beyond smtpd_client_connection_count_limit). Such an answer while other connections to
    the relay are open is taken as that cap: the pool shrinks to those, and the message waits
    for one of them instead of being retried later. Every `regrow_after` seconds without
    such an answer the pool may try one connection more.
    """

    def __init__(
        self,
        settings: RelaySettings,
        connections: int = 8,
        *,
        regrow_after: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._most = connections
        self._limit = connections
        self._regrow_after = regrow_after
        self._clock = clock
        self._shrunk_at = 0.0
        self._idle: list[aiosmtplib.SMTP] = []
        self._connected = 0  # open connections, idle or in use
        self._opening = 0  # connections being opened
        self._changed = asyncio.Condition()

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
        try:
            await client.connect()
            if client.is_ehlo_or_helo_needed:  # before MAIL: SIZE depends on the answer
                try:
                    await client.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await client.helo()
        except BaseException:
            # An EHLO that failed leaves no socket open (a refused greeting, aiosmtplib closes).
            client.close()
            raise
        return client

    async def send(self, envelope: Envelope) -> Outcome:
        while True:
            client = await self._checkout()
            if client is not None:
                break
            try:
                client = await self._connect()
            except BaseException as exc:
                if await self._not_opened(exc):
                    continue  # the relay takes no more: wait for a connection it did take
                if isinstance(exc, _RELAY_ERRORS):
                    # Whatever the relay answered (a 554 greeting, a 535 to a password being
                    # rotated), nothing was said about this message: it waits for the relay,
                    # as Postfix's smtp_skip_5xx_greeting and smtp_sasl_auth_soft_bounce do.
                    return Outcome.all_retry(envelope.recipients, _unavailable(exc))
                raise
            self._opening -= 1
            self._connected += 1
            break
        try:
            envelope.data  # noqa: B018 (composed now that a connection is ours)
        except BaseException:
            await self._checkin(client)
            raise
        refused: dict[str, tuple[int, str]] = {}
        try:
            await _transaction(client, envelope, refused)
        except BaseException as exc:
            # MAIL FROM or DATA refused, a 421, the connection broke, or the send was
            # cancelled: the connection is not trusted again.
            client.close()
            await self._checkin(client)
            if isinstance(exc, _RELAY_ERRORS):
                return _answered(envelope.recipients, refused, exc)
            raise
        await self._checkin(client)
        return _answered(envelope.recipients, refused, None)

    async def _checkout(self) -> aiosmtplib.SMTP | None:
        """An idle connection, or None once there is room to open one (the caller does)."""
        async with self._changed:
            while True:
                await self._changed.wait_for(self._ready)
                if not self._idle:
                    self._opening += 1
                    return None
                client = self._idle.pop()
                if client.is_connected:
                    return client
                self._connected -= 1  # the relay closed it while it was idle

    def _ready(self) -> bool:
        if self._limit < self._most:
            now = self._clock()
            if now - self._shrunk_at >= self._regrow_after:
                self._limit += 1
                self._shrunk_at = now
        return bool(self._idle) or self._connected + self._opening < self._limit

    async def _checkin(self, client: aiosmtplib.SMTP) -> None:
        async with self._changed:
            if client.is_connected:
                self._idle.append(client)
            else:
                self._connected -= 1
            self._changed.notify()

    async def _not_opened(self, error: BaseException) -> bool:
        """A connection could not be opened: whether that was the relay refusing more than it
        has of ours (a 4xx greeting while others are open or opening); the pool then shrinks
        to those. A relay that is down, or refuses every connection, is not waited for."""
        async with self._changed:
            self._opening -= 1
            self._changed.notify()
            others = self._connected + self._opening
            turned_away = (
                isinstance(error, aiosmtplib.SMTPResponseException) and 400 <= error.code < 500
            )
            if not turned_away or others == 0:
                return False
            if others < self._limit:
                log.warning("the relay took no more connections (%s); using %d", error, others)
                self._limit = others
            self._shrunk_at = self._clock()
            return True

    async def close(self) -> None:
        while self._idle:
            client = self._idle.pop()
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()


# What a relay, or the way to it, can answer a send with.
_RELAY_ERRORS = (TimeoutError, aiosmtplib.SMTPException, OSError)

# 530: authentication (or STARTTLS) required, RFC 4954: said of the connection, whatever the
# message; a relay wanting a password it was not given is unavailable, not refusing mail.
_CONNECTION_REFUSALS = frozenset({530})


def _unavailable(error: BaseException) -> str:
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return f"relay unavailable: {error.code} {error.message}"
    return f"relay unavailable: {error}"


def _answered(
    recipients: list[str], refused: dict[str, tuple[int, str]], error: BaseException | None
) -> Outcome:
    """Each recipient's outcome: a recipient refused at RCPT keeps its own answer; the
    others (accepted at RCPT, or never asked) take the outcome of the rest of the
    transaction, `error` (MAIL or DATA refused, a 421, the connection lost) or delivered."""
    outcome = Outcome()
    rest: tuple[int, str] | None = None  # the answer to the rest of the transaction
    if isinstance(error, aiosmtplib.SMTPResponseException):
        rest = (error.code, error.message)
    for recipient in recipients:
        answer = refused.get(envelope_address(recipient), rest)
        if answer is None:
            if error is None:
                outcome.delivered.append(recipient)
            else:
                outcome.retry[recipient] = _unavailable(error)
            continue
        code, text = answer
        if code in _CONNECTION_REFUSALS:
            outcome.retry[recipient] = f"relay unavailable: {code} {text}"
        elif 400 <= code < 500:
            outcome.retry[recipient] = f"{code} {text}"
        else:
            outcome.failed[recipient] = f"{code} {text}"
    return outcome


async def _transaction(
    client: aiosmtplib.SMTP, envelope: Envelope, refused: dict[str, tuple[int, str]]
) -> None:
    """MAIL, one RCPT for each address (an address named twice, as To and Cc, is sent to
    once), DATA: what `SMTP.sendmail` does, without parsing every address twice. `refused`
    gets the addresses refused at RCPT (by `envelope_address`), with their answers, as they
    come: they stand when a later step raises. None accepted: no DATA."""
    options = [f"SIZE={len(envelope.data)}".encode()] if client.supports_extension("size") else []
    answer = await client.execute_command(b"MAIL", b"FROM:" + _angle(envelope.mail_from), *options)
    if answer.code != SMTPStatus.completed:
        raise aiosmtplib.SMTPSenderRefused(answer.code, answer.message, envelope.mail_from)
    addresses: dict[str, str] = {}
    for recipient in envelope.recipients:
        addresses.setdefault(envelope_address(recipient), recipient)
    for address, recipient in addresses.items():
        answer = await client.execute_command(b"RCPT", b"TO:" + _angle(recipient))
        if answer.code == SMTPStatus.domain_unavailable:
            # The relay is closing (aiosmtplib has closed): the recipients not refused yet
            # get its answer.
            raise aiosmtplib.SMTPResponseException(answer.code, answer.message)
        if answer.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
            refused[address] = (answer.code, answer.message)
    if len(refused) == len(addresses):
        await client.rset()  # an envelope with no recipient: nothing to send
        return
    await client.data(envelope.data)


def _angle(address: str) -> bytes:
    """`<address>` for the envelope. Addresses were checked when the mail was accepted: a
    plain addr-spec goes in as it is (aiosmtplib's parse of every address had cost a tenth of
    a delivery); anything else through aiosmtplib's own quoting, as `SMTP.mail` would."""
    quoted = f"<{address}>" if is_plain_address(address) else quote_address(address)
    return quoted.encode("ascii")
