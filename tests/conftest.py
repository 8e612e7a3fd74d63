"""Fixtures: servers, relays and databases, all real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.databases import database
from tests.support.server import ServerProcess
from tests.support.smtp import SmtpSink

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    with database(backend, tmp_path) as url:
        yield url


@pytest.fixture
def relay() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Any]:
    """Start servers for a test; all are stopped at its end."""
    started: list[ServerProcess] = []

    def start(
        *args: str, data_dir: Path | None = None, env: dict[str, str] | None = None
    ) -> ServerProcess:
        directory = data_dir or tmp_path / f"server-{len(started)}"
        server = ServerProcess(directory, list(args), env or {})
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One capture-mode server per module and backend, for tests that make their own instance."""
    directory = tmp_path_factory.mktemp("shared")
    with database(str(request.param), directory) as url:
        server = ServerProcess(directory, ["--database-url", url]).start()
        yield server
        server.stop()
