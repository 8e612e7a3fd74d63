"""The API's access keys: looked up in the database (where every process serving an account
finds the same ones), through a short cache in each process."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select

from connectmail.access.policy import parse_policy
from connectmail.aws.api import Principal
from connectmail.jsontext import loads
from connectmail.store.store import Store
from connectmail.store.tables import access_keys


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
