"""PostgreSQL: the server keeps the busy tables' statistics current as they grow."""

from __future__ import annotations

import time
from typing import Any

import psycopg
from sqlalchemy import text

from connectmail.maintenance import analyze_tables, stale_tables
from connectmail.store.store import Store
from tests.support.connect import make_outpost

SENT_TABLES = ("contacts", "messages", "outbox", "idempotency_keys")


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _analyze_counts(url: str) -> dict[str, int]:
    with psycopg.connect(_plain(url)) as connection:
        rows = connection.execute(
            "SELECT relname, analyze_count FROM pg_stat_user_tables WHERE relname = ANY(%s)",
            [list(SENT_TABLES)],
        ).fetchall()
    return dict(rows)


def test_the_tables_a_send_writes_are_analyzed(start_server: Any, postgres_url: str) -> None:
    server = start_server(
        "--database-url",
        postgres_url,
        "--no-deliver",
        env={"CONNECTMAIL_ANALYZE_INTERVAL_SECONDS": "0.5"},
    )
    assert _analyze_counts(postgres_url) == dict.fromkeys(SENT_TABLES, 0)
    outpost = make_outpost(server.client())
    # PostgreSQL's sessions report their table statistics at most once a second while busy,
    # and only after 10 s once idle: the sends go on until the tables have been analyzed.
    deadline = time.monotonic() + 30
    sent = 0
    while time.monotonic() < deadline:
        outpost.send(ClientToken=f"statistics-{sent}")
        sent += 1
        counts = _analyze_counts(postgres_url)
        if all(counts.values()):
            break
        time.sleep(0.1)
    assert all(counts.values()), counts


def _insert_tokens(url: str, first: int, count: int) -> None:
    """Rows written in a session that reports its statistics at once."""
    with psycopg.connect(_plain(url)) as connection:
        connection.execute(
            "INSERT INTO idempotency_keys SELECT '111122223333', 'op', 't' || n, 'h', '{}', 0, 0 "
            "FROM generate_series(%s::int, %s::int) AS n",
            [first, first + count - 1],
        )
        connection.execute("SELECT pg_stat_force_next_flush()")
        connection.commit()


def test_a_table_is_analyzed_again_once_it_changed_by_as_many_rows_as_it_had(
    postgres_url: str,
) -> None:
    store = Store(postgres_url)
    try:
        store.migrate()
        assert store.read_now(stale_tables) == []
        _insert_tokens(postgres_url, 0, 1000)
        assert store.read_now(stale_tables) == ["idempotency_keys"]
        store.read_now(lambda c: analyze_tables(["idempotency_keys"], c))
        assert store.read_now(stale_tables) == []
        _insert_tokens(postgres_url, 1000, 990)  # 99%: not yet
        assert store.read_now(stale_tables) == []
        _insert_tokens(postgres_url, 1990, 20)  # 101% since the last ANALYZE
        assert store.read_now(stale_tables) == ["idempotency_keys"]
        reltuples = store.read_now(
            lambda c: c.execute(
                text("SELECT reltuples FROM pg_class WHERE relname = 'idempotency_keys'")
            ).scalar()
        )
        assert reltuples == 1000
    finally:
        store.close()
