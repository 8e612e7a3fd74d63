"""Statements for the hot paths: built once with SQLAlchemy Core, compiled once per dialect,
then run straight on the driver's cursor.

Building and executing a Core statement costs 50 to 150 us of Python per call; the driver
runs the same SQL in 3 to 15. The SQL still comes from the table definitions, never from
hand-written strings, and runs inside the caller's transaction on the same connection.
Values are passed as the driver takes them (str, int, float, bytes, None); column defaults
are not applied, so inserts name every column.

A statement run for many rows can also have a `together` form for PostgreSQL (`for_rows`): the
same write for all the rows at once, passed as one JSON array, sent as one command. psycopg
sends every row of an `executemany` as a command of its own, and a group's cost on the event
loop grew with its size.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    JSON,
    BindParameter,
    Boolean,
    ColumnElement,
    Connection,
    Dialect,
    Float,
    Integer,
    String,
    Text,
    any_,
    bindparam,
    column,
    func,
    insert,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.sql import ClauseElement, operators
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Delete, Insert, Update
from sqlalchemy.sql.elements import BinaryExpression
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.sql.visitors import iterate, replacement_traverse
from sqlalchemy.types import TypeEngine

from connectmail.jsontext import dumps


class Prepared:
    def __init__(self, statement: ClauseElement, *, together: _Together | None = None) -> None:
        """`together`: the same write for many rows at once, used on PostgreSQL (see
        `for_rows`, which builds it)."""
        self.statement = statement
        self.together = together
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}
        # The result's column names and row class, per dialect: psycopg builds
        # `cursor.description` anew on every call, which cost more than the rest of reading a
        # row.
        self._rows: dict[str, tuple[tuple[str, ...], type[Fetched]]] = {}

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
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        if self.together is not None and connection.dialect.name == "postgresql":
            cursor.execute(*self.together.values(connection.dialect, rows))
        else:
            cursor.executemany(*self.values_many(connection.dialect, rows))
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
        if self.together is not None:
            await cursor.execute(*self.together.values(dialect, rows))
        else:
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
        found = self._rows.get(connection.dialect.name)
        if found is None:
            names = tuple(column[0] for column in cursor.description)
            found = self._rows[connection.dialect.name] = (names, row_class(names))
        cursor.close()
        names, make_row = found
        return None if row is None else make_row(zip(names, row, strict=True))

    def rowcount(self, connection: Connection, params: dict[str, Any]) -> int:
        cursor = self.run(connection, params)
        count = int(cursor.rowcount)
        cursor.close()
        return count


class _Together:
    """A statement's form for many rows at once: the rows go in as one JSON array, the bind
    `make` is given the name of."""

    def __init__(self, make: Callable[[str], ClauseElement]) -> None:
        self.named = make
        self._prepared = Prepared(make("rows"))

    def values(self, dialect: Dialect, rows: list[dict[str, Any]]) -> tuple[str, Any]:
        return self._prepared.values(dialect, {"rows": dumps(rows)})


def for_rows(
    statement: Insert | Update | Delete, key: ColumnElement[Any] | None = None
) -> Prepared:
    """`statement`, with its `together` form for PostgreSQL built from it.

    An INSERT of every column: `INSERT ... SELECT` from the rows. An UPDATE or DELETE that
    finds its row by `key = :name`: each bind the rows give (every bind without a value)
    becomes the rows' column of that name, joined on `key`."""
    if isinstance(statement, Insert):
        table = statement.table

        def inserted(bind: str) -> ClauseElement:
            given = _rows_of("given", {c.key: c.type for c in table.c}, bind)
            return insert(table).from_select(table.c.keys(), select(*given.c))

        return Prepared(statement, together=_Together(inserted))
    if key is None:
        raise TypeError("an UPDATE or DELETE for many rows needs the key that finds each row")
    compiled = statement.compile()
    assert isinstance(compiled, SQLCompiler)
    binds = {b.key: b.type for b in compiled.binds.values() if b.required}
    name = _bind_compared_with(statement, key)

    def changed(bind: str) -> ClauseElement:
        given = _rows_of("given", binds, bind)

        def column_for(element: Any, **kw: Any) -> Any:
            if isinstance(element, BindParameter) and element.required:
                return given.c[element.key]
            return None

        keys = _rows_of("given_keys", {name: binds[name]}, bind)
        together = cast(Update | Delete, replacement_traverse(statement, {}, column_for))
        return together.where(_equals_any(key, keys.c[name]))

    return Prepared(statement, together=_Together(changed))


async def begin_async(connection: Any) -> None:
    """Open a transaction on a psycopg AsyncConnection in autocommit mode (see
    `groups.LoopBatch`); in a pipeline, queued with what follows, no round trip of its own."""
    await connection.execute(b"BEGIN")


async def commit_async(connection: Any) -> None:
    """Commit what `begin_async` opened; in a pipeline, queued after the last statement,
    acknowledged with the pipeline's sync (psycopg's `commit()` syncs again first)."""
    await connection.execute(b"COMMIT")


