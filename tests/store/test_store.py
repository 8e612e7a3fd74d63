"""The store on both databases: group commit, failing units rolled back alone, restarts."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection, bindparam, func, insert, select, text, update

from connectmail.errors import ServiceError
from connectmail.store.groups import Outcome, RunAlone
from connectmail.store.prepared import (
    Prepared,
    PreparedIn,
    begin_async,
    for_rows,
    rows,
    write_all,
)
from connectmail.store.store import Store
from connectmail.store.tables import access_keys, accounts


def migrated(url: str) -> Iterator[Store]:
    store = Store(url)
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    yield from migrated(database_url)


def add_account(account_id: str) -> Any:
    def unit(connection: Connection) -> str:
        connection.execute(insert(accounts).values(id=account_id, created_at=0.0))
        return account_id

    return unit


def count(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(accounts)).scalar_one())


def test_concurrent_writes_all_commit(store: Store) -> None:
    async def run() -> list[str]:
        writes = [store.write(add_account(f"{n:012d}")) for n in range(300)]
        return list(await asyncio.gather(*writes))

    assert len(asyncio.run(run())) == 300
    assert store.read_now(count) == 300


def test_a_failing_unit_rolls_back_alone(store: Store) -> None:
    def half_then_fail(connection: Connection) -> None:
        connection.execute(insert(accounts).values(id="999999999999", created_at=0.0))
        raise ServiceError("InvalidRequestException", "no")

    async def run() -> tuple[Any, ...]:
        return await asyncio.gather(
            store.write(add_account("000000000001")),
            store.write(half_then_fail),
            store.write(add_account("000000000002")),
            return_exceptions=True,
        )

    first, failed, second = asyncio.run(run())
    assert (first, second) == ("000000000001", "000000000002")
    assert isinstance(failed, ServiceError)
    ids = store.read_now(lambda c: set(c.execute(select(accounts.c.id)).scalars()))
    assert ids == {"000000000001", "000000000002"}


def test_duplicate_keys_fail_only_their_unit(store: Store) -> None:
    store.write_now(add_account("000000000007"))

    async def run() -> tuple[Any, ...]:
        return await asyncio.gather(
            store.write(add_account("000000000007")),
            store.write(add_account("000000000008")),
            return_exceptions=True,
        )

    duplicate, fresh = asyncio.run(run())
    assert isinstance(duplicate, Exception)
    assert fresh == "000000000008"


def test_migrate_twice_is_harmless(database_url: str) -> None:
    for _ in range(2):
        opened = Store(database_url)
        opened.migrate()
        opened.close()


def test_write_turn_is_one_writer_among_processes(tmp_path: Any) -> None:
    """Two turns on one file behave as two processes: the second waits for the first."""
    from connectmail.store.groups import WriteTurn

    url = f"sqlite:///{tmp_path}/db.sqlite"
    first, second = WriteTurn(url), WriteTurn(url)
    try:
        assert first.try_acquire()
        assert not first.try_acquire()  # this process's other writers wait too
        assert not second.try_acquire()
        first.release()
        assert second.try_acquire()
        assert not first.try_acquire()
        second.release()
        with first:
            assert not second.try_acquire()
        assert second.try_acquire()
        second.release()
    finally:
        first.close()
        second.close()


def _open_temporary_files() -> list[str]:
    """The SQLite temporary files this process holds open (unlinked, named etilqs_*)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if "etilqs_" in target:
            found.append(target)
    return found


ROWS = 20_000  # their pages, changed in a savepoint, pass the 64 KiB SQLite keeps in memory


class ChangeEveryRow:
    """A batch that changes every account in its group's savepoint, and reports the
    temporary files open meanwhile."""

    def run(self, connection: Connection, jobs: list[Any]) -> list[Outcome]:
        changed = connection.execute(update(accounts).values(created_at=1.0)).rowcount
        return [(True, (changed, _open_temporary_files())) for _ in jobs]

    def run_alone(self, connection: Connection, job: Any) -> Any:
        raise AssertionError("the batch ran whole")


@pytest.fixture
def sqlite_with_accounts(tmp_path: Any) -> Iterator[Store]:
    rows = [{"id": f"{n:012d}", "created_at": 0.0} for n in range(ROWS)]
    for store in migrated(f"sqlite:///{tmp_path}/db.sqlite"):  # one store, closed after
        store.write_now(lambda connection: connection.execute(insert(accounts), rows))
        yield store


def _total(store: Store) -> Any:
    total = select(func.sum(accounts.c.created_at))
    return store.read_now(lambda connection: connection.execute(total).scalar())


