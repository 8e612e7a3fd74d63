"""Compose the RFC 5322 message of an accepted outbound email, the same bytes every time.

Every header that carries caller text (addresses, display names, subject) is encoded here,
not parsed by the `email` package: its header parser decodes encoded words found in the text,
and could then write out line breaks a caller smuggled in as `=?utf-8?q?=0D=0A?=`.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP, Policy
from email.utils import format_datetime, formataddr
from typing import Any

from inscriptis import get_text

MAX_PLAIN_WORD = 70
CRLF = "\r\n"


class EncodedHeader(str):
    """A header value already in wire form; the policy writes it out untouched."""

    name: str

    def __new__(cls, name: str, value: str) -> EncodedHeader:
        header = super().__new__(cls, value)
        header.name = name
        return header

    def fold(self, *, policy: Policy) -> str:
        return f"{self.name}: {self}{policy.linesep}"


def _plain(text: str) -> bool:
    return (
        text.isascii()
        and text.isprintable()
        and "=?" not in text
        and all(len(word) <= MAX_PLAIN_WORD for word in text.split())
    )


def encode_text(name: str, text: str) -> str:
    """Unstructured header text, as itself when plain ASCII, else as RFC 2047 encoded words."""
    charset = "us-ascii" if _plain(text) else "utf-8"
    return Header(text, charset, header_name=name).encode(linesep=CRLF)


def encode_mailbox(mailbox: dict[str, Any]) -> str:
    address, name = mailbox["address"], mailbox.get("name")
    if not name:
        return str(address)
    if _plain(name) and len(name) <= MAX_PLAIN_WORD:
        return str(formataddr((name, address)))
    return f"{Header(name, 'utf-8').encode(linesep=CRLF)} <{address}>"


def encode_mailboxes(mailboxes: list[dict[str, Any]]) -> str:
    return ",\r\n ".join(encode_mailbox(m) for m in mailboxes)


def html_to_text(html: str) -> str:
    return str(get_text(html)).strip() + "\n"


def compose(spec: dict[str, Any]) -> EmailMessage:
    """The message for a stored outbound spec (see `domain.outbound.accept`)."""
    message = EmailMessage(policy=SMTP)
    message["From"] = EncodedHeader("From", encode_mailbox(spec["from"]))
    message["To"] = EncodedHeader("To", encode_mailboxes(spec["to"]))
    if spec["cc"]:
        message["Cc"] = EncodedHeader("Cc", encode_mailboxes(spec["cc"]))
    message["Subject"] = EncodedHeader("Subject", encode_text("Subject", spec["subject"]))
    message["Date"] = format_datetime(datetime.fromtimestamp(spec["date"], UTC))
    message["Message-ID"] = spec["message_id"]
    if spec.get("in_reply_to"):
        message["In-Reply-To"] = spec["in_reply_to"]
    if spec.get("references"):
        message["References"] = EncodedHeader("References", "\r\n ".join(spec["references"]))
    for name, value in spec.get("headers", ()):
        message[name] = EncodedHeader(name, encode_text(name, value))
    html = spec.get("html")
    text = spec.get("text")
    if html is None:
        message.set_content(
            text or "", subtype="plain", charset="utf-8", cte=_transfer_encoding(text or "")
        )
        return message
    plain = text if text is not None else html_to_text(html)
    message.set_content(plain, subtype="plain", charset="utf-8", cte=_transfer_encoding(plain))
    message.add_alternative(html, subtype="html", charset="utf-8", cte=_transfer_encoding(html))
    for part in message.iter_parts():
        del part["MIME-Version"]  # only the top level carries it
    boundary = hashlib.sha256(spec["message_id"].encode()).hexdigest()[:32]
    message.set_boundary(f"=_connectmail_{boundary}")
    return message


def _transfer_encoding(body: str) -> str:
    """7bit when the body already is; otherwise quoted-printable, so every relay takes it."""
    if body.isascii() and all(len(line) <= 998 for line in body.splitlines()):
        return "7bit"
    return "quoted-printable"


def to_bytes(message: EmailMessage) -> bytes:
    return message.as_bytes(policy=SMTP)
