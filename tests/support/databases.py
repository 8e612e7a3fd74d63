"""Fresh databases per test: a SQLite file, or a new PostgreSQL database on the local server."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

PG_ADMIN_URL = os.environ.get(
    "CONNECTMAIL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped afterwards."""
    name = f"cm_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database(backend: str, directory: Path) -> Iterator[str]:
    if backend == "postgresql":
        with postgres_database() as url:
            yield url
    else:
        yield f"sqlite:///{directory / 'connectmail.db'}"


def waiting_on_a_lock(url: str) -> bool:
    """Whether a session of the PostgreSQL database at `url` is waiting for a lock."""
    return sessions_waiting_on_a_lock(url) > 0


def sessions_waiting_on_a_lock(url: str) -> int:
    """How many sessions of the PostgreSQL database at `url` are waiting for a lock."""
    with psycopg.connect(url) as watcher:
        found = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return int(found[0]) if found else 0


def message_statuses(url: str) -> list[str]:
    """The status of every message in the PostgreSQL database at `url`, sorted."""
    with psycopg.connect(url) as check:
        return [row[0] for row in check.execute("SELECT status FROM messages ORDER BY status")]


def wait_for_statuses(url: str, expected: list[str], timeout: float = 30.0) -> list[str]:
    """`message_statuses` once they are `expected`, or as they are after `timeout`."""
    deadline = time.monotonic() + timeout
    while (found := message_statuses(url)) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return found