def test_a_loop_group_on_sqlite_keeps_its_savepoint_journal_in_memory(
    sqlite_with_accounts: Store,
) -> None:
    """The hot path's groups run in savepoints; their journal must not go to a temporary
    file (one per group, opened, written and unlinked: a third of the bytes a send wrote)."""
    store = sqlite_with_accounts
    changed, temporary = asyncio.run(store.write_batched(ChangeEveryRow(), "job"))
    assert changed == ROWS
    assert temporary == []
    assert _total(store) == float(ROWS)  # and the change committed


def test_a_unit_on_sqlite_that_changes_a_whole_table_journals_to_a_file(
    sqlite_with_accounts: Store,
) -> None:
    """A writer thread's unit is not bounded (clearing the mailbox changes a whole table):
    its savepoint journal goes to a temporary file, not into the server's memory."""
    store = sqlite_with_accounts

    def change_every_row(connection: Connection) -> tuple[int, list[str]]:
        changed = connection.execute(update(accounts).values(created_at=2.0)).rowcount
        return changed, _open_temporary_files()

    changed, temporary = asyncio.run(store.write(change_every_row))
    assert changed == ROWS
    assert len(temporary) == 1
    assert _total(store) == 2.0 * ROWS


def test_rows_read_by_column_as_attributes_and_as_a_dict(store: Store) -> None:
    store.write_now(add_account("000000000007"))
    statement = Prepared(select(accounts.c.id, accounts.c.created_at, accounts.c.id.label("items")))
    found = store.read_now(lambda c: rows(statement.run(c, {})))
    assert len(found) == 1
    row = found[0]
    assert (row.id, row.created_at) == ("000000000007", 0.0)
    assert row == {"id": "000000000007", "created_at": 0.0, "items": "000000000007"}
    # A column named like a dict method is read by key; the method stays.
    assert row["items"] == "000000000007" and ("id", "000000000007") in row.items()
    with pytest.raises(AttributeError):
        _ = row.no_such_column
    one = store.read_now(lambda c: statement.record(c, {}))
    assert one is not None and type(one) is type(row) and one.id == "000000000007"


@pytest.mark.parametrize("length", [0, 1, 2, 3, 5, 9, 17, 33, 64, 100])
def test_in_lists_of_any_length_find_exactly_their_rows(store: Store, length: int) -> None:
    """IN lists are padded to a power of two on SQLite and passed as one JSON array on
    PostgreSQL (see PreparedIn): the same rows as an IN of the values themselves, JSON's
    special characters included."""
    special = '0000000"\\é'
    for n in range(120):
        store.write_now(add_account(f"{n:012d}"))
    store.write_now(add_account(special))
    among = PreparedIn(lambda ids: select(accounts.c.id).where(accounts.c.id.in_(ids)))
    wanted = [f"{n:012d}" for n in range(0, 3 * length, 3)][:length]
    if length % 2:
        wanted[-1:] = [special, f"{999:012d}"]  # and one that matches nothing
    found = store.read_now(lambda c: [row.id for row in rows(among.run(c, wanted))])
    assert sorted(found) == sorted(w for w in wanted if w == special or int(w) < 120)
    assert (special in found) == bool(length % 2)


def test_an_in_list_statement_refuses_the_calls_that_would_run_the_wrong_form(
    store: Store,
) -> None:
    """A PreparedIn's statement for one length is the padded SQLite form: many rows at once
    would run it without its padding, and on PostgreSQL, whose form is the ANY one, only
    `values` may run it. Those calls fail instead of sending the wrong SQL."""
    among = PreparedIn(lambda ids: select(accounts.c.id).where(accounts.c.id.in_(ids)))
    prepared, bound = among.bind(["000000000001"])
    dialect = store.write_engine.dialect
    with pytest.raises(TypeError, match="one list of values a call"):
        prepared.values_many(dialect, [bound])
    sql, _ = prepared.values(dialect, bound)
    if dialect.name == "postgresql":
        assert "json_array_elements_text" in sql
        with pytest.raises(TypeError, match="through `values` only"):
            prepared.compiled(dialect)
    else:
        assert prepared.compiled(dialect)[0] == sql


ADD_ACCOUNTS = for_rows(insert(accounts))
MOVE_ACCOUNTS = for_rows(
    update(accounts)
    .where(accounts.c.id == bindparam("id"))
    .values(created_at=bindparam("created_at")),
    key=accounts.c.id,
)


def _created(store: Store) -> dict[str, float]:
    found = store.read_now(lambda c: c.execute(select(accounts.c.id, accounts.c.created_at)))
    return {row.id: row.created_at for row in found}


