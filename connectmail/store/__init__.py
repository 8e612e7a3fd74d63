"""Persistence: schema, migrations, and the group-committing store."""

from connectmail.store.store import Store

__all__ = ["Store"]
