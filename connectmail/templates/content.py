"""The content of a message template: its parts per channel, their checks and the checksum.

Content is kept as the API gives it (`{"email": {"subject", "body", "headers"}}`, `{"sms":
...}`). Every text a message is made of is a Handlebars template; the HTML body is the only
part whose `{{x}}` escapes HTML.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from connectmail.errors import ServiceError
from connectmail.jsontext import dumps, loads
from connectmail.templates import handlebars, parsed
from connectmail.templates.errors import quota_exceeded, validation

CONTENT_MEMBER = {"EMAIL": "email", "SMS": "sms", "WHATSAPP": "whatsApp", "PUSH": "push"}

# The namespaces of `{{Attributes.X....}}` and the attribute types GetMessageTemplate reports.
ATTRIBUTE_TYPES = {
    "System": "SYSTEM",
    "Agent": "AGENT",
    "Customer": "CUSTOMER_PROFILE",
    "Custom": "CUSTOM",
    "Case": "CASE",
}

# Headers a template may not set: those the email's own fields set, those that describe its
# MIME structure (RFC 2045 and after: every `Content-*`), and those of transport (RFC 5322's
# trace and `Resent-*` fields, and what relays and signers add).
RESERVED_HEADERS = frozenset(
    name.lower()
    for name in (
        "From",
        "Sender",
        "To",
        "Cc",
        "Bcc",
        "Subject",
        "Date",
        "Message-ID",
        "In-Reply-To",
        "References",
        "MIME-Version",
        "Return-Path",
        "Received",
        "Received-SPF",
        "Delivered-To",
        "Envelope-To",
        "Errors-To",
        "Bounces-To",
        "DKIM-Signature",
        "DomainKey-Signature",
        "Authentication-Results",
        "ARC-Seal",
        "ARC-Message-Signature",
        "ARC-Authentication-Results",
    )
)
RESERVED_HEADER_PREFIXES = ("content-", "resent-")
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext: printable ASCII but ':'
# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
# Push fields that are settings, not text.
_PUSH_SETTINGS = frozenset({"action"})


@dataclass(frozen=True)
class Limits:
    """Amazon Q in Connect's quotas for message templates."""

    templates_per_knowledge_base: int = 200
    versions_per_template: int = 20
    email_template_characters: int = 5_000_000


@dataclass(frozen=True)
class Part:
    """One text of the content: where it is, the text, and whether it is HTML."""

    where: tuple[str | int, ...]
    text: str
    html: bool = False

    @property
    def name(self) -> str:
        return ".".join(str(step) for step in self.where)


def checksum(
    content: dict[str, Any],
    language: str | None,
    defaults: dict[str, Any],
    attachments: Sequence[Sequence[str]] = (),
) -> str:
    """messageTemplateContentSha256: over the content, language, default attributes and
    attachments (each as its name and its bytes' SHA-256). A template without attachments
    keeps the checksum it had before templates had them."""
    material: dict[str, Any] = {
        "content": content,
        "language": language,
        "defaultAttributes": defaults,
    }
    if attachments:
        material["attachments"] = [list(a) for a in attachments]
    return hashlib.sha256(dumps(material).encode()).hexdigest()


def parts(content: dict[str, Any]) -> Iterator[Part]:
    """The texts of the content that are templates (WhatsApp's are Meta's, not ours)."""
    email = content.get("email")
    if email is not None:
        if "subject" in email:
            yield Part(("email", "subject"), email["subject"])
        body = email.get("body") or {}
        for kind in ("plainText", "html"):
            if "content" in (body.get(kind) or {}):
                yield Part(
                    ("email", "body", kind, "content"), body[kind]["content"], kind == "html"
                )
        for index, header in enumerate(email.get("headers") or ()):
            if "value" in header:
                yield Part(("email", "headers", index, "value"), header["value"])
    sms = content.get("sms")
    if sms is not None and "content" in ((sms.get("body") or {}).get("plainText") or {}):
        yield Part(("sms", "body", "plainText", "content"), sms["body"]["plainText"]["content"])
    push = content.get("push")
    if push is not None:
        yield from _texts(("push",), push)


