"""Keeping replies in the thread mail clients show: subjects and reference chains."""

from __future__ import annotations

import re

# "Re:", "RE:", "Re[2]:", "AW:", "SV:", "Antw:" and friends, possibly repeated.
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|vs)(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def reply_subject(subject: str) -> str:
    """The subject of a reply: one "Re: " in front of the original, never "Re: Re: "."""
    return f"Re: {_REPLY_PREFIX.sub('', subject)}"
