"""PostgreSQL without autovacuum: the server keeps the busy tables' statistics current."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest

from tests.support.connect import make_outpost


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _last_analyzed(url: str) -> dict[str, Any]:
    with psycopg.connect(_plain(url)) as connection:
        rows = connection.execute(
            "SELECT relname, last_analyze FROM pg_stat_user_tables "
            "WHERE relname IN ('contacts', 'messages', 'outbox', 'idempotency_keys')"
        ).fetchall()
    return dict(rows)


def test_busy_tables_are_analyzed_when_autovacuum_is_off(
    start_server: Any, postgres_url: str
) -> None:
    with psycopg.connect(_plain(postgres_url)) as connection:
        autovacuum = connection.execute("SELECT current_setting('autovacuum')").fetchone()
    if autovacuum == ("on",):
        pytest.skip("this PostgreSQL runs autovacuum; connectmail leaves statistics to it")
    server = start_server(
        "--database-url",
        postgres_url,
        env={"CONNECTMAIL_ANALYZE_INTERVAL_SECONDS": "0.5"},
    )
    make_outpost(server.client())  # some rows to sample
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        analyzed = _last_analyzed(postgres_url)
        if len(analyzed) == 4 and all(analyzed.values()):
            break
        time.sleep(0.25)
    assert len(analyzed) == 4 and all(analyzed.values()), analyzed
