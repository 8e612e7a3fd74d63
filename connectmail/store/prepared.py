"""Statements for the hot paths: built once with SQLAlchemy Core, compiled once per dialect,
then run straight on the driver's cursor.

Building and executing a Core statement costs 50 to 150 us of Python per call; the driver
runs the same SQL in 3 to 15. The SQL still comes from the table definitions, never from
hand-written strings, and runs inside the caller's transaction on the same connection.
Values are passed as the driver takes them (str, int, float, bytes, None); column defaults
are not applied, so inserts name every column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import BindParameter, Connection, Dialect, bindparam
from sqlalchemy.sql import ClauseElement


class Prepared:
    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}
        # The result's column names, per dialect: psycopg builds `cursor.description` anew on
        # every call, which cost more than the rest of reading a row.
        self._names: dict[str, list[str]] = {}

    def compiled(self, dialect: Dialect) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        """The SQL for `dialect`, its bind names in order (positional drivers), and the
        values of the statement's literal binds."""
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            positional = getattr(compiled, "positiontup", None) if dialect.positional else None
            order = tuple(positional) if positional is not None else None
            # Literals in the statement (status != 'DELETED') are binds with fixed values.
            found = (compiled.string, order, dict(compiled.params))
            self._compiled[dialect.name] = found
        return found

    def values(self, dialect: Dialect, params: dict[str, Any]) -> tuple[str, Any]:
        """The SQL and the values to execute it with, as the driver takes them."""
        sql, order, fixed = self.compiled(dialect)
        values = {**fixed, **params} if fixed else params
        return sql, tuple(values[name] for name in order) if order is not None else values

    def values_many(self, dialect: Dialect, rows: list[dict[str, Any]]) -> tuple[str, list[Any]]:
        sql, order, fixed = self.compiled(dialect)
        if fixed:
            rows = [{**fixed, **row} for row in rows]
        if order is None:
            return sql, rows
        return sql, [tuple(row[name] for name in order) for row in rows]

    def run(self, connection: Connection, params: dict[str, Any]) -> Any:
        """Execute with `params` (by bind name); return the driver's cursor."""
        sql, values = self.values(connection.dialect, params)
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(sql, values)
        return cursor

    def run_many(self, connection: Connection, rows: list[dict[str, Any]]) -> int:
        """Execute once per row in one driver call; the number of rows changed in all."""
        cursor = self.queue_many(connection, rows)
        count = int(cursor.rowcount)
        cursor.close()
        return count

    def queue_many(self, connection: Connection, rows: list[dict[str, Any]]) -> Any:
        """Like `run_many`, but return the cursor: inside `pipeline` its rowcount is known
        only once the pipeline is done."""
        sql, values = self.values_many(connection.dialect, rows)
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.executemany(sql, values)
        return cursor

    async def run_async(self, connection: Any, dialect: Dialect, params: dict[str, Any]) -> Any:
        """`run` on a psycopg AsyncConnection (the event loop's writes on PostgreSQL)."""
        cursor = connection.cursor()
        await cursor.execute(*self.values(dialect, params))
        return cursor

    async def queue_many_async(
        self, connection: Any, dialect: Dialect, rows: list[dict[str, Any]]
    ) -> Any:
        """`queue_many` on a psycopg AsyncConnection."""
        cursor = connection.cursor()
        await cursor.executemany(*self.values_many(dialect, rows))
        return cursor

    def first(self, connection: Connection, params: dict[str, Any]) -> Sequence[Any] | None:
        cursor = self.run(connection, params)
        row = cursor.fetchone()
        cursor.close()
        return row  # type: ignore[no-any-return]

    def record(self, connection: Connection, params: dict[str, Any]) -> Fetched | None:
        """The first row, readable by column name (`row.id`), or None."""
        cursor = self.run(connection, params)
        row = cursor.fetchone()
        names = self._names.get(connection.dialect.name)
        if names is None:
            names = [column[0] for column in cursor.description]
            self._names[connection.dialect.name] = names
        cursor.close()
        return None if row is None else Fetched(zip(names, row, strict=True))

    def rowcount(self, connection: Connection, params: dict[str, Any]) -> int:
        cursor = self.run(connection, params)
        count = int(cursor.rowcount)
        cursor.close()
        return count


class PreparedIn:
    """A statement with a `column IN (...)` list of any length, built by `make` from bind
    parameters named `in_0`, `in_1`, ...

    The list is padded to the next power of two by repeating its last value (which changes
    nothing an IN matches), so a few statements cover every length: each is compiled once,
    and stays in the driver's statement cache (128 on sqlite3, 100 prepared on psycopg)
    instead of one per group size pushing the others out."""

    def __init__(self, make: Callable[[list[BindParameter[Any]]], ClauseElement]) -> None:
        self._make = make
        self._by_length: dict[int, Prepared] = {}

    def run(
        self, connection: Connection, values: Sequence[Any], params: dict[str, Any] | None = None
    ) -> Any:
        prepared, bound = self.bind(values, params)
        return prepared.run(connection, bound)

    def bind(
        self, values: Sequence[Any], params: dict[str, Any] | None = None
    ) -> tuple[Prepared, dict[str, Any]]:
        """The statement for this many values, and its parameters."""
        length = 1 << max(0, len(values) - 1).bit_length()
        prepared = self._by_length.get(length)
        if prepared is None:
            prepared = Prepared(self._make([bindparam(f"in_{n}") for n in range(length)]))
            self._by_length[length] = prepared
        padded = [*values, *[values[-1]] * (length - len(values))] if values else [None]
        bound = dict(params or {})
        bound.update({f"in_{n}": value for n, value in enumerate(padded)})
        return prepared, bound


def rows(cursor: Any) -> list[Fetched]:
    """Every row of a driver cursor, readable by column name; the cursor is closed."""
    found = fetched(cursor.description, cursor.fetchall())
    cursor.close()
    return found


def fetched(description: Any, records: Sequence[Sequence[Any]]) -> list[Fetched]:
    """Rows as the driver gives them, readable by column name."""
    names = [column[0] for column in description]
    return [Fetched(zip(names, values, strict=True)) for values in records]


@contextmanager
def pipeline(connection: Connection) -> Iterator[None]:
    """Statements issued inside go to PostgreSQL together, in one round trip; their results
    are there when the block ends. SQLite runs each at once (it has no round trips)."""
    driver = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        with driver.pipeline():  # type: ignore[union-attr]
            yield
    else:
        yield


class Fetched(dict[str, Any]):
    """A row as a dict whose columns also read as attributes, like SQLAlchemy's rows."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None
