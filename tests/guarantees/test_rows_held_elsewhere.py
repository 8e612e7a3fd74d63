"""A row held by a transaction left open elsewhere (a psql session, a stuck client) holds up
the requests that need it for a bounded time only (PostgreSQL; `CONNECTMAIL_LOCK_WAIT_SECONDS`,
one second here), and no other request at all.

A write that gives up answers InternalServiceException (which the SDKs retry) and changes
nothing; a delivery whose record gives up is delivered again (at least once, as always).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError

from tests.support.connect import SEND_PATHS, make_outpost
from tests.support.databases import wait_for_statuses, waiting_on_a_lock
from tests.support.server import ServerProcess
from tests.support.smtp import SmtpSink

IMPATIENT = {"CONNECTMAIL_LOCK_WAIT_SECONDS": "1"}


@pytest.fixture
def impatient(postgres_url: str, start_server: Any) -> ServerProcess:
    """Mail captured; writes wait one second for a row held elsewhere."""
    started: ServerProcess = start_server("--database-url", postgres_url, env=IMPATIENT)
    return started


def _state(url: str, contact_id: str) -> Any:
    with psycopg.connect(url) as check:
        return check.execute("SELECT state FROM contacts WHERE id = %s", (contact_id,)).fetchone()


# A held contact's send goes to a writer thread on either path.
@SEND_PATHS
def test_a_contact_held_too_long_answers_and_sends_nothing(
    impatient: ServerProcess, postgres_url: str, batched: bool
) -> None:
    """The send answers a retryable error once the wait is over; other writes go on
    meanwhile; once the row is let go, the same request with its token sends the email
    once."""
    outpost = make_outpost(impatient.client())
    held = outpost.contact()
    from_ = outpost.sent_from(batched)
    send = {**from_, "ClientToken": f"held-{held}"}
    with psycopg.connect(postgres_url) as holder:
        holder.execute("SELECT id FROM contacts WHERE id = %s FOR UPDATE", (held,))
        started = time.monotonic()
        with pytest.raises(ClientError) as refused:
            outpost.send(held, **send)
        waited = time.monotonic() - started
        other = outpost.contact()  # writes the held row does not concern go on
        assert outpost.send(other, **from_)["ContactId"] == other
        holder.rollback()
    error = refused.value.response
    assert error["Error"]["Code"] == "InternalServiceException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert "another transaction" in error["Error"]["Message"]
    assert waited >= 1.0  # it did wait for the row, as long as it was told to
    assert _state(postgres_url, held) == ("CREATED",)
    with psycopg.connect(postgres_url) as check:
        tokens = check.execute(
            "SELECT count(*) FROM idempotency_keys WHERE token = %s", (f"held-{held}",)
        ).fetchone()
    assert tokens == (0,)
    assert outpost.send(held, **send)["ContactId"] == held
    mail = impatient.wait_for_mail(2)
    assert sorted(m["ContactId"] for m in mail) == sorted([held, other])


def test_a_stop_of_a_held_contact_answers_and_changes_nothing(
    impatient: ServerProcess, postgres_url: str
) -> None:
    """Every write waits the same bounded time, not only sends: StopContact here."""
    client = impatient.client()
    outpost = make_outpost(client)
    held = outpost.contact()
    with psycopg.connect(postgres_url) as holder:
        holder.execute("SELECT id FROM contacts WHERE id = %s FOR UPDATE", (held,))
        with pytest.raises(ClientError) as refused:
            client.stop_contact(InstanceId=outpost.instance_id, ContactId=held)
        holder.rollback()
    assert refused.value.response["Error"]["Code"] == "InternalServiceException"
    assert _state(postgres_url, held) == ("CREATED",)
    client.stop_contact(InstanceId=outpost.instance_id, ContactId=held)
    assert _state(postgres_url, held) == ("ENDED",)


def test_a_delivery_record_held_up_does_not_hold_up_sends(
    postgres_url: str, start_server: Any
) -> None:
    """The event loop runs one group at a time, sends and delivery records alike: a record
    waiting for a message row held elsewhere gives up after the wait, and the sends behind
    it are answered."""
    sink = SmtpSink(data_delay=1.0).start()  # time to take the message row first
    try:
        env = {**IMPATIENT, "CONNECTMAIL_DELIVERY_LEASE_SECONDS": "3"}
        server = start_server("--database-url", postgres_url, "--relay", sink.url, env=env)
        outpost = make_outpost(server.client())
        from_ = outpost.sent_from()  # the event loop's batch
        first = outpost.contact()
        with psycopg.connect(postgres_url) as holder, ThreadPoolExecutor(1) as pool:
            outpost.send(first, to="first@example.org", **from_)
            holder.execute("SELECT id FROM messages WHERE contact_id = %s FOR UPDATE", (first,))
            deadline = time.monotonic() + 15
            while not waiting_on_a_lock(postgres_url):  # the record, once the relay answers
                assert time.monotonic() < deadline, "the delivery record never waited"
                time.sleep(0.05)
            second = outpost.contact()
            answer = pool.submit(outpost.send, second, to="second@example.org", **from_)
            try:
                assert answer.result(timeout=20)["ContactId"] == second
            finally:
                holder.rollback()
        # Recorded once the row was let go (or, had the record given up first, delivered
        # again once its lease ran out: at least once either way).
        delivered = ["DELIVERED", "DELIVERED"]
        assert wait_for_statuses(postgres_url, delivered) == delivered
        recipients = [m.recipients[0] for m in sink.received]
        assert recipients.count("first@example.org") >= 1
        assert recipients.count("second@example.org") == 1
    finally:
        sink.stop()
