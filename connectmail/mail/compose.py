"""Compose the RFC 5322 message of an accepted outbound email, the same bytes every time.

Every header that carries caller text (addresses, display names, subject) is encoded here,
not parsed by the `email` package: its header parser decodes encoded words found in the text,
and could then write out line breaks a caller smuggled in as `=?utf-8?q?=0D=0A?=`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import quoprimime
from email.header import Header
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from typing import Any
from urllib.parse import quote

from inscriptis import get_text

MAX_PLAIN_WORD = 70
MAX_UNFOLDED = 76  # email.header's line length
# RFC 2047 section 2: an encoded word is at most 75 characters. email.header's own limit is
# its line length (76), which its folding's leading space can take a word past; at 75 a
# line holds the space and a word of at most 74.
MAX_ENCODED_LINE = 75
CRLF = "\r\n"


def _plain(text: str) -> bool:
    return (
        text.isascii()
        and text.isprintable()
        and "=?" not in text
        and all(len(word) <= MAX_PLAIN_WORD for word in text.split())
    )


def encode_text(name: str, text: str) -> str:
    """Unstructured header text, as itself when plain ASCII, else as RFC 2047 encoded words."""
    if not _plain(text):
        return Header(text, "utf-8", MAX_ENCODED_LINE, name).encode(linesep=CRLF)
    if len(name) + 2 + len(text) <= MAX_UNFOLDED:
        return text  # what Header would write: one line, nothing to fold
    return Header(text, "us-ascii", header_name=name).encode(linesep=CRLF)


def encode_mailbox(mailbox: dict[str, Any]) -> str:
    address, name = mailbox["address"], mailbox.get("name")
    if not name:
        return str(address)
    if _plain(name) and len(name) <= MAX_PLAIN_WORD:
        return str(formataddr((name, address)))
    return f"{Header(name, 'utf-8', MAX_ENCODED_LINE).encode(linesep=CRLF)} <{address}>"


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


def compose(spec: dict[str, Any], attachments: Sequence[Attachment] = ()) -> bytes:
    """The message for a stored outbound spec (see `domain.outbound.accept`), as its bytes.

    With attachments it is multipart/mixed: the body first, then each file base64-encoded.
    The MIME structure is written out directly: every header arrives here already encoded,
    and building `email.message` objects to run through the email package's generator took
    two thirds of the time of composing.
    """
    headers = _envelope(spec)
    body_headers, body = _body(spec)
    if attachments:
        boundary = _boundary(f"mixed {spec['message_id']}")
        parts = [_entity(body_headers, body), *(_attachment_part(a) for a in attachments)]
        content_type = f'Content-Type: multipart/mixed;\r\n boundary="{boundary}"'
        headers += ["MIME-Version: 1.0", content_type]
        return _entity(headers, _multipart(boundary, parts)).encode("ascii")
    if spec.get("html") is None:
        headers += [*body_headers, "MIME-Version: 1.0"]
    else:
        headers += ["MIME-Version: 1.0", *body_headers]
    return _entity(headers, body).encode("ascii")


def compose_draft(spec: dict[str, Any]) -> bytes:
    """An unsent draft as a message: its body and CC recipients, with no sender, recipient or
    subject yet (those come with the send), marked `X-Unsent: 1` as mail clients mark theirs.
    `spec` holds `text` or `html`, `cc`, `date`, and `message_id` (only a seed here)."""
    headers = [f"Date: {format_datetime(datetime.fromtimestamp(spec['date'], UTC))}"]
    if spec["cc"]:
        headers.append(f"Cc: {encode_mailboxes(spec['cc'])}")
    body_headers, body = _body(spec)
    headers += ["X-Unsent: 1", "MIME-Version: 1.0", *body_headers]
    return _entity(headers, body).encode("ascii")


def _envelope(spec: dict[str, Any]) -> list[str]:
    headers = [
        f"From: {encode_mailbox(spec['from'])}",
        f"To: {encode_mailboxes(spec['to'])}",
    ]
    if spec["cc"]:
        headers.append(f"Cc: {encode_mailboxes(spec['cc'])}")
    headers += [
        f"Subject: {encode_text('Subject', spec['subject'])}",
        f"Date: {format_datetime(datetime.fromtimestamp(spec['date'], UTC))}",
        f"Message-ID: {spec['message_id']}",
    ]
    if spec.get("in_reply_to"):
        headers.append(f"In-Reply-To: {spec['in_reply_to']}")
    if spec.get("references"):
        headers.append("References: " + "\r\n ".join(spec["references"]))
    headers += [f"{name}: {encode_text(name, value)}" for name, value in spec.get("headers", ())]
    return headers


def _body(spec: dict[str, Any]) -> tuple[list[str], str]:
    """The body's Content-* headers and its payload: one text part, or the plain text and
    the HTML as multipart/alternative."""
    html = spec.get("html")
    text = spec.get("text")
    if html is None:
        return _text_part(text or "", "plain")
    plain = text if text is not None else html_to_text(html)
    boundary = _boundary(spec["message_id"])
    parts = [_entity(*_text_part(plain, "plain")), _entity(*_text_part(html, "html"))]
    content_type = f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"'
    return [content_type], _multipart(boundary, parts)


def _boundary(seed: str) -> str:
    return "=_connectmail_" + hashlib.sha256(seed.encode()).hexdigest()[:32]


def _entity(headers: list[str], payload: str) -> str:
    return "".join(f"{header}\r\n" for header in headers) + "\r\n" + payload


def _multipart(boundary: str, parts: list[str]) -> str:
    delimiter = f"\r\n--{boundary}\r\n"
    return f"--{boundary}\r\n" + delimiter.join(parts) + f"\r\n--{boundary}--\r\n"


def _attachment_part(attachment: Attachment) -> str:
    content_type = attachment.content_type.lower()
    if not _MIME_TYPE.match(content_type):
        content_type = "application/octet-stream"
    headers = [
        f"Content-Type: {content_type};\r\n {_parameter('name', attachment.name)}",
        f"Content-Disposition: attachment;\r\n {_parameter('filename', attachment.name)}",
        "Content-Transfer-Encoding: base64",
    ]
    return _entity(headers, _crlf(base64.encodebytes(attachment.data).decode("ascii")))


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


def _text_part(body: str, subtype: str) -> tuple[list[str], str]:
    """A text body in UTF-8, encoded as the email package's set_content encodes it."""
    lines = body.encode("utf-8").splitlines()
    cte = _transfer_encoding(body, lines)
    if cte == "7bit":
        payload = "\r\n".join(line.decode("ascii") for line in lines) + "\r\n"
    else:
        payload = _crlf(
            quoprimime.body_encode(
                (b"\n".join(lines) + b"\n").decode("latin-1"), SMTP.max_line_length or 78
            )
        )
    headers = [
        f'Content-Type: text/{subtype}; charset="utf-8"',
        f"Content-Transfer-Encoding: {cte}",
    ]
    return headers, payload


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _crlf(text: str) -> str:
    return _LINE_BREAK.sub("\r\n", text)


def _transfer_encoding(body: str, lines: list[bytes]) -> str:
    """7bit when the body already is; otherwise quoted-printable, so every relay takes it.

    `lines` are the body's lines as they go on the wire: split at CR and LF only (the form
    feeds and separators `str.splitlines` also splits at stay inside a line)."""
    if body.isascii() and all(len(line) <= 998 for line in lines):
        return "7bit"
    return "quoted-printable"
