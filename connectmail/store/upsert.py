"""INSERT ... ON CONFLICT DO NOTHING on both dialects."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_ignore(
    connection: Connection, table: Table, values: dict[str, Any], conflict_columns: list[str]
) -> bool:
    """Insert the row unless one with the same conflict columns exists; True if inserted."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict_columns)
        # RETURNING, not rowcount: psycopg reports -1 for an insert that did nothing.
        .returning(table.c[conflict_columns[0]])
    )
    return connection.execute(statement).first() is not None
