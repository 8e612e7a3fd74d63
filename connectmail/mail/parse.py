"""Read a received RFC 5322 message: its parties, subject, bodies, thread headers and attachments.

Parsing is lenient, as mail from the world needs: a malformed header yields nothing rather than
an error, so a message is never refused for what the `email` package can read around. That
package's header parser raises on some malformed values (`To: Jane <`, `Message-ID: <`); such a
header is read as plain text instead.
"""

from __future__ import annotations

import contextlib
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from connectmail.mail.compose import Attachment, html_to_text

# A msg-id as we keep it: angle brackets around printable ASCII (no spaces, no brackets).
MESSAGE_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]{1,498}>")
_ADDRESS = re.compile(r"^[^\s@<>()\[\],;:\"\x00-\x1f\x7f]+@[^\s@<>()\[\],;:\"\x00-\x1f\x7f]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# RFC 5321's longest forward-path, 256 octets with its angle brackets.
MAX_ADDRESS = 254
MAX_NAME = 256
# A MIME type as attached_files keeps it (at most 255 characters); anything else is unknown.
_MIME_TYPE = re.compile(r"^[a-z0-9!#$&^_.+-]{1,64}/[a-z0-9!#$&^_.+-]{1,127}$")
UNKNOWN_TYPE = "application/octet-stream"


# The email package's header parser takes time quadratic in a value's length (seconds for a
# megabyte, minutes for ten): what it reads of a header is cut to this. Message-IDs are found in
# the header as it came (see `_first`), so a References header of any length keeps them all.
MAX_PARSED_HEADER = 64 * 1024
# What the email package's header parser raises on malformed values. Not RecursionError or
# MemoryError: a message that deep or that large cannot be read at all.
_PARSER_FAILURES = (AttributeError, IndexError, KeyError, LookupError, TypeError, ValueError)


class _UnparsedHeader(UnstructuredHeader):
    """A header the email package's parser failed on, kept as its text."""

    @property
    def content_disposition(self) -> str | None:  # what EmailMessage.is_attachment asks
        return str(self).split(";", 1)[0].strip().lower() or None


class _LenientHeaders(HeaderRegistry):
    """The standard header classes, but a value their parser raises on is read as text."""

    def __init__(self) -> None:
        super().__init__()
        self._unparsed = type("_UnparsedHeader", (_UnparsedHeader, BaseHeader), {})

    def __call__(self, name: str, value: str) -> BaseHeader:
        value = value[:MAX_PARSED_HEADER]
        try:
            return super().__call__(name, value)
        except _PARSER_FAILURES:
            try:
                header: BaseHeader = self._unparsed(name, value)
            except _PARSER_FAILURES:
                header = self._unparsed(name, "")
            return header


LENIENT = policy.default.clone(header_factory=_LenientHeaders())
# An attached message's headers written back as they came: refolding would parse them again.
_AS_RECEIVED = LENIENT.clone(linesep="\r\n", refold_source="none")


@dataclass(frozen=True)
class Party:
    address: str
    name: str | None = None


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    sender: Party | None
    to: tuple[Party, ...]
    cc: tuple[Party, ...]
    date: float | None
    text: str | None
    html: str | None
    attachments: tuple[Attachment, ...]
    # The text/plain body; else, or when it is empty (a blank alternative to an HTML body), the
    # HTML body as text. Converted while parsing, not when stored: HTML to text can take
    # seconds (large tables), and storing runs inside a transaction on the database's writer.
    plain_text: str | None

    @property
    def thread_references(self) -> list[str]:
        """The Message-IDs this message answers, oldest first (RFC 5322 section 3.6.4)."""
        return list(self.references or self.in_reply_to[:1])


def parse(raw: bytes) -> ParsedEmail:
    message = BytesParser(policy=LENIENT).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    senders = _parties(message, "From")
    text = _content(text_part) if text_part is not None else None
    html = _content(html_part) if html_part is not None else None
    return ParsedEmail(
        message_id=_first_id(_first(message, "Message-ID")),
        in_reply_to=tuple(message_ids(_first(message, "In-Reply-To"))),
        references=tuple(message_ids(_first(message, "References"))),
        subject=_text(message.get("Subject")),
        sender=senders[0] if senders else None,
        to=tuple(_parties(message, "To")),
        cc=tuple(_parties(message, "Cc")),
        date=_date(message.get("Date")),
        text=text,
        html=html,
        attachments=tuple(_attachments(message, {id(text_part), id(html_part)})),
        plain_text=html_to_text(html) if html is not None and not (text or "").strip() else text,
    )


def _first(message: Message, name: str) -> str | None:
    """The first `name` header's value as it came, unparsed."""
    wanted = name.lower()
    return next((str(v) for k, v in message.raw_items() if k.lower() == wanted), None)


def message_ids(value: object) -> list[str]:
    """The msg-ids in a header value (In-Reply-To, References), in order, without repeats."""
    if value is None:
        return []
    seen: dict[str, None] = {}
    for found in MESSAGE_ID.findall(str(value)):
        seen.setdefault(found, None)
    return list(seen)


def _first_id(value: object) -> str | None:
    found = message_ids(value)
    return found[0] if found else None


def _text(value: object) -> str:
    """Header text on one line. Bytes the parser could not decode (8-bit text in a header, or
    an encoded word whose bytes are not of its charset) come as lone surrogates, which no
    JSON or database takes: they are read as UTF-8, and what is not UTF-8 is replaced."""
    if value is None:
        return ""
    text = str(value)
    if _SURROGATE.search(text):
        with contextlib.suppress(UnicodeEncodeError):  # a surrogate not of an undecoded byte
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        text = _SURROGATE.sub("\ufffd", text)
    return " ".join(_CONTROL.sub(" ", text).split())


def _parties(message: EmailMessage, name: str) -> list[Party]:
    parties: list[Party] = []
    for header in message.get_all(name) or []:
        try:
            pairs = [(a.display_name, a.addr_spec) for a in header.addresses]
        except (AttributeError, TypeError, ValueError, IndexError):
            try:
                pairs = getaddresses([str(header)])
            except (TypeError, ValueError, IndexError):
                pairs = []
        for display_name, address in pairs:
            if fit_address(address):
                parties.append(Party(address, _text(display_name)[:MAX_NAME] or None))
    return parties


def fit_address(address: str) -> bool:
    """Whether `address` can be a contact's endpoint and the address of a reply."""
    return bool(
        address and _ADDRESS.match(address) and address.isascii() and len(address) <= MAX_ADDRESS
    )


def _date(value: object) -> float | None:
    if value is None:
        return None
    try:
        return parsedate_to_datetime(str(value)).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _content(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return content
    except (LookupError, ValueError, AssertionError, TypeError, IndexError):
        pass
    payload = part.get_payload(decode=True)
    return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""


def _leaves(part: Message) -> Iterator[Message]:
    """Every leaf part; an attached message counts as one leaf, not as its own parts."""
    if part.get_content_type() == "message/rfc822" or not part.is_multipart():
        yield part
        return
    payload = part.get_payload()
    for sub in payload if isinstance(payload, list) else []:
        if isinstance(sub, Message):
            yield from _leaves(sub)


def _attachments(message: EmailMessage, bodies: set[int]) -> Iterator[Attachment]:
    count = 0
    for part in _leaves(message):
        if id(part) in bodies:
            continue
        filename = _file_name(part)
        disposition = part.get_content_disposition()
        content_type = part.get_content_type()
        if (
            filename is None
            and disposition != "attachment"
            and part.get_content_maintype()
            in (
                "text",
                "multipart",
            )
        ):
            continue  # a body fragment, not a file
        count += 1
        if not _MIME_TYPE.match(content_type):
            content_type = UNKNOWN_TYPE
        yield Attachment(
            name=safe_file_name(filename, content_type, count),
            content_type=content_type,
            data=_bytes(part),
        )


def _file_name(part: Message) -> str | None:
    try:
        return part.get_filename()
    except (LookupError, ValueError, TypeError, IndexError):  # RFC 2231 parameters gone wrong
        return None


def _bytes(part: Message) -> bytes:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            return bytes(inner[0].as_bytes(policy=_AS_RECEIVED))
        return b""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def safe_file_name(name: str | None, content_type: str, position: int) -> str:
    """A file name fit to keep and to send again: no path, no control characters, short."""
    cleaned = _CONTROL.sub("", name or "").replace("\\", "/").rsplit("/", 1)[-1].strip(" .")
    if not cleaned:
        extension = mimetypes.guess_extension(content_type, strict=False) or ".bin"
        cleaned = f"attachment-{position}{extension}"
    if len(cleaned) > MAX_NAME:
        stem, dot, extension = cleaned.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            cleaned = f"{stem[: MAX_NAME - len(extension) - 1]}.{extension}"
        else:
            cleaned = cleaned[:MAX_NAME]
    return cleaned
