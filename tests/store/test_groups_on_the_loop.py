"""On PostgreSQL the common sends, and their delivery records, are written by the event loop's
groups (`SendBatch.run_async`, `RecordBatch.run_async`), not handed to the writer threads.
Nothing a user sees tells the two apart but the rate (a group that fails on the loop runs
again in a writer thread, with the same outcome), so the server's debug log does."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.support.connect import make_outpost
from tests.support.databases import wait_for_statuses
from tests.support.smtp import SmtpSink


def test_sends_and_their_delivery_records_are_written_on_the_event_loop(
    postgres_url: str, start_server: Any, relay: SmtpSink
) -> None:
    server = start_server(
        "--database-url", postgres_url, "--relay", relay.url, env={"CONNECTMAIL_LOG_LEVEL": "debug"}
    )
    outpost = make_outpost(server.client())
    contacts = [outpost.contact() for _ in range(30)]

    def send(contact_id: str) -> str:
        sent = outpost.send(contact_id, ClientToken=f"loop-{contact_id}", **outpost.sent_from())
        return str(sent["ContactId"])

    with ThreadPoolExecutor(10) as pool:  # concurrent: groups of several
        assert list(pool.map(send, contacts)) == contacts
    delivered = ["DELIVERED"] * 30
    assert wait_for_statuses(postgres_url, delivered) == delivered
    assert len(relay.received) == 30
    log = server.log()
    assert "batch gave up on its group" not in log, log
    assert "a group failed on the event loop" not in log, log