def write_all(connection: Connection, writes: Sequence[tuple[Prepared, list[Any]]]) -> Any:
    """Each statement of `writes` (built by `for_rows`) for its rows; the cursor of the
    last, whose rowcount is the rows that one changed (inside `pipeline`, known once the
    pipeline is done). On PostgreSQL they go as one statement (see `write_all_async`), so
    no write may depend on the rows another changes, but for foreign keys."""
    if connection.dialect.name == "postgresql":
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(*_all_values(connection.dialect, writes))
        return cursor
    for statement, many in writes[:-1]:
        statement.run_many(connection, many)
    statement, many = writes[-1]
    return statement.queue_many(connection, many)


async def write_all_async(
    connection: Any, dialect: Dialect, writes: Sequence[tuple[Prepared, list[Any]]]
) -> Any:
    """`write_all` on a psycopg AsyncConnection: one statement, each write but the last a
    data-modifying CTE of it (`WITH write_0 AS (INSERT ...) UPDATE ...`). One command
    instead of one per table: each cost the event loop 40 to 50 us whatever its rows, and
    PostgreSQL some more. PostgreSQL runs the parts on one snapshot (none sees the rows
    another changes) and checks foreign keys when the statement ends, so one part may
    insert the rows another's refer to."""
    cursor = connection.cursor()
    await cursor.execute(*_all_values(dialect, writes))
    return cursor


_ALL_TOGETHER: dict[tuple[Prepared, ...], Prepared] = {}


def _all_values(dialect: Dialect, writes: Sequence[tuple[Prepared, list[Any]]]) -> tuple[str, Any]:
    parts = tuple(statement for statement, _ in writes)
    prepared = _ALL_TOGETHER.get(parts)
    if prepared is None:
        forms = []
        for n, part in enumerate(parts):
            if part.together is None:
                raise TypeError("write_all takes statements built by for_rows")
            forms.append(part.together.named(f"rows_{n}"))
        *first, last = forms
        ctes = [
            cast(Insert | Update | Delete, form).cte(f"write_{n}") for n, form in enumerate(first)
        ]
        prepared = Prepared(cast(Insert | Update | Delete, last).add_cte(*ctes))
        _ALL_TOGETHER[parts] = prepared
    return prepared.values(
        dialect, {f"rows_{n}": dumps(rows) for n, (_, rows) in enumerate(writes)}
    )


def _rows_of(name: str, columns: dict[str, TypeEngine[Any]], bind: str) -> TableValuedAlias:
    """`json_to_recordset(:bind) AS name(a type, ...)`: the rows, passed as one JSON array
    of objects. Strings are read as TEXT, so a value too long for its column is refused by
    the write, as the row-by-row form refuses it. `jsontext` encodes the JSON in C (orjson);
    psycopg writes a list parameter (an array per column) in Python, which cost more than
    the rest of the group."""
    source = func.json_to_recordset(bindparam(bind, type_=JSON))
    typed = [column(key, _as_read(type_)) for key, type_ in columns.items()]
    return source.table_valued(*typed).render_derived(name=name, with_types=True)


def _equals_any(key: ColumnElement[Any], values: ColumnElement[Any]) -> ColumnElement[bool]:
    """`key = ANY(ARRAY(SELECT values))`, for values a function returns. PostgreSQL takes a
    function's rows to be 100: joined with a table of some thousand rows, it scanned the
    table whole rather than look each key up (2 ms against 0.1 with 20,000 rows). Against
    an array it uses the index."""
    return key == any_(func.array(select(values).scalar_subquery()))


def _bind_compared_with(statement: Update | Delete, key: ColumnElement[Any]) -> str:
    for element in iterate(statement.whereclause):
        if (
            isinstance(element, BinaryExpression)
            and element.left is key
            and isinstance(element.right, BindParameter)
        ):
            return str(element.right.key)
    raise TypeError(f"the statement does not find its rows by {key} = :name")


