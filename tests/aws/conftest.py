"""Fixtures for the protocol layer's tests: the real botocore models, loaded once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectmail.aws import ServiceModel, load_service_model
from connectmail.aws.restjson import RestJsonProtocol
from connectmail.aws.validate import InputValidator
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
