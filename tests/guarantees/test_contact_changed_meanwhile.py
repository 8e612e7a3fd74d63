"""A send whose contact another transaction is changing waits for it and answers from what
that transaction committed (PostgreSQL, where writers do not exclude each other).

The send path commits a group's writes in the same round trip as the writes themselves; that
is only right because the group's read locks its contacts. These tests hold a contact's row
in a transaction of their own, start a send, and let it go once PostgreSQL shows it waiting.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError

from tests.support.connect import SEND_PATHS, Outpost, make_outpost
from tests.support.databases import waiting_on_a_lock
from tests.support.server import ServerProcess


@pytest.fixture
def server(postgres_url: str, start_server: Any) -> ServerProcess:
    # Waits here end when the test lets the row go, well within the minute.
    env = {"CONNECTMAIL_LOCK_WAIT_SECONDS": "60"}
    started: ServerProcess = start_server("--database-url", postgres_url, env=env)  # captured
    return started


@contextmanager
def send_while_held(
    url: str, outpost: Outpost, contact_id: str, change: str, **send: Any
) -> Iterator[tuple[psycopg.Connection[Any], Future[dict[str, Any]]]]:
    """Run `change` on the contact's row in an open transaction, start a send of the contact,
    and yield the transaction (to commit or roll back) and the send's answer once the send
    waits for that row."""
    with psycopg.connect(url) as holder, ThreadPoolExecutor(1) as pool:
        holder.execute(change, {"id": contact_id})
        answer = pool.submit(outpost.send, contact_id, to="customer@example.org", **send)
        deadline = time.monotonic() + 30
        while not waiting_on_a_lock(url):
            assert not answer.done(), "the send answered without waiting for the row"
            assert time.monotonic() < deadline, "the send never waited for the row"
            time.sleep(0.05)
        yield holder, answer


@SEND_PATHS
def test_a_contact_ended_meanwhile_is_not_sent(
    server: ServerProcess, postgres_url: str, batched: bool
) -> None:
    client = server.client()
    outpost = make_outpost(client)
    contact_id = outpost.contact()
    ending = "UPDATE contacts SET state = 'ENDED' WHERE id = %(id)s"
    from_ = outpost.sent_from(batched)
    with send_while_held(postgres_url, outpost, contact_id, ending, **from_) as (holder, answer):
        holder.commit()
        with pytest.raises(ClientError) as refused:
            answer.result(timeout=30)
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidRequestException"
    assert "has ended" in error["Message"]
    with psycopg.connect(postgres_url) as check:
        row = check.execute("SELECT state FROM contacts WHERE id = %s", (contact_id,)).fetchone()
        messages = check.execute(
            "SELECT count(*) FROM messages WHERE contact_id = %s", (contact_id,)
        ).fetchone()
    assert row == ("ENDED",)
    assert messages == (0,)  # no message kept, so none can be delivered
    assert server.mailbox() == []


@SEND_PATHS
def test_a_change_rolled_back_meanwhile_leaves_the_send_to_go(
    server: ServerProcess, postgres_url: str, batched: bool
) -> None:
    outpost = make_outpost(server.client())
    contact_id = outpost.contact()
    ending = "UPDATE contacts SET state = 'ENDED' WHERE id = %(id)s"
    from_ = outpost.sent_from(batched)
    with send_while_held(postgres_url, outpost, contact_id, ending, **from_) as (holder, answer):
        holder.rollback()
        assert answer.result(timeout=30)["ContactId"] == contact_id
    assert [m["ContactId"] for m in server.wait_for_mail(1)] == [contact_id]


def test_a_held_contact_holds_up_its_own_send_only(
    server: ServerProcess, postgres_url: str
) -> None:
    """Sends of other contacts go on while one contact's row is held elsewhere: the held one
    waits on its own, not with the group it arrived in nor the groups after it (batched
    sends; the writer threads' sends never shared a group with it)."""
    outpost = make_outpost(server.client())
    held, free = outpost.contact(), outpost.contact()
    keeping = "SELECT id FROM contacts WHERE id = %(id)s FOR UPDATE"
    from_ = outpost.sent_from()
    with (
        send_while_held(postgres_url, outpost, held, keeping, **from_) as (holder, answer),
        ThreadPoolExecutor(1) as pool,
    ):
        other = pool.submit(outpost.send, free, to="other@example.org", **from_)
        try:
            sent = other.result(timeout=20)
            still_waiting = not answer.done()
        finally:
            holder.rollback()  # lets the held send go, whatever happened
        assert sent["ContactId"] == free
        assert still_waiting, "the held contact's send did not wait for its row"
        assert answer.result(timeout=30)["ContactId"] == held
    assert sorted(m["ContactId"] for m in server.wait_for_mail(2)) == sorted([held, free])
