"""Compose the RFC 5322 message of an accepted outbound email, the same bytes every time.

Every header that carries caller text (addresses, display names, subject) is encoded here,
not parsed by the `email` package: its header parser decodes encoded words found in the text,
and could then write out line breaks a caller smuggled in as `=?utf-8?q?=0D=0A?=`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import quoprimime
from email.header import Header
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage, Message
from email.policy import SMTP, EmailPolicy, Policy
from email.utils import format_datetime, formataddr
from typing import Any
from urllib.parse import quote

from inscriptis import get_text


class _ComposePolicy(EmailPolicy):
    """SMTP's policy, with the per-header count limits looked up once per name: the email
    package builds a new header class on every lookup, which was most of composing."""

    def header_max_count(self, name: str) -> int | None:
        return _max_count(name.lower())


@functools.cache
def _max_count(name: str) -> int | None:
    registry: HeaderRegistry = SMTP.header_factory  # type: ignore[assignment]
    count: int | None = registry[name].max_count
    return count


COMPOSE = _ComposePolicy(linesep="\r\n")

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


@dataclass(frozen=True)
class Attachment:
    """A file that travels with an email, as its name, MIME type and exact bytes."""

    name: str
    content_type: str
    data: bytes


_MIME_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]{1,64}/[A-Za-z0-9!#$&^_.+-]{1,127}$")
_PLAIN_PARAM = re.compile(r"^[\x20-\x7e]{1,200}$")


def compose(spec: dict[str, Any], attachments: Sequence[Attachment] = ()) -> EmailMessage:
    """The message for a stored outbound spec (see `domain.outbound.accept`).

    With attachments it is multipart/mixed: the body first, then each file base64-encoded.
    """
    message = _compose_body(spec)
    if attachments:
        boundary = hashlib.sha256(f"mixed {spec['message_id']}".encode()).hexdigest()[:32]
        message.make_mixed()
        message.set_boundary(f"=_connectmail_{boundary}")
        for attachment in attachments:
            message.attach(_attachment_part(attachment))
    return message


def _attachment_part(attachment: Attachment) -> EmailMessage:
    content_type = attachment.content_type.lower()
    if not _MIME_TYPE.match(content_type):
        content_type = "application/octet-stream"
    part = EmailMessage(policy=COMPOSE)
    part["Content-Type"] = EncodedHeader(
        "Content-Type", f"{content_type};\r\n {_parameter('name', attachment.name)}"
    )
    part["Content-Disposition"] = EncodedHeader(
        "Content-Disposition", f"attachment;\r\n {_parameter('filename', attachment.name)}"
    )
    part["Content-Transfer-Encoding"] = "base64"
    part.set_payload(base64.encodebytes(attachment.data).decode("ascii"))
    return part


def _parameter(name: str, value: str) -> str:
    """A MIME parameter: quoted when plain ASCII, else RFC 2231 encoded in continuations."""
    if _PLAIN_PARAM.match(value) and '"' not in value and "\\" not in value and "=?" not in value:
        return f'{name}="{value}"'
    encoded = quote(value, safe="!#$&+-.^_`|~")
    pieces, start = [], 0
    while start < len(encoded):
        end = min(start + 60, len(encoded))
        while end < len(encoded) and "%" in encoded[end - 2 : end]:
            end -= 1  # never split a %XX escape
        pieces.append(encoded[start:end])
        start = end
    if len(pieces) == 1:
        return f"{name}*=utf-8''{pieces[0]}"
    first = f"{name}*0*=utf-8''{pieces[0]}"
    rest = [f"{name}*{n}*={piece}" for n, piece in enumerate(pieces[1:], start=1)]
    return ";\r\n ".join([first, *rest])


def _compose_body(spec: dict[str, Any]) -> EmailMessage:
    message = EmailMessage(policy=COMPOSE)
    message["From"] = EncodedHeader("From", encode_mailbox(spec["from"]))
    message["To"] = EncodedHeader("To", encode_mailboxes(spec["to"]))
    if spec["cc"]:
        message["Cc"] = EncodedHeader("Cc", encode_mailboxes(spec["cc"]))
    message["Subject"] = EncodedHeader("Subject", encode_text("Subject", spec["subject"]))
    message["Date"] = EncodedHeader(
        "Date", format_datetime(datetime.fromtimestamp(spec["date"], UTC))
    )
    message["Message-ID"] = EncodedHeader("Message-ID", spec["message_id"])
    if spec.get("in_reply_to"):
        message["In-Reply-To"] = EncodedHeader("In-Reply-To", spec["in_reply_to"])
    if spec.get("references"):
        message["References"] = EncodedHeader("References", "\r\n ".join(spec["references"]))
    for name, value in spec.get("headers", ()):
        message[name] = EncodedHeader(name, encode_text(name, value))
    html = spec.get("html")
    text = spec.get("text")
    if html is None:
        _text_body(message, text or "", "plain")
        message["MIME-Version"] = EncodedHeader("MIME-Version", "1.0")
        return message
    plain = text if text is not None else html_to_text(html)
    boundary = hashlib.sha256(spec["message_id"].encode()).hexdigest()[:32]
    message["MIME-Version"] = EncodedHeader("MIME-Version", "1.0")
    message["Content-Type"] = EncodedHeader(
        "Content-Type", f'multipart/alternative;\r\n boundary="=_connectmail_{boundary}"'
    )
    parts: list[Message[str, str] | str] = []
    for body, subtype in ((plain, "plain"), (html, "html")):
        part = EmailMessage(policy=COMPOSE)
        _text_body(part, body, subtype)
        parts.append(part)
    message.set_payload(parts)
    return message


def _text_body(part: EmailMessage, body: str, subtype: str) -> None:
    """A text body in UTF-8, encoded as the email package's set_content encodes it, with the
    headers written out as they are instead of parsed back (several times faster)."""
    cte = _transfer_encoding(body)
    lines = body.encode("utf-8").splitlines()
    if cte == "7bit":
        payload = "\r\n".join(line.decode("ascii") for line in lines) + "\r\n"
    else:
        payload = quoprimime.body_encode(
            (b"\n".join(lines) + b"\n").decode("latin-1"), SMTP.max_line_length or 78
        )
    part["Content-Type"] = EncodedHeader("Content-Type", f'text/{subtype}; charset="utf-8"')
    part["Content-Transfer-Encoding"] = EncodedHeader("Content-Transfer-Encoding", cte)
    part.set_payload(payload)


def _transfer_encoding(body: str) -> str:
    """7bit when the body already is; otherwise quoted-printable, so every relay takes it."""
    if body.isascii() and all(len(line) <= 998 for line in body.splitlines()):
        return "7bit"
    return "quoted-printable"


def to_bytes(message: EmailMessage) -> bytes:
    return message.as_bytes(policy=SMTP)
