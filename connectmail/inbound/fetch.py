"""Fetching an attachment that StartEmailContact names by URL (its `S3Url`).

Our own signed file URLs are read from the database. Any other URL is fetched only when its
host is on the configured allow-list, since fetching arbitrary URLs would let a caller make
the server read its own network (and hand the answer back as a file).
"""

from __future__ import annotations

import asyncio
import fnmatch
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from connectmail.errors import invalid_request

TIMEOUT_SECONDS = 30.0


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect could leave the allowed hosts


def host_allowed(url: str, patterns: Sequence[str]) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return (
        parts.scheme in ("http", "https")
        and bool(host)
        and any(fnmatch.fnmatchcase(host, p.lower()) for p in patterns)
    )


async def fetch(url: str, patterns: Sequence[str], limit: int) -> bytes:
    """The body at `url`, at most `limit` bytes (one more means too large)."""
    if not host_allowed(url, patterns):
        raise invalid_request(
            "Attachments[].S3Url must be a connectmail file URL (from GetAttachedFile) or a URL "
            "on a host listed in CONNECTMAIL_ATTACHMENT_URL_HOSTS."
        )
    return await asyncio.to_thread(_get, url, limit)


def _get(url: str, limit: int) -> bytes:
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(url, timeout=TIMEOUT_SECONDS) as response:
            if response.status != 200:
                raise invalid_request(f"Fetching an attachment answered HTTP {response.status}.")
            return bytes(response.read(limit + 1))
    except urllib.error.HTTPError as exc:
        raise invalid_request(f"Fetching an attachment answered HTTP {exc.code}.") from None
    except (urllib.error.URLError, OSError) as exc:
        raise invalid_request(f"Fetching an attachment failed: {exc}") from None
