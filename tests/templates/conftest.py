"""Fixtures for templated email: one server per module and backend, sending to a real relay."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.databases import database
from tests.support.server import ServerProcess
from tests.support.smtp import Received, SmtpSink


@dataclass
class MailServer:
    """A connectmail server whose mail goes to `relay`."""

    server: ServerProcess
    relay: SmtpSink

    def mail_to(self, address: str, timeout: float = 15.0) -> Received:
        """The first message the relay got for `address` (waiting for it to arrive)."""
        with self.relay.handler.arrived:
            self.relay.handler.arrived.wait_for(
                lambda: any(address in r.recipients for r in self.relay.handler.received), timeout
            )
        for received in self.relay.received:
            if address in received.recipients:
                return received
        raise AssertionError(f"no mail for {address} reached the relay")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def mail_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MailServer]:
    directory = tmp_path_factory.mktemp("templated-mail")
    relay = SmtpSink().start()
    with database(str(request.param), directory) as url:
        server = ServerProcess(directory, ["--relay", relay.url, "--database-url", url]).start()
        yield MailServer(server, relay)
        server.stop()
    relay.stop()