def _as_read(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    for kind in (String, Float, Integer, Boolean):  # Text is a String
        if isinstance(type_, kind):
            return Text() if kind is String else kind()
    raise TypeError(f"no JSON form for {type_!r}")


_IN_ALL = "in_all"


class PreparedIn:
    """A statement with a `column IN (...)` list of any length, built by `make` from the
    bind parameters it is given (`column.in_(binds)`, once in the statement).

    On SQLite the list is padded to the next power of two by repeating its last value (which
    changes nothing an IN matches), so a few statements cover every length: each is compiled
    once, and stays in sqlite3's statement cache (128) instead of one per group size pushing
    the others out. On PostgreSQL the IN becomes `column = ANY(ARRAY(SELECT ...))` over the
    values passed as one JSON array: one statement and one parameter for every length.
    (Padded lists of 64 values had 64 parameters, more than psycopg caches the conversion of
    (50): each call converted the SQL again, 3% of the server's CPU in a profile.)"""

    def __init__(self, make: Callable[[list[BindParameter[Any]]], ClauseElement]) -> None:
        self._make = make
        self._by_length: dict[int, _InStatement] = {}
        self._any = Prepared(_as_any(make([bindparam(_IN_ALL)])))

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
            padded = self._make([bindparam(f"in_{n}") for n in range(length)])
            prepared = _InStatement(padded, length, self._any)
            self._by_length[length] = prepared
        bound = dict(params or {})
        bound[_IN_ALL] = values
        return prepared, bound


class _InStatement(Prepared):
    """One length of a `PreparedIn`: the values come as one parameter (`in_all`), spread
    over the padded binds on SQLite, given to the ANY form as JSON on PostgreSQL."""

    def __init__(self, statement: ClauseElement, length: int, any_form: Prepared) -> None:
        super().__init__(statement)
        self._length = length
        self._any_form = any_form

    def values(self, dialect: Dialect, params: dict[str, Any]) -> tuple[str, Any]:
        given = dict(params)
        values = given.pop(_IN_ALL)
        if dialect.name == "postgresql":
            given[_IN_ALL] = dumps(list(values))
            return self._any_form.values(dialect, given)
        padded = [*values, *[values[-1]] * (self._length - len(values))] if values else [None]
        given.update({f"in_{n}": value for n, value in enumerate(padded)})
        return super().values(dialect, given)

    def compiled(self, dialect: Dialect) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        """The padded form, SQLite's: on PostgreSQL the statement is the ANY form, reached
        only through `values` (which passes the list as JSON)."""
        if dialect.name == "postgresql":
            raise TypeError("a PreparedIn statement runs on PostgreSQL through `values` only")
        return super().compiled(dialect)

    def values_many(self, dialect: Dialect, rows: list[dict[str, Any]]) -> tuple[str, list[Any]]:
        raise TypeError("a PreparedIn statement takes one list of values a call, not many rows")


def _as_any(statement: ClauseElement) -> ClauseElement:
    """`statement` with its `column IN (:in_all)` made `column = ANY(ARRAY(SELECT
    json_array_elements_text(:in_all)))`. (An array parameter would be written by psycopg
    in Python, value by value; JSON is encoded in C.)"""
    replaced = 0

    def any_form(element: Any, **kw: Any) -> Any:
        nonlocal replaced
        if (
            isinstance(element, BinaryExpression)
            and element.operator is operators.in_op
            and any(
                isinstance(inner, BindParameter) and inner.key == _IN_ALL
                for inner in iterate(element.right)
            )
        ):
            replaced += 1
            listed = func.json_array_elements_text(bindparam(_IN_ALL, type_=JSON))
            value: ColumnElement[Any] = listed
            if not isinstance(element.left.type, String):
                value = sql_cast(listed, element.left.type)
            return _equals_any(element.left, value)
        return None

    found = replacement_traverse(statement, {}, any_form)
    if replaced != 1:
        raise TypeError("PreparedIn's statement must have its values in one `column IN (...)`")
    return cast(ClauseElement, found)


def rows(cursor: Any) -> list[Fetched]:
    """Every row of a driver cursor, readable by column name; the cursor is closed."""
    found = fetched(cursor.description, cursor.fetchall())
    cursor.close()
    return found


def fetched(description: Any, records: Sequence[Sequence[Any]]) -> list[Fetched]:
    """Rows as the driver gives them, readable by column name."""
    names = tuple(column[0] for column in description)
    row = row_class(names)
    return [row(zip(names, values, strict=True)) for values in records]


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
    """A row as a dict whose columns also read as attributes, like SQLAlchemy's rows.

    A row is of a subclass for its columns (`row_class`; `fetched_row` for one built from a
    dict), in which each column is a property. A runtime `__getattr__` is slow on Python
    3.11: every read that falls through to it first raises, and formats, an AttributeError
    inside the interpreter (callgrind: about 8% of the API process's instructions went to
    them, 28 a request), and a class that has one sends every attribute read, properties
    included, through the interpreter's slower hook for it (2.5% more). So `__getattr__` is
    there for the type checker only."""

    __slots__ = ()

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any: ...


@functools.lru_cache(maxsize=512)
def row_class(names: tuple[str, ...]) -> type[Fetched]:
    """The `Fetched` subclass of rows with these columns: one per statement's column list.
    A column named like a dict method (`items`, `keys`) stays the method."""
    columns = {
        name: property(operator.itemgetter(name))
        for name in names
        if name.isidentifier() and not hasattr(Fetched, name)
    }
    return cast(type[Fetched], type("Fetched", (Fetched,), {"__slots__": (), **columns}))


def fetched_row(values: dict[str, Any]) -> Fetched:
    """A row built from a dict, its keys readable as attributes as a statement's rows are."""
    return row_class(tuple(values))(values)
