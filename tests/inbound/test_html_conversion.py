"""A received HTML body is turned into message.txt without holding up the database.

HTML to text takes seconds for a large body of tables (a report, a newsletter). It used to run
inside the message's write, on SQLite's only writer, so every API write waited for it: for mail
received over SMTP and for StartEmailContact alike.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.connect import Outpost, make_outpost
from tests.support.inbound import SmtpReply, deliver, file_bytes, references
from tests.support.server import ServerProcess

ROWS = 20_000


def cpu_seconds(pid: int) -> float:
    """The user and system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    started = ServerProcess(tmp_path_factory.mktemp("html"), ["--smtp-port", "0"]).start()
    yield started
    started.stop()


def report() -> str:
    return "".join(f"<table><tr><td>row {n}</td></tr></table>\r\n" for n in range(ROWS))


def while_converting(server: ServerProcess, outpost: Outpost, converting: Callable[[], Any]) -> Any:
    """Run `converting` (which makes the server convert `report()`), make a contact once the
    server is surely converting, and return what `converting` returned. The contact's write
    must not wait for the conversion."""
    assert server.process is not None
    # What one conversion costs the server here: a second to a few on the machines this ran
    # on. (A fixed 0.8 s was all of it on a fast one, and the write had happened by then.)
    before = cpu_seconds(server.process.pid)
    converting()
    cost = cpu_seconds(server.process.pid) - before
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(converting()))
    before = cpu_seconds(server.process.pid)
    worker.start()
    # Half way through its CPU the server is surely converting the message (reading and
    # parsing it take a few tenths of the whole), and has the other half to go.
    while cpu_seconds(server.process.pid) - before < cost / 2 and worker.is_alive():
        worker.join(0.01)
    assert worker.is_alive(), "the message was stored before it could be observed"
    outpost.contact()  # a write, while the conversion goes on
    assert worker.is_alive(), "the API's write waited for the message's conversion"
    worker.join()
    (result,) = results
    return result


def plain_text_of(outpost: Outpost, contact_id: str) -> str:
    client = outpost.client
    contact = client.describe_contact(InstanceId=outpost.instance_id, ContactId=contact_id)
    (text,) = references(client, outpost.instance_id, contact_id, "EMAIL_MESSAGE_PLAIN_TEXT")
    arn = text["EmailMessagePlainText"]["Arn"]
    return file_bytes(client, outpost.instance_id, contact["Contact"]["Arn"], arn).decode()


def test_api_writes_go_on_while_a_large_html_body_is_converted(server: ServerProcess) -> None:
    outpost = make_outpost(server.client())
    data = (
        b"From: reports@example.org\r\nSubject: Daily report\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n" + report().encode()
    )
    reply: SmtpReply = while_converting(
        server, outpost, lambda: deliver(server, data, recipients=[outpost.sender])
    )
    assert reply.accepted, reply.data
    received = reply.data[1].rsplit(" ", 1)[1] if reply.data else ""
    plain = plain_text_of(outpost, received)
    assert plain.split()[:2] == ["row", "0"] and f"row {ROWS - 1}" in plain


def test_api_writes_go_on_while_start_email_contact_converts_its_html(
    server: ServerProcess,
) -> None:
    outpost = make_outpost(server.client())
    params = {
        "InstanceId": outpost.instance_id,
        "FromEmailAddress": {"EmailAddress": "reports@example.org"},
        "DestinationEmailAddress": outpost.sender,
        "EmailMessage": {
            "MessageSourceType": "RAW",
            "RawMessage": {"Subject": "Daily report", "Body": report(), "ContentType": "text/html"},
        },
    }
    started = while_converting(
        server, outpost, lambda: outpost.client.start_email_contact(**params)
    )
    plain = plain_text_of(outpost, started["ContactId"])
    assert plain.split()[:2] == ["row", "0"] and f"row {ROWS - 1}" in plain
