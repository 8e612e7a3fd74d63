"""Fixtures for the protocol layer's tests: the real botocore models, loaded once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import botocore.auth
import pytest

from connectmail.aws import ServiceModel, load_service_model
from connectmail.aws.restjson import RestJsonProtocol
from connectmail.aws.validate import InputValidator
from tests.aws.dbstate import DatabaseState
from tests.conftest import BACKENDS
from tests.support.databases import database
from tests.support.server import ServerProcess


@pytest.fixture(scope="session")
def connect_model() -> ServiceModel:
    return load_service_model("connect")


@pytest.fixture(scope="session")
def qconnect_model() -> ServiceModel:
    return load_service_model("qconnect")


@pytest.fixture(scope="session")
def connect_protocol(connect_model: ServiceModel) -> RestJsonProtocol:
    return RestJsonProtocol(connect_model)


@pytest.fixture(scope="session")
def qconnect_protocol(qconnect_model: ServiceModel) -> RestJsonProtocol:
    return RestJsonProtocol(qconnect_model)


@pytest.fixture(scope="session")
def connect_validator(connect_model: ServiceModel) -> InputValidator:
    return InputValidator(connect_model)


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server per module on SQLite, for tests where the database does not matter."""
    server = ServerProcess(tmp_path_factory.mktemp("server"), ["--no-deliver"]).start()
    yield server
    server.stop()


@dataclass
class QuietServer:
    """A server that does nothing on its own (no delivery), and its database."""

    server: ServerProcess
    database_url: str

    def state(self) -> DatabaseState:
        return DatabaseState(self.database_url)


@pytest.fixture(scope="module", params=BACKENDS)
def quiet_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[QuietServer]:
    """One server per module and backend with no delivery worker, so that between two calls
    only those calls change its database."""
    directory = tmp_path_factory.mktemp("quiet")
    with database(str(request.param), directory) as url:
        server = ServerProcess(directory, ["--database-url", url, "--no-deliver"]).start()
        yield QuietServer(server, url)
        server.stop()


@pytest.fixture
def client_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[timedelta], None]]:
    """Move the clock botocore signs with (in this process only; the server keeps its own)."""
    real = botocore.auth.get_current_datetime

    def shift(by: timedelta) -> None:
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real() + by)

    yield shift
