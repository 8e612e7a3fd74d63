"""Email addresses and display names as they may appear in headers we write.

Addresses must be plain ASCII addr-specs; display names and subjects must not contain line
breaks or other control characters, so nothing a caller sends can add a header.
"""

from __future__ import annotations

import re

from connectmail.errors import invalid_request

# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
# A dot-atom local part (RFC 5322) at a domain of host-name labels with at least one dot.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDR_SPEC = re.compile(rf"(?P<local>{_ATOM}(?:\.{_ATOM})*)@{_LABEL}(?:\.{_LABEL})+")
MAX_LOCAL_PART = 64  # RFC 5321


def checked_address(value: str, member: str) -> str:
    """The address if it is a plain addr-spec we can put in an envelope and a header."""
    if not is_plain_address(value):
        raise invalid_request(f"{member} is not a valid email address: {value[:100]!r}")
    return value


def is_plain_address(value: str) -> bool:
    """Whether the address is a plain addr-spec, as `checked_address` requires."""
    found = _ADDR_SPEC.fullmatch(value)
    return found is not None and len(found["local"]) <= MAX_LOCAL_PART


def checked_text(value: str, member: str) -> str:
    """Header text (a display name or subject): no line breaks or control characters."""
    if _CONTROL.search(value):
        raise invalid_request(f"{member} must not contain line breaks or control characters.")
    return value


def envelope_address(address: str) -> str:
    """The address as the envelope compares it: the domain without regard to case, the local
    part as given (a mailbox may tell its case apart, RFC 5321 2.4)."""
    local, at, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}" if at else address
