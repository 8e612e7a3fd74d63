"""A migrated SQLite store per test, for the domain's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectmail.store.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(f"sqlite:///{tmp_path / 'domain.db'}")
    opened.migrate()
    yield opened
    opened.close()
