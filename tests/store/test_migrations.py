"""Migrations: a database made by an older connectmail is brought to the newest schema when a
store opens it; one already there is left as it is, without Alembic."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from connectmail.store.database import MIGRATIONS, current_revision, head_revision, normalize_url
from connectmail.store.store import Store


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def test_the_newest_revision_is_alembics_head() -> None:
    # `migrate` skips Alembic when the database is at `head_revision`: a migration numbered
    # out of order would otherwise never run.
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_a_database_of_an_older_version_is_brought_to_the_newest(database_url: str) -> None:
    engine = create_engine(normalize_url(database_url))
    config = alembic_config()
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
        connection.commit()
        assert current_revision(connection) == "0005"
        columns = {c["name"] for c in inspect(connection).get_columns("knowledge_bases")}
        assert "content_modified_at" not in columns

    store = Store(database_url)
    store.migrate()
    store.migrate()  # and again, as every start does: nothing left to do
    store.close()

    with engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        columns = {c["name"] for c in inspect(connection).get_columns("knowledge_bases")}
        assert "content_modified_at" in columns
    engine.dispose()


def test_a_new_database_gets_every_migration(database_url: str) -> None:
    engine = create_engine(normalize_url(database_url))
    with engine.connect() as connection:
        assert current_revision(connection) is None
    store = Store(database_url)
    store.migrate()
    store.close()
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        assert "outbox" in inspect(connection).get_table_names()
    engine.dispose()
