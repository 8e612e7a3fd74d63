"""Reading composed mail as mail clients read it."""

from __future__ import annotations

from email import message_from_bytes, message_from_string, policy
from email.header import decode_header, make_header
from typing import Any


def display_name(data: bytes, header: str) -> str:
    """The display name as RFC 2047 decoders read it.

    Python's structured-header parser keeps the folding space between adjacent encoded words
    of a phrase, which RFC 2047 (6.2) says to drop; `decode_header` drops it. In a phrase,
    runs of whitespace are not significant, hence the callers compare words.
    """
    raw = message_from_bytes(data, policy=policy.compat32)[header]
    if "=?" not in raw:
        parsed = message_from_bytes(data, policy=policy.default)[header]
        return str(parsed.addresses[0].display_name)
    decoded = str(make_header(decode_header(raw)))
    return decoded.rsplit(" <", 1)[0]


def from_header(captured: dict[str, Any]) -> str:
    """The From header of a message in the captured mailbox, as a mail reader shows it."""
    return str(message_from_string(captured["Raw"], policy=policy.default)["From"])
