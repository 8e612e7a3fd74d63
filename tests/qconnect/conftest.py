"""Fixtures for the qconnect tests: a client of the module's shared server, a knowledge base."""

from __future__ import annotations

from typing import Any

import pytest

from tests.qconnect.kit import KnowledgeBase, make_knowledge_base
from tests.support.server import ServerProcess


@pytest.fixture
def qconnect(shared_server: ServerProcess) -> Any:
    return shared_server.client("qconnect")


@pytest.fixture
def kb(qconnect: Any) -> KnowledgeBase:
    """A fresh MESSAGE_TEMPLATES knowledge base for one test."""
    return make_knowledge_base(qconnect)