def test_writes_of_many_rows_store_the_same_rows_one_by_one_or_together(store: Store) -> None:
    """On PostgreSQL a group's rows go in as one JSON array (`together`); on SQLite one by
    one. Same rows either way: text JSON escapes, ints in float columns, floats to the last
    bit, and the count of rows changed."""
    added = [
        {"id": "000000000001", "created_at": 0.1 + 0.2},
        {"id": "000000000002", "created_at": 7},
        {"id": '0000000"\\é', "created_at": 1.7976931348623157e308},  # JSON's specials
    ]
    store.write_now(lambda c: ADD_ACCOUNTS.run_many(c, added))
    assert _created(store) == {row["id"]: row["created_at"] for row in added}

    moved = [
        {"id": "000000000001", "created_at": 5e-324},
        {"id": "000000000002", "created_at": 1_000_000_000.125},
        {"id": "000000000404", "created_at": 1.0},  # no such account: not counted
    ]
    assert store.write_now(lambda c: MOVE_ACCOUNTS.run_many(c, moved)) == 2
    assert _created(store) == {
        "000000000001": 5e-324,
        "000000000002": 1_000_000_000.125,
        added[2]["id"]: added[2]["created_at"],
    }


ADD_KEYS = for_rows(insert(access_keys))


def _key(key_id: str, account_id: str) -> dict[str, Any]:
    return {
        "access_key_id": key_id,
        "account_id": account_id,
        "secret_access_key": "secret",
        "policy": None,
        "is_root": False,
        "created_at": 0.0,
    }


def test_writes_to_several_tables_at_once_count_the_rows_the_last_changed(store: Store) -> None:
    """`write_all`: on PostgreSQL one statement, on SQLite one by one. A key may name an
    account written with it (foreign keys are checked when the statement ends); the count is
    the last write's."""
    store.write_now(lambda c: ADD_ACCOUNTS.run_many(c, [{"id": "000000000001", "created_at": 1}]))

    def writes(connection: Connection) -> int:
        marked = write_all(
            connection,
            [
                (ADD_ACCOUNTS, [{"id": "000000000002", "created_at": 2.0}]),
                (ADD_KEYS, [_key("AKIDNEW", "000000000002"), _key("AKIDOLD", "000000000001")]),
                (
                    MOVE_ACCOUNTS,
                    [
                        {"id": "000000000001", "created_at": 10.0},
                        {"id": "000000000404", "created_at": 1.0},  # no such account
                    ],
                ),
            ],
        )
        return int(marked.rowcount)

    assert store.write_now(writes) == 1
    assert _created(store) == {"000000000001": 10.0, "000000000002": 2.0}
    keys = store.read_now(
        lambda c: sorted(c.execute(select(access_keys.c.access_key_id, access_keys.c.account_id)))
    )
    assert [tuple(row) for row in keys] == [
        ("AKIDNEW", "000000000002"),
        ("AKIDOLD", "000000000001"),
    ]


def test_writes_to_several_tables_at_once_fail_whole(pg_store: Store) -> None:
    """A key naming no account fails the one statement: the account written with it is not
    kept either (the caller's savepoint or transaction then goes on without them)."""

    def writes(connection: Connection) -> None:
        connection.exec_driver_sql("SAVEPOINT unit")
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            write_all(
                connection,
                [
                    (ADD_ACCOUNTS, [{"id": "000000000003", "created_at": 3.0}]),
                    (ADD_KEYS, [_key("AKIDNONE", "000000000999")]),
                ],
            )
        connection.exec_driver_sql("ROLLBACK TO SAVEPOINT unit")
        ADD_ACCOUNTS.run_many(connection, [{"id": "000000000004", "created_at": 4.0}])

    pg_store.write_now(writes)
    assert _created(pg_store) == {"000000000004": 4.0}


def test_a_value_too_long_is_refused_together_as_one_by_one(pg_store: Store) -> None:
    """Not cut to the column's length (as a cast to VARCHAR(12) would): the whole write
    fails, in both forms."""
    rows_in = [{"id": "000000000001", "created_at": 1.0}, {"id": "0" * 13, "created_at": 2.0}]
    for statement in (ADD_ACCOUNTS, Prepared(insert(accounts))):

        def add(connection: Connection, statement: Prepared = statement) -> int:
            return statement.run_many(connection, rows_in)

        with pytest.raises(psycopg.errors.StringDataRightTruncation):
            pg_store.write_now(add)
    assert _created(pg_store) == {}


