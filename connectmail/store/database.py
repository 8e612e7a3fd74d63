"""Engines for SQLite and PostgreSQL behind one interface, and the schema migrations.

SQLite runs in WAL mode with full fsync; its write connection opens every transaction with
BEGIN IMMEDIATE so that writers from several processes queue instead of deadlocking.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Any fixed number serves: every connectmail process migrating one database takes this lock.
PG_MIGRATION_LOCK = 0x636F6E6E


def normalize_url(url: str) -> str:
    """Accept `postgresql://` and `sqlite:///` URLs and pick the drivers we ship."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str | URL) -> str | None:
    """The file of a SQLite URL; None for a database in memory."""
    database = make_url(url).database
    return None if not database or database == ":memory:" else database


def create_engines(url: str, *, readers: int) -> tuple[Engine, Engine]:
    """A write engine (transactions that take the write lock) and a read engine."""
    url = normalize_url(url)
    if is_sqlite(url):
        return _sqlite_engine(url, 1, immediate=True), _sqlite_engine(url, readers, immediate=False)
    options: dict[str, Any] = {"pool_pre_ping": True, "pool_recycle": 300}
    write = create_engine(url, pool_size=4, max_overflow=4, **options)
    read = create_engine(url, pool_size=readers, max_overflow=readers, **options)
    return write, read


def batch_engine(url: str) -> Engine:
    """SQLite: the write connection of the event loop's groups (see Store.write_batched).

    A group's batch runs in a savepoint, whose journal (the pages as they were) SQLite writes
    to a temporary file once it passes 64 KiB: one opened, written and unlinked in /var/tmp
    per group, a third of the bytes a send wrote. This connection keeps it in memory, which
    is safe because a group's changes are bounded (at most MAX_GROUP jobs, each a send or
    a delivery's record of a few rows: pages the page cache holds anyway). The writer
    threads' connection keeps the default: a unit may change a whole table (clearing the
    mailbox: its journal in memory would be the table's size).
    """
    return _sqlite_engine(normalize_url(url), 1, immediate=True, journal_in_memory=True)


def _sqlite_engine(
    url: str, pool_size: int, *, immediate: bool, journal_in_memory: bool = False
) -> Engine:
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin (savepoints work).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA cache_size=-65536")
        if journal_in_memory:
            cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()
        # SQLite's lower() knows only ASCII; searches that ignore case use this one.
        dbapi_connection.create_function("unicode_lower", 1, _unicode_lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _unicode_lower(text: object) -> object:
    return text.lower() if isinstance(text, str) else text


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe when several processes start at once.

    A database already there is left without asking Alembic, whose imports and scripts took
    half a second of every start and of every command that opens the database."""
    with _migration_lock(engine), engine.connect() as connection:
        current, newest = current_revision(connection), head_revision()
        if current == newest:
            return
        if current is not None and current not in _revisions():
            raise UnknownRevision(
                f"the database is at schema revision {current}, which this connectmail does "
                f"not know (its newest is {newest}): a newer connectmail made it"
            )
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.commit()


class UnknownRevision(Exception):
    """The database's schema is at a revision this code has no migration for."""


def head_revision() -> str:
    """The newest migration's revision. Each is named for its file's number (`0006` in
    `0006_content_modified.py`), and each follows the one numbered before it."""
    return max(_revisions())


def _revisions() -> set[str]:
    files = (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")
    return {path.name[:4] for path in files}


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None before the first migration)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    connection.rollback()
    return None if revision is None else str(revision)


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PG_MIGRATION_LOCK})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_MIGRATION_LOCK})
                connection.commit()
        return
    database = sqlite_file(engine.url)
    if database is None:
        yield
        return
    lock_path = f"{database}.migrate-lock"
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
