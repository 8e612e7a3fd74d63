"""SMTP servers on loopback (aiosmtpd): a relay that keeps what it receives, and can refuse."""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import DATA_SIZE_DEFAULT, SMTP, Envelope, Session


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    recipients: list[str]
    data: bytes
    mail_options: list[str] = field(default_factory=list)
    peer: Any = None  # the client's (host, port): one per connection

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SinkHandler:
    """Keeps every message; `refuse` maps a recipient to an SMTP reply given at RCPT;
    `max_connections` turns away (421 at the greeting) a connection beyond that many open."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    data_reply: str | None = None
    data_delay: float = 0.0
    max_connections: int | None = None
    open_connections: int = 0
    turned_away: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = self.refuse.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.data_reply is not None:
            return self.data_reply
        data = envelope.original_content or b""
        with self.arrived:
            self.received.append(
                Received(
                    str(envelope.mail_from),
                    list(envelope.rcpt_tos),
                    data,
                    list(envelope.mail_options),
                    session.peer,
                )
            )
            self.arrived.notify_all()
        return "250 Message accepted"


class LimitedSMTP(SMTP):
    """aiosmtpd's server, turning away connections beyond the handler's `max_connections`
    the way Postfix does (smtpd_client_connection_count_limit)."""

    turned_away = False

    @property
    def sink(self) -> SinkHandler:
        handler = self.event_handler
        assert isinstance(handler, SinkHandler)
        return handler

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is not None:  # the same connection again, after STARTTLS
            super().connection_made(transport)
            return
        sink = self.sink
        if sink.max_connections is not None and sink.open_connections >= sink.max_connections:
            self.turned_away = True
            with sink.lock:
                sink.turned_away += 1
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(b"421 4.7.0 Error: too many connections from 127.0.0.1\r\n")
            transport.close()
            return
        sink.open_connections += 1
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self.turned_away:
            return
        self.sink.open_connections -= 1
        super().connection_lost(error)


class SinkController(Controller):
    def factory(self) -> SMTP:
        return LimitedSMTP(self.handler, **self.SMTP_kwargs)


class SmtpSink:
    """An SMTP relay on 127.0.0.1 that records what it is sent."""

    def __init__(
        self, port: int | None = None, size_limit: int = DATA_SIZE_DEFAULT, **handler_options: Any
    ) -> None:
        self.port = port or free_port()
        self.handler = SinkHandler(**handler_options)
        self.controller = SinkController(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            decode_data=False,
            data_size_limit=size_limit,
        )

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?tls=none"

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        with self.handler.arrived:
            self.handler.arrived.wait_for(lambda: len(self.handler.received) >= count, timeout)
            return list(self.handler.received)
