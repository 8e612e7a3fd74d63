"""Migrations: a database made by an older connectmail is brought to the newest schema when a
store opens it; one already there is left as it is, without Alembic."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, Table, create_engine, inspect, select

from connectmail.store import tables_inbound, tables_templates
from connectmail.store.database import MIGRATIONS, current_revision, head_revision, normalize_url
from connectmail.store.store import Store
from connectmail.store.tables import contacts, metadata
from connectmail.store.tables_templates import message_template_versions, message_templates


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrated(database_url: str) -> None:
    """What every start does: the store brings the database to the newest revision."""
    store = Store(database_url)
    store.migrate()
    store.close()


def migrated_from(database_url: str, revision: str, *rows: tuple[str, dict[str, Any]]) -> Engine:
    """A database left at `revision` holding `rows` (a table's name and a row, as that
    schema has it), then migrated: an engine on it, to read what became of them."""
    engine = create_engine(normalize_url(database_url))
    config = alembic_config()
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        old = MetaData()
        for table, values in rows:
            connection.execute(Table(table, old, autoload_with=connection).insert().values(values))
        connection.commit()
    migrated(database_url)
    return engine


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
    migrated(database_url)
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        assert "outbox" in inspect(connection).get_table_names()
    engine.dispose()


def test_contacts_made_before_0008_describe_without_tags_or_draft(database_url: str) -> None:
    # 0008 added columns to contacts, which hold rows already: they must read as untagged.
    engine = migrated_from(
        database_url,
        "0007",
        ("instances", dict(
            id="i-1", account_id="123456789012", region="us-east-1", arn="arn:i-1",
            identity_management_type="CONNECT_MANAGED", inbound_calls_enabled=True,
            outbound_calls_enabled=True, status="ACTIVE", tags="{}", created_at=1.0,
        )),
        ("contacts", dict(
            id="c-1", instance_id="i-1", account_id="123456789012", arn="arn:c-1",
            channel="EMAIL", initiation_method="OUTBOUND", state="CREATED",
            attributes="{}", references="{}", segment_attributes="{}",
            initiated_at=1.0, updated_at=1.0, expires_at=2.0,
        )),
    )  # fmt: skip
    with engine.connect() as connection:
        row = connection.execute(select(contacts).where(contacts.c.id == "c-1")).one()
        assert (row.tags, row.queue_id, row.draft) == ("{}", None, None)
    engine.dispose()


def test_templates_made_before_0010_have_no_attachments(database_url: str) -> None:
    # 0010 added attachment counts to templates and versions that exist already: none.
    engine = migrated_from(
        database_url,
        "0009",
        ("knowledge_bases", dict(
            id="kb-1", account_id="123456789012", region="us-east-1", arn="arn:kb-1",
            name="kb", knowledge_base_type="MESSAGE_TEMPLATES", configuration="{}",
            tags="{}", created_at=1.0, modified_at=1.0,
        )),
        ("message_templates", dict(
            id="t-1", knowledge_base_id="kb-1", account_id="123456789012", arn="arn:t-1",
            name="t", channel_subtype="EMAIL", content="{}", default_attributes="{}",
            content_sha256="0" * 64, tags="{}", next_version=2, created_at=1.0,
            modified_at=1.0, modified_by="arn:root",
        )),
        ("message_template_versions", dict(
            template_id="t-1", version=1, content="{}", default_attributes="{}",
            content_sha256="0" * 64, created_at=1.0, created_by="arn:root",
        )),
    )  # fmt: skip
    with engine.connect() as connection:
        template = connection.execute(select(message_templates)).one()
        version = connection.execute(select(message_template_versions)).one()
        assert (template.attachment_count, version.attachment_count) == (0, 0)
        assert "message_template_attachment_contents" in inspect(connection).get_table_names()
    engine.dispose()


def test_the_migrations_make_the_tables_the_code_declares(database_url: str) -> None:
    # What store/tables*.py declare and what the migrations build must not drift apart: a
    # column, index, default or type in one only is a difference Alembic reports here.
    assert tables_inbound.file_contents.metadata is tables_templates.knowledge_bases.metadata
    migrated(database_url)
    engine = create_engine(normalize_url(database_url))
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        differences = compare_metadata(context, metadata)
    engine.dispose()
    if engine.dialect.name == "sqlite":
        # 0007 widened the column on PostgreSQL only: SQLite does not hold a VARCHAR to its
        # length.
        differences = [d for d in differences if d[0][2:4] != ("idempotency_keys", "operation")]
    assert differences == []