def test_rows_written_together_are_looked_up_by_key_not_scanned(pg_store: Store) -> None:
    """PostgreSQL takes a function's rows to be 100 and hash-joined them with a whole scan of
    a table of 20,000 rows; `for_rows` makes it look each key up in the index."""

    def plan(connection: Connection) -> str:
        connection.execute(
            text(
                "INSERT INTO accounts (id, created_at) "
                "SELECT lpad(g::text, 12, '0'), 0 FROM generate_series(1, 20000) g"
            )
        )
        connection.execute(text("ANALYZE accounts"))
        assert MOVE_ACCOUNTS.together is not None
        sql, values = MOVE_ACCOUNTS.together.values(
            connection.dialect, [{"id": f"{n:012d}", "created_at": 1.0} for n in range(1, 31)]
        )
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("EXPLAIN " + sql, values)
        return "\n".join(row[0] for row in cursor.fetchall())

    found = pg_store.write_now(plan)
    assert "Index Scan using accounts_pkey" in found or "Index Cond" in found, found
    assert "Seq Scan on accounts" not in found, found


class AccountBatch:
    """A LoopBatch adding accounts, counting which path ran each job."""

    GIVE_UP = "900000000000"  # run_async raises on the group holding this one

    def __init__(self) -> None:
        self.on_loop: list[str] = []
        self.alone: list[str] = []

    def takes(self, job: str) -> bool:
        return not job.startswith("3")

    async def run_async(self, connection: Any, dialect: Any, jobs: list[str]) -> list[Outcome]:
        await begin_async(connection)  # several statements: a transaction (autocommit)
        outcomes: list[Outcome] = []
        for job in jobs:
            if job == self.GIVE_UP:
                raise RuntimeError("not this group")
            if job.startswith("2"):
                outcomes.append((False, RunAlone()))
                continue
            await connection.execute("INSERT INTO accounts (id, created_at) VALUES (%s, 0)", [job])
            outcomes.append((True, job))
        self.on_loop += [job for job, (ok, _) in zip(jobs, outcomes, strict=True) if ok]
        return outcomes

    def run(self, connection: Connection, jobs: list[str]) -> list[Outcome]:
        return [(False, RunAlone())] * len(jobs)

    def run_alone(self, connection: Connection, job: str) -> str:
        add_account(job)(connection)
        self.alone.append(job)
        return job


def _accounts(store: Store) -> list[str]:
    return store.read_now(lambda c: sorted(c.execute(select(accounts.c.id)).scalars()))


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[Store]:
    yield from migrated(postgres_url)


async def write_batched_all(store: Store, batch: AccountBatch, jobs: list[str]) -> list[Any]:
    """The jobs sent at once; their results in order."""
    return list(await asyncio.gather(*(store.write_batched(batch, job) for job in jobs)))


def test_loop_batches_on_postgresql_hand_what_they_leave_to_the_writer_threads(
    pg_store: Store,
) -> None:
    batch = AccountBatch()
    on_loop = [f"1{n:011d}" for n in range(40)]
    left = ["200000000001", "200000000002"]  # answered RunAlone
    not_taken = ["300000000001"]  # takes() says no

    jobs = [*on_loop, *left, *not_taken]
    assert asyncio.run(write_batched_all(pg_store, batch, jobs)) == jobs
    assert sorted(batch.on_loop) == on_loop
    assert sorted(batch.alone) == [*left, *not_taken]
    assert _accounts(pg_store) == sorted(jobs)

    # A group whose batch raises is undone whole; its jobs then commit in a thread.
    batch = AccountBatch()
    given_up = ["100000000100", AccountBatch.GIVE_UP, "100000000101"]
    assert asyncio.run(write_batched_all(pg_store, batch, given_up)) == given_up
    assert batch.on_loop == []
    assert sorted(batch.alone) == sorted(given_up)
    assert _accounts(pg_store) == sorted([*jobs, *given_up])


def test_loop_batches_survive_postgresql_dropping_their_connections(pg_store: Store) -> None:
    batch = AccountBatch()

    async def run() -> list[Any]:
        first = await write_batched_all(pg_store, batch, ["100000000001", "100000000002"])
        dropped = await pg_store.read(
            lambda c: c.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        )
        assert dropped >= 1  # the batcher's idle connection among them
        return first + await write_batched_all(pg_store, batch, ["100000000003", "100000000004"])

    assert asyncio.run(run()) == [f"10000000000{n}" for n in range(1, 5)]
    assert sorted(batch.on_loop) == [f"10000000000{n}" for n in range(1, 5)]
    assert _accounts(pg_store) == [f"10000000000{n}" for n in range(1, 5)]


def test_a_loop_batch_right_after_another_is_not_left_waiting(pg_store: Store) -> None:
    """The write that comes in as the last group finishes starts a group of its own."""
    batch = AccountBatch()

    async def run() -> list[Any]:
        return [await pg_store.write_batched(batch, f"1{n:011d}") for n in range(5)]

    assert asyncio.run(asyncio.wait_for(run(), 30)) == [f"1{n:011d}" for n in range(5)]
