"""Signed, expiring, account-scoped URLs for downloading and uploading attached files, and for
downloading message template attachments.

They play the part of Amazon S3 presigned URLs: whoever holds one may fetch (or upload) that
one file until it expires, with no other credentials. The signing secret lives in the database,
so every process serving it signs and verifies alike.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson
from sqlalchemy import Connection, select

from connectmail.store.store import Store
from connectmail.store.tables_inbound import signing_keys
from connectmail.store.upsert import insert_ignore

PATH_PREFIX = "/_connectmail/files/"
KEY_NAME = "file-urls"
GET = "get"
PUT = "put"
# What a grant's file is: an attached file of a contact, or a message template's attachment.
ATTACHED_FILE = "file"
TEMPLATE_ATTACHMENT = "template-attachment"


class InvalidFileUrl(Exception):
    """The token is malformed, forged, expired or not for this action."""


@dataclass(frozen=True)
class FileGrant:
    """What a signed URL allows: one action on one file of one account, until a time."""

    account_id: str
    file_id: str
    action: str
    expires_at: int
    disposition: str = "ATTACHMENT"
    kind: str = ATTACHED_FILE


def load_secret(connection: Connection) -> bytes:
    insert_ignore(
        connection,
        signing_keys,
        {"name": KEY_NAME, "secret": secrets.token_hex(32), "created_at": time.time()},
        ["name"],
    )
    secret = connection.execute(
        select(signing_keys.c.secret).where(signing_keys.c.name == KEY_NAME)
    ).scalar_one()
    return bytes.fromhex(secret)


class UrlSigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def sign(self, grant: FileGrant) -> str:
        fields: list[str | int] = [
            grant.account_id,
            grant.file_id,
            grant.action,
            grant.expires_at,
            grant.disposition,
        ]
        if grant.kind != ATTACHED_FILE:  # an attached file's token stays as it always was
            fields.append(grant.kind)
        payload = _b64(orjson.dumps(fields))
        return f"{payload}.{self._mac(payload)}"

    def verify(self, token: str, action: str, now: float) -> FileGrant:
        payload, _, mac = token.partition(".")
        if not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            raise InvalidFileUrl("The signature does not match.")
        try:
            account_id, file_id, granted, expires_at, disposition, *kind = orjson.loads(
                _unb64(payload)
            )
            (kind_of_file,) = kind or [ATTACHED_FILE]
        except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
            raise InvalidFileUrl("The token is malformed.") from None
        if granted != action:
            raise InvalidFileUrl(f"The URL does not allow {action}.")
        if expires_at < now:
            raise InvalidFileUrl("The URL has expired.")
        return FileGrant(account_id, file_id, granted, expires_at, disposition, kind_of_file)

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())


class FileUrls:
    """Makes and checks file URLs; the secret is read from the store on first use."""

    def __init__(self, store: Store, public_url: str | None = None) -> None:
        self._store = store
        self._public_url = public_url.rstrip("/") if public_url else None
        self._signer: UrlSigner | None = None

    async def signer(self) -> UrlSigner:
        if self._signer is None:
            self._signer = UrlSigner(await self._store.write(load_secret))
        return self._signer

    def url(self, signer: UrlSigner, grant: FileGrant, host: str) -> str:
        """The URL of `grant` on this server, as reached at `host` unless a public URL is set."""
        base = self._public_url or f"http://{host or '127.0.0.1'}"
        return f"{base}{PATH_PREFIX}{grant.file_id}?{urlencode({'token': signer.sign(grant)})}"

    async def grant_of(self, url: str, action: str, now: float) -> FileGrant | None:
        """The grant in one of our file URLs; None if `url` is not one of ours."""
        parts = urlsplit(url)
        if not parts.path.startswith(PATH_PREFIX):
            return None
        token = parse_qs(parts.query).get("token", [""])[0]
        grant = (await self.signer()).verify(token, action, now)
        if parts.path[len(PATH_PREFIX) :] != grant.file_id:
            raise InvalidFileUrl("The URL does not name the file it was signed for.")
        return grant


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
