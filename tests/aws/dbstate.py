"""What a server's database holds, read from the test process, to show a call changed nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData, create_engine, select

from connectmail.store.database import normalize_url

Snapshot = dict[str, list[tuple[Any, ...]]]


class DatabaseState:
    """Every row of every table, compared whole: the database is small in these tests."""

    def __init__(self, url: str) -> None:
        self._engine = create_engine(normalize_url(url), pool_size=1, max_overflow=0)
        self._metadata = MetaData()
        self._metadata.reflect(self._engine)

    def snapshot(self) -> Snapshot:
        with self._engine.connect() as connection:
            return {
                name: sorted((tuple(row) for row in connection.execute(select(table))), key=repr)
                for name, table in self._metadata.tables.items()
            }

    def rows(self) -> int:
        return sum(len(rows) for rows in self.snapshot().values())

    def close(self) -> None:
        self._engine.dispose()


# Server state made once, on first use, whichever call comes first and however it ends: the
# secret that signs attachment URLs.
CREATED_ON_FIRST_USE = frozenset({"signing_keys"})


def differences(before: Snapshot, after: Snapshot) -> dict[str, int]:
    """Tables whose rows changed, with how many rows differ."""
    return {
        name: len(set(before.get(name, [])) ^ set(rows))
        for name, rows in after.items()
        if rows != before.get(name, [])
        and not (name in CREATED_ON_FIRST_USE and not before.get(name))
    }
