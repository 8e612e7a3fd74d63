"""Relays that misbehave in the ways real ones do, on loopback (aiosmtpd): slow at RCPT,
refusing at the greeting, asking for a password, speaking TLS with a certificate of their own.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connectmail.delivery.transports import Envelope as Mail
from tests.support.smtp import SinkController, SinkHandler, SmtpSink, free_port


@dataclass
class SlowHandler(SinkHandler):
    """A sink that takes `rcpt_delay` seconds to answer each RCPT (a tarpit, or a relay
    looking every recipient up)."""

    rcpt_delay: float = 0.0

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        await asyncio.sleep(self.rcpt_delay)
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


class GreetingSMTP(SMTP):
    """Answers every connection with `greeting` and closes it, as a relay refusing the client
    (554) does."""

    greeting = "554 5.7.1 Client host rejected: Access denied"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(f"{self.greeting}\r\n".encode())
        transport.close()

    def connection_lost(self, error: Exception | None) -> None:
        return None


class RelayController(SinkController):
    def __init__(self, handler: SinkHandler, smtp: type[SMTP] | None, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._smtp = smtp

    def factory(self) -> SMTP:
        if self._smtp is not None:
            return self._smtp(self.handler, **self.SMTP_kwargs)
        return super().factory()


class Relay(SmtpSink):
    """An SmtpSink with its own handler, SMTP class and aiosmtpd options (authenticator,
    tls_context, ...)."""

    def __init__(
        self, handler: SinkHandler | None = None, smtp: type[SMTP] | None = None, **options: Any
    ) -> None:
        self.port = free_port()
        self.handler = handler or SinkHandler()
        self.controller = RelayController(
            self.handler, smtp, hostname="127.0.0.1", port=self.port, decode_data=False, **options
        )


def password_relay(user: str, password: str, **options: Any) -> Relay:
    """A relay that takes mail only after AUTH as `user` with `password` (535 otherwise)."""

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(),
            password.encode(),
        )
        return AuthResult(success=ok, handled=False)

    return Relay(authenticator=authenticate, auth_required=True, auth_require_tls=False, **options)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself, and its key: (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "connectmail test relay")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def starttls_relay(directory: Path, handler: SinkHandler | None = None) -> tuple[Relay, Path]:
    """A relay offering STARTTLS with a self-signed certificate; the relay and the
    certificate's file (what a client must trust)."""
    cert_path, key_path = self_signed(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return Relay(handler, tls_context=context), cert_path


def outgoing(*recipients: str) -> Mail:
    """A message to send through a relay (to customer@example.org unless given)."""
    message_id = str(uuid.uuid4())
    return Mail(
        message_id=message_id,
        account_id="123456789012",
        contact_id=str(uuid.uuid4()),
        rfc_message_id=f"<{message_id}@example.com>",
        subject="Hello",
        mail_from="support@example.com",
        recipients=list(recipients) or ["customer@example.org"],
        composer=lambda: b"Subject: Hello\r\n\r\nHello there\r\n",
    )
