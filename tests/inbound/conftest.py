"""Servers the inbound tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import BACKENDS
from tests.support.databases import database
from tests.support.server import ServerProcess


@pytest.fixture(scope="module", params=BACKENDS)
def smtp_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server with an SMTP port, per module and database."""
    directory = tmp_path_factory.mktemp("smtp")
    with database(str(request.param), directory) as url:
        started = ServerProcess(directory, ["--database-url", url, "--smtp-port", "0"]).start()
        yield started
        started.stop()
