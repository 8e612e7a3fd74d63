"""The inbound SMTP server: mail for an instance's email addresses becomes INBOUND contacts.

It runs (aiosmtpd) on the server's event loop. Recipients are checked at RCPT (550 for an
address no live instance owns); the message size limit is advertised (SIZE) and enforced while
DATA arrives, data past it being dropped as it comes rather than buffered. A message is
answered 250 only once its contacts have committed; any failure before that answers 451, so
the sender keeps the message and tries again, but for a message that cannot be read at all
(554: the same bytes would fail the same way on every try).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiosmtpd.smtp import SMTP, Envelope, Session

from connectmail.domain import attached_files, inbound
from connectmail.domain.contacts import ExpiryPolicy
from connectmail.errors import ServiceError
from connectmail.mail.parse import parse
from connectmail.sockets import bind
from connectmail.store.store import Store

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 100
TEMPORARY_FAILURE = "451 4.3.0 Temporary failure, please try again later"


class InboundHandler:
    """aiosmtpd hooks: check recipients, then store each message as contacts."""

    def __init__(self, store: Store, expiry: ExpiryPolicy) -> None:
        self._store = store
        self._expiry = expiry

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        try:
            known = await self._store.read(lambda c: inbound.deliverable(c, address))
        except Exception:
            log.exception("checking inbound recipient %s failed", address)
            return TEMPORARY_FAILURE
        if not known:
            return f"550 5.1.1 <{address}>: Recipient address rejected: no such mailbox here"
        if address.lower() not in (r.lower() for r in envelope.rcpt_tos):
            envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        try:
            parsed = await asyncio.to_thread(parse, raw)
        except MemoryError:
            log.exception("parsing an inbound message failed")
            return TEMPORARY_FAILURE
        except Exception:  # the same bytes would fail the same way: a retry cannot help
            log.exception("parsing an inbound message failed")
            return "554 5.6.0 The message cannot be read"
        if len(parsed.attachments) > attached_files.MAX_ATTACHMENTS:
            return (
                f"552 5.3.4 Message has {len(parsed.attachments)} attachments; "
                f"at most {attached_files.MAX_ATTACHMENTS} are accepted"
            )
        # `MAIL FROM:<>` (a bounce, a notification) names no one to answer.
        sender = envelope.mail_from if envelope.mail_from not in (None, "", "<>") else None
        recipients = list(envelope.rcpt_tos)
        try:
            contact_ids = await self._store.write(
                lambda c: inbound.receive(
                    c, raw, parsed, recipients, sender, time.time(), self._expiry
                )
            )
        except ServiceError as error:
            if (error.status or 400) >= 500:  # the database is away: the sender tries again
                log.warning("storing an inbound message failed: %s", error.message)
                return TEMPORARY_FAILURE
            return f"554 5.6.0 {error.message[:200]}"  # the message itself is unacceptable
        except Exception:
            log.exception("storing an inbound message failed")
            return TEMPORARY_FAILURE
        if not contact_ids:
            return "550 5.1.1 No recipient of this message is a mailbox here any more"
        return f"250 2.0.0 OK: contact {' '.join(contact_ids)}"


class InboundSmtpServer:
    """The SMTP listener; its socket is bound when built, so its port is known at once."""

    def __init__(
        self,
        store: Store,
        expiry: ExpiryPolicy,
        *,
        host: str,
        port: int,
        hostname: str,
        max_message_bytes: int,
        reuse_port: bool = False,
    ) -> None:
        self._handler = InboundHandler(store, expiry)
        self._hostname = hostname
        self._limit = max_message_bytes
        self._socket = bind(host, port, reuse_port=reuse_port, backlog=128)
        self._socket.setblocking(False)
        self._server: asyncio.AbstractServer | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    def _protocol(self) -> SMTP:
        return SMTP(
            self._handler,
            data_size_limit=self._limit,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=self._hostname,
            ident="connectmail ESMTP",
            loop=asyncio.get_running_loop(),
        )

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, sock=self._socket)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None
        else:
            self._socket.close()


def describe_address(server: InboundSmtpServer) -> str:
    host, port = server.address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
