"""Accounts and their access keys: the root key of the first account, and keys made later.

Keys live in the database so that every process serving an account sees the same ones; the
root key is also kept in the data directory so `connectmail credentials` can print it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import string
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, select

from connectmail.access.policy import parse_policy
from connectmail.aws.api import Principal
from connectmail.jsontext import dumps, loads
from connectmail.store.store import Store
from connectmail.store.tables import access_keys, accounts
from connectmail.store.upsert import insert_ignore

CREDENTIALS_FILE = "credentials.json"
_KEY_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


@dataclass(frozen=True)
class Credentials:
    account_id: str
    access_key_id: str
    secret_access_key: str

    def as_json(self) -> dict[str, str]:
        return {
            "AccountId": self.account_id,
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
        }


def new_account_id() -> str:
    return str(secrets.randbelow(9 * 10**11) + 10**11)


def new_credentials(account_id: str) -> Credentials:
    return Credentials(
        account_id=account_id,
        access_key_id="AKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16)),
        secret_access_key="".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40)),
    )


def root_credentials(data_dir: Path, configured: Credentials | None) -> tuple[Credentials, bool]:
    """The configured root credentials, else those kept in `data_dir`, else new ones.

    Returns the credentials and whether they were generated now.
    """
    if configured is not None:
        return configured, False
    path = data_dir / CREDENTIALS_FILE
    if path.exists():
        stored = orjson.loads(path.read_bytes())
        return Credentials(
            stored["account_id"], stored["access_key_id"], stored["secret_access_key"]
        ), False
    credentials = new_credentials(new_account_id())
    data_dir.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(orjson.dumps(asdict(credentials), option=orjson.OPT_INDENT_2))
    temporary.replace(path)
    return credentials, True


def register(
    connection: Connection,
    credentials: Credentials,
    *,
    root: bool,
    policy: dict[str, Any] | None = None,
) -> None:
    """Make the account and key known to the database (idempotent)."""
    insert_ignore(
        connection, accounts, {"id": credentials.account_id, "created_at": time.time()}, ["id"]
    )
    insert_ignore(
        connection,
        access_keys,
        {
            "access_key_id": credentials.access_key_id,
            "account_id": credentials.account_id,
            "secret_access_key": credentials.secret_access_key,
            "policy": dumps(policy) if policy is not None else None,
            "is_root": root,
            "created_at": time.time(),
        },
        ["access_key_id"],
    )


def create_account(connection: Connection) -> Credentials:
    """A new account with its first key (no policy: it may do anything in its account)."""
    while True:
        credentials = new_credentials(new_account_id())
        if not account_exists(connection, credentials.account_id):
            register(connection, credentials, root=True)
            return credentials


def create_key(
    connection: Connection, account_id: str, policy: dict[str, Any] | None
) -> Credentials:
    """Another key for an existing account, limited by `policy` when one is given."""
    if not account_exists(connection, account_id):
        raise LookupError(f"no account {account_id}")
    if policy is not None:
        parse_policy(policy)  # refuse a malformed policy now, not at the key's first use
    credentials = new_credentials(account_id)
    register(connection, credentials, root=False, policy=policy)
    return credentials


def account_exists(connection: Connection, account_id: str) -> bool:
    return (
        connection.execute(select(accounts.c.id).where(accounts.c.id == account_id)).first()
        is not None
    )


class DatabaseKeyStore:
    """Looks access keys up in the database, caching them briefly in this process.

    One lookup per key at a time: the requests that find no live entry wait for the same
    one, and a key in use is looked up again in the background in the last fifth of its
    entry's life, so requests do not wait for it at all. (When every request that found the
    entry expired looked the key up itself, the 50 requests in flight under load each took a
    database read and a reader thread every 5 s, and waited up to 195 ms for them.)
    """

    def __init__(
        self, store: Store, ttl_seconds: float = 5.0, missing_ttl_seconds: float = 0.5
    ) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._missing_ttl = missing_ttl_seconds
        # Per key: when the entry expires, when to refresh it ahead, and the principal.
        self._cache: dict[str, tuple[float, float, Principal | None]] = {}
        self._lookups: dict[str, asyncio.Future[Principal | None]] = {}

    async def principal(self, access_key_id: str) -> Principal | None:
        now = time.monotonic()
        cached = self._cache.get(access_key_id)
        if cached is not None and cached[0] > now:
            _, refresh_at, found = cached
            if refresh_at <= now:
                self._lookup(access_key_id)
            return found
        # A request that goes away does not cancel the lookup the others wait for.
        return await asyncio.shield(self._lookup(access_key_id))

    def _lookup(self, access_key_id: str) -> asyncio.Future[Principal | None]:
        """The lookup of the key in flight on this event loop, started if there is none."""
        loop = asyncio.get_running_loop()
        lookup = self._lookups.get(access_key_id)
        if lookup is None or lookup.get_loop() is not loop:
            lookup = loop.create_task(self._read(access_key_id))
            self._lookups[access_key_id] = lookup
            lookup.add_done_callback(lambda done: self._finished(access_key_id, done))
        return lookup

    def _finished(self, access_key_id: str, lookup: asyncio.Future[Principal | None]) -> None:
        if self._lookups.get(access_key_id) is lookup:
            del self._lookups[access_key_id]
        if not lookup.cancelled():
            lookup.exception()  # a refresh nobody waited for failed: the next request retries

    async def _read(self, access_key_id: str) -> Principal | None:
        row = await self._store.read(
            lambda c: c.execute(
                select(access_keys).where(access_keys.c.access_key_id == access_key_id)
            ).first()
        )
        found = None
        if row is not None:
            policy = parse_policy(loads(row.policy)) if row.policy else None
            found = Principal(row.account_id, row.access_key_id, row.secret_access_key, policy)
        if len(self._cache) > 10_000:
            self._cache.clear()
        now = time.monotonic()
        if found is None:
            self._cache[access_key_id] = (now + self._missing_ttl, now + self._missing_ttl, None)
        else:
            self._cache[access_key_id] = (now + self._ttl, now + self._ttl * 0.8, found)
        return found
