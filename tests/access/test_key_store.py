"""Access keys as the API finds them: from the database, through a short cache that looks each
key up once however many requests ask at the same moment."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import Connection

from connectmail.access.key_store import DatabaseKeyStore
from connectmail.aws.api import Principal
from connectmail.domain import accounts
from connectmail.store.store import Store

T = TypeVar("T")


class CountedStore(Store):
    """The real store, counting the reads that reach it."""

    reads = 0
    fail = False

    async def read(self, fn: Callable[[Connection], T]) -> T:
        self.reads += 1
        await asyncio.sleep(0.02)  # a read takes a while: others ask meanwhile
        if self.fail:
            raise ConnectionError("database gone")
        return await super().read(fn)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CountedStore]:
    opened = CountedStore(f"sqlite:///{tmp_path / 'keys.db'}")
    opened.migrate()
    yield opened
    opened.close()


@pytest.fixture
def key(store: CountedStore) -> accounts.Credentials:
    """A key in the database."""
    credentials = accounts.new_credentials("111122223333")
    store.write_now(lambda c: accounts.register(c, credentials, root=True))
    return credentials


def test_requests_arriving_together_share_one_lookup_and_a_key_in_use_never_waits(
    store: CountedStore, key: accounts.Credentials
) -> None:
    keys = DatabaseKeyStore(store, ttl_seconds=1.0)

    async def run() -> None:
        found = await asyncio.gather(*(keys.principal(key.access_key_id) for _ in range(50)))
        assert {p.secret_access_key if p else None for p in found} == {key.secret_access_key}
        assert store.reads == 1
        # Fresh: no read at all.
        await keys.principal(key.access_key_id)
        assert store.reads == 1
        # In the last fifth of the entry's life: answered at once from the cache, while one
        # lookup renews it in the background.
        await asyncio.sleep(0.85)
        answered = await asyncio.gather(*(keys.principal(key.access_key_id) for _ in range(50)))
        assert all(p is not None for p in answered)
        assert store.reads == 2
        await asyncio.sleep(0.05)  # the renewal has landed
        await asyncio.sleep(0.4)  # past the first entry's end, inside the renewed one's
        assert await keys.principal(key.access_key_id) is not None
        assert store.reads == 2

    asyncio.run(run())


def test_an_unknown_key_is_refused_and_found_once_created(store: CountedStore) -> None:
    key = accounts.new_credentials("111122223333")
    keys = DatabaseKeyStore(store, missing_ttl_seconds=0.1)

    async def run() -> list[Principal | None]:
        missing = await asyncio.gather(*(keys.principal(key.access_key_id) for _ in range(20)))
        assert missing == [None] * 20
        assert store.reads == 1
        store.write_now(lambda c: accounts.register(c, key, root=False))
        await asyncio.sleep(0.15)
        return [await keys.principal(key.access_key_id)]

    [found] = asyncio.run(run())
    assert found is not None and found.account_id == "111122223333"
    assert store.reads == 2


def test_a_failed_lookup_reaches_every_waiter_and_the_next_request_tries_again(
    store: CountedStore, key: accounts.Credentials
) -> None:
    keys = DatabaseKeyStore(store)

    async def run() -> None:
        store.fail = True
        outcomes = await asyncio.gather(
            *(keys.principal(key.access_key_id) for _ in range(10)), return_exceptions=True
        )
        assert all(isinstance(o, ConnectionError) for o in outcomes)
        assert store.reads == 1
        store.fail = False
        assert await keys.principal(key.access_key_id) is not None
        assert store.reads == 2

    asyncio.run(run())


def test_a_request_that_goes_away_does_not_cancel_the_lookup_others_wait_for(
    store: CountedStore, key: accounts.Credentials
) -> None:
    keys = DatabaseKeyStore(store)

    async def run() -> Principal | None:
        first = asyncio.ensure_future(keys.principal(key.access_key_id))
        second = asyncio.ensure_future(keys.principal(key.access_key_id))
        await asyncio.sleep(0)
        first.cancel()
        return await second

    assert asyncio.run(run()) is not None
    assert store.reads == 1