def _texts(where: tuple[str | int, ...], value: Any) -> Iterator[Part]:
    if isinstance(value, str):
        yield Part(where, value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in _PUSH_SETTINGS:
                yield from _texts((*where, key), item)


def check_syntax(content: dict[str, Any]) -> None:
    """Refuse content whose texts are not templates we can render.

    Reading a large template takes seconds: handlers call this off the event loop, after
    `check_fits` (so that content over the quota is refused unread) and before their
    transaction. The content's attribute types are kept, for `describe` not to read it again.
    """
    found: dict[str, None] = {}
    for part in parts(content):
        try:
            template = parsed.parse(part.text)
        except handlebars.TemplateError as error:
            raise validation(f"content.{part.name} is not a valid template: {error}") from None
        _add_attribute_types(template, found)
    _ATTRIBUTE_TYPES.put(_digest(dumps(content)), tuple(found))


def check_fits(
    channel_subtype: str | None,
    content: dict[str, Any],
    limits: Limits,
    *,
    over_quota: Callable[[str], ServiceError] = quota_exceeded,
) -> None:
    """Refuse content that does not fit the channel, would make a bad email, or is too large.

    Cheap (the texts are measured, not read), so it comes before `check_syntax`. Without a
    `channel_subtype` (UpdateMessageTemplate, before the template is read) the channel is not
    checked. `over_quota` makes the error for content over the character quota: an operation
    whose model has no ServiceQuotaExceededException answers ValidationException.
    """
    if channel_subtype is not None:
        expected = CONTENT_MEMBER[channel_subtype]
        for member in content:
            if member != expected:
                raise validation(
                    f"Message templates of channel subtype {channel_subtype} take "
                    f"content.{expected}, not content.{member}."
                )
    if "email" in content:
        _check_email(content["email"], limits, over_quota)


def _check_email(
    email: dict[str, Any], limits: Limits, over_quota: Callable[[str], ServiceError]
) -> None:
    subject = email.get("subject")
    if subject is not None and _CONTROL.search(subject):
        raise validation(
            "content.email.subject must not contain line breaks or control characters."
        )
    seen: set[str] = set()
    size = len(subject or "")
    for index, header in enumerate(email.get("headers") or ()):
        name, value = header.get("name"), header.get("value")
        if name is None or value is None:
            raise validation(f"content.email.headers.{index + 1} needs a name and a value.")
        if not _HEADER_NAME.fullmatch(name):
            raise validation(
                f"content.email.headers.{index + 1}.name must be printable ASCII without "
                f"spaces or colons: {name[:126]!r}."
            )
        if name.lower() in RESERVED_HEADERS or name.lower().startswith(RESERVED_HEADER_PREFIXES):
            raise validation(
                f"content.email.headers.{index + 1}: the {name} header is the email's own "
                "(its fields, MIME structure or transport) and cannot come from a template."
            )
        if name.lower() in seen:
            raise validation(f"content.email.headers: {name} appears more than once.")
        seen.add(name.lower())
        if _CONTROL.search(value):
            raise validation(
                f"content.email.headers.{index + 1}.value must not contain line breaks or "
                "control characters."
            )
        size += len(name) + len(value)
    body = email.get("body") or {}
    for kind in ("plainText", "html"):
        size += len((body.get(kind) or {}).get("content") or "")
    if size > limits.email_template_characters:
        raise over_quota(
            f"An email message template can have at most {limits.email_template_characters} "
            f"characters; this one has {size}."
        )


def attribute_types(stored: str) -> list[str]:
    """The kinds of attributes the placeholders of content use (GetMessageTemplate's list).

    `stored` is the content's JSON text as written; content that `check_syntax` or this has
    read is not read again.
    """
    key = _digest(stored)
    known = _ATTRIBUTE_TYPES.get(key)
    if known is None:
        found: dict[str, None] = {}
        for part in parts(loads(stored)):
            _add_attribute_types(parsed.parse(part.text), found)
        known = tuple(found)
        _ATTRIBUTE_TYPES.put(key, known)
    return list(known)


# The attribute types of content by the SHA-256 of its JSON text: a few bytes each.
_ATTRIBUTE_TYPES: parsed.Kept[bytes, tuple[str, ...]] = parsed.Kept(4096)


def _digest(stored: str) -> bytes:
    return hashlib.sha256(stored.encode()).digest()


def _add_attribute_types(template: handlebars.Template, found: dict[str, None]) -> None:
    for path in template.paths():
        if len(path.parts) > 1 and path.parts[0] == "Attributes" and not path.data:
            kind = ATTRIBUTE_TYPES.get(path.parts[1])
            if kind is not None:
                found.setdefault(kind, None)
