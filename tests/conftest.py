"""Fixtures: servers, relays and databases, all real."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import figures
from tests.support.databases import database, postgres_database
from tests.support.server import ServerProcess
from tests.support.smtp import SmtpSink

BACKENDS = ["sqlite", "postgresql"]
_made_here: list[str] = []  # the figures directory, when this process made it


def pytest_configure(config: pytest.Config) -> None:
    # The controlling process picks the directory; xdist workers inherit the variable.
    if not hasattr(config, "workerinput") and figures.ENVIRONMENT not in os.environ:
        os.environ[figures.ENVIRONMENT] = tempfile.mkdtemp(prefix="connectmail-figures-")
        _made_here.append(os.environ[figures.ENVIRONMENT])


def pytest_terminal_summary(terminalreporter: Any) -> None:
    directory = os.environ.get(figures.ENVIRONMENT)
    rows = figures.collected(directory) if directory else []
    if not rows:
        return
    terminalreporter.section("connectmail figures")
    for row in rows:
        test = row.pop("test")
        shown = ", ".join(f"{key.replace('_', ' ')} = {value}" for key, value in row.items())
        terminalreporter.write_line(f"{test}: {shown}")


def pytest_unconfigure(config: pytest.Config) -> None:
    # After the summary has read the figures; a directory given from outside is kept.
    for directory in _made_here:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def running_servers() -> Iterator[list[ServerProcess]]:
    """The servers a test started. Fixtures they depend on stop them before going away."""
    servers: list[ServerProcess] = []
    yield servers
    stop_all(servers)


def stop_all(servers: list[ServerProcess]) -> None:
    for server in servers:
        server.stop()


@pytest.fixture
def database_url(
    backend: str, tmp_path: Path, running_servers: list[ServerProcess]
) -> Iterator[str]:
    with database(backend, tmp_path) as url:
        yield url
        stop_all(running_servers)


@pytest.fixture
def postgres_url(running_servers: list[ServerProcess]) -> Iterator[str]:
    with postgres_database() as url:
        yield url
        stop_all(running_servers)


@pytest.fixture
def relay(running_servers: list[ServerProcess]) -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    stop_all(running_servers)
    sink.stop()


@pytest.fixture
def start_server(tmp_path: Path, running_servers: list[ServerProcess]) -> Any:
    """Start servers for a test; all are stopped at its end."""

    def start(
        *args: str, data_dir: Path | None = None, env: dict[str, str] | None = None
    ) -> ServerProcess:
        directory = data_dir or tmp_path / f"server-{len(running_servers)}"
        server = ServerProcess(directory, list(args), env or {})
        running_servers.append(server)
        return server.start()

    return start


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
