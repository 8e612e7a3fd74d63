"""Nothing accepted is lost: crashes, relays that are down or refuse, and retries."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from tests.support.connect import Outpost, make_outpost, unique_address
from tests.support.inbound import attach_file
from tests.support.server import ServerProcess
from tests.support.smtp import SmtpSink, free_port

FAST_RETRIES = {
    "CONNECTMAIL_RETRY_BASE_SECONDS": "0.2",
    "CONNECTMAIL_RETRY_MAX_SECONDS": "0.5",
    "CONNECTMAIL_DELIVERY_POLL_SECONDS": "0.2",
}


def delivery_status(outpost: Outpost, contact_id: str) -> dict[str, str]:
    contact = outpost.client.describe_contact(InstanceId=outpost.instance_id, ContactId=contact_id)[
        "Contact"
    ]
    return {
        key: value["ValueString"]
        for key, value in contact["SegmentAttributes"].items()
        if key.startswith("connectmail:")
    }


def wait_for_status(
    outpost: Outpost, contact_id: str, wanted: str, timeout: float = 15.0
) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    status: dict[str, str] = {}
    while time.monotonic() < deadline:
        status = delivery_status(outpost, contact_id)
        if status.get("connectmail:DeliveryStatus") == wanted:
            return status
        time.sleep(0.1)
    raise AssertionError(f"contact {contact_id} stayed {status}")


def test_kill_after_accept_delivers_exactly_the_accepted(
    start_server: Any, relay: SmtpSink, database_url: str
) -> None:
    server: ServerProcess = start_server(
        "--relay", relay.url, "--database-url", database_url, "--no-deliver"
    )
    outpost = make_outpost(server.client())
    accepted = []
    for n in range(20):
        contact_id = outpost.contact()
        outpost.send(contact_id, to=f"customer{n}@example.org", subject=f"message {n}")
        accepted.append(contact_id)
    server.kill()
    assert relay.received == []

    server.args = ["--relay", relay.url, "--database-url", database_url]
    server.start()
    received = relay.wait_for(20)
    time.sleep(0.5)  # anything extra would arrive now
    received = relay.received
    assert len(received) == 20
    assert len({r.message["Message-ID"] for r in received}) == 20
    assert sorted(str(r.message["Subject"]) for r in received) == sorted(
        f"message {n}" for n in range(20)
    )
    outpost.client = server.client()
    for contact_id in accepted:
        assert wait_for_status(outpost, contact_id, "DELIVERED")


def test_relay_down_then_up(start_server: Any) -> None:
    port = free_port()
    server = start_server("--relay", f"smtp://127.0.0.1:{port}?tls=none", env=FAST_RETRIES)
    outpost = make_outpost(server.client())
    contact_id = outpost.contact()
    outpost.send(contact_id, to="patient@example.org")
    time.sleep(1.0)
    status = delivery_status(outpost, contact_id)
    assert status["connectmail:DeliveryStatus"] == "PENDING"
    assert "relay unavailable" in status["connectmail:DeliveryError"]

    sink = SmtpSink(port=port).start()
    try:
        (received,) = sink.wait_for(1)
        assert received.recipients == ["patient@example.org"]
        wait_for_status(outpost, contact_id, "DELIVERED")
    finally:
        sink.stop()


def test_permanent_refusal_fails_only_that_recipient(start_server: Any) -> None:
    sink = SmtpSink(refuse={"gone@example.org": "550 5.1.1 No such user"}).start()
    try:
        server = start_server("--relay", sink.url, env=FAST_RETRIES)
        outpost = make_outpost(server.client())
        contact_id = outpost.contact()
        outpost.send(
            contact_id,
            to="here@example.org",
            AdditionalRecipients={"CcEmailAddresses": [{"EmailAddress": "gone@example.org"}]},
        )
        status = wait_for_status(outpost, contact_id, "PARTIALLY_DELIVERED")
        assert "gone@example.org: 550" in status["connectmail:DeliveryError"]
        assert [r.recipients for r in sink.received] == [["here@example.org"]]

        lost = outpost.contact()
        outpost.send(lost, to="gone@example.org")
        status = wait_for_status(outpost, lost, "FAILED")
        assert "No such user" in status["connectmail:DeliveryError"]

        # The envelope with no recipient left was reset: the next one goes through.
        after = outpost.contact()
        outpost.send(after, to="after@example.org")
        wait_for_status(outpost, after, "DELIVERED")
        assert [r.recipients for r in sink.received][-1] == ["after@example.org"]
    finally:
        sink.stop()


def test_relay_is_told_the_size_and_a_message_over_its_limit_fails(start_server: Any) -> None:
    sink = SmtpSink(size_limit=5_000).start()
    try:
        server = start_server("--relay", sink.url, env=FAST_RETRIES)
        outpost = make_outpost(server.client())
        small = outpost.contact()
        outpost.send(small, to="small@example.org")
        (received,) = sink.wait_for(1)
        assert received.mail_options == [f"SIZE={len(received.data)}"]
        wait_for_status(outpost, small, "DELIVERED")

        large = outpost.contact()
        outpost.send(large, to="large@example.org", body="x " * 5_000)
        status = wait_for_status(outpost, large, "FAILED")
        assert "552" in status["connectmail:DeliveryError"]
        assert len(sink.received) == 1
    finally:
        sink.stop()


def test_temporary_refusal_retries_only_that_recipient(start_server: Any) -> None:
    sink = SmtpSink(refuse={"busy@example.org": "451 4.3.0 Try again later"}).start()
    try:
        server = start_server("--relay", sink.url, env=FAST_RETRIES)
        outpost = make_outpost(server.client())
        contact_id = outpost.contact()
        to = unique_address("first")
        outpost.send(
            contact_id,
            to=to,
            AdditionalRecipients={"CcEmailAddresses": [{"EmailAddress": "busy@example.org"}]},
        )
        (first,) = sink.wait_for(1)
        assert first.recipients == [to]
        assert delivery_status(outpost, contact_id)["connectmail:DeliveryStatus"] == "PENDING"

        sink.handler.refuse.clear()
        received = sink.wait_for(2)
        assert received[1].recipients == ["busy@example.org"]
        assert received[1].message["Message-ID"] == first.message["Message-ID"]
        wait_for_status(outpost, contact_id, "DELIVERED")
        time.sleep(0.5)
        assert len(sink.received) == 2
    finally:
        sink.stop()


def test_relay_refusing_data_temporarily_is_retried(start_server: Any) -> None:
    sink = SmtpSink(data_reply="421 4.3.2 Service shutting down").start()
    try:
        server = start_server("--relay", sink.url, env=FAST_RETRIES)
        outpost = make_outpost(server.client())
        contact_id = outpost.contact()
        outpost.send(contact_id, to="later@example.org")
        time.sleep(0.8)
        assert delivery_status(outpost, contact_id)["connectmail:DeliveryStatus"] == "PENDING"
        sink.handler.data_reply = None
        (received,) = sink.wait_for(1)
        assert received.recipients == ["later@example.org"]
        wait_for_status(outpost, contact_id, "DELIVERED")
    finally:
        sink.stop()


def test_accepted_mail_survives_a_restart_in_capture_mode(start_server: Any) -> None:
    server: ServerProcess = start_server("--no-deliver")
    outpost = make_outpost(server.client())
    contact_id = outpost.contact()
    outpost.send(contact_id, to="kept@example.org")
    server.kill()
    server.args = []
    server.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not server.mailbox(contact_id=contact_id):
        time.sleep(0.05)
    (captured,) = server.mailbox(contact_id=contact_id)
    assert captured["Recipients"] == ["kept@example.org"]


def test_mail_goes_out_over_up_to_twenty_relay_connections_by_default(start_server: Any) -> None:
    """Mail accepted with delivery off, then all of it due at once: as many connections as
    the pool allows, each message holding its connection a while."""
    for setting, messages, wanted in ((None, 40, 20), ("3", 9, 3)):
        sink = SmtpSink(data_delay=0.3).start()
        server = start_server("--relay", sink.url, "--no-deliver")
        try:
            outpost = make_outpost(server.client())
            for _ in range(messages):
                outpost.send(outpost.contact(), to=unique_address())
            server.stop()
            server.args = ["--relay", sink.url]
            if setting is not None:
                server.env = {"CONNECTMAIL_RELAY_CONNECTIONS": setting}
            server.start()
            received = sink.wait_for(messages)
            assert len(received) == messages
            assert len({r.peer for r in received}) == wanted
        finally:
            server.stop()
            sink.stop()


def test_a_relay_that_takes_fewer_connections_gets_the_mail_over_those(
    start_server: Any, tmp_path: Path
) -> None:
    """A relay that turns away a fourth connection (421 at the greeting, as Postfix does):
    the mail goes out over the three it took, each message at its first attempt, instead of
    the turned-away ones waiting out a retry."""
    sink = SmtpSink(data_delay=0.3, max_connections=3).start()
    url = f"sqlite:///{tmp_path / 'relay-cap.db'}"
    server = start_server("--database-url", url, "--no-deliver")
    try:
        outpost = make_outpost(server.client())
        contact_ids = [outpost.contact() for _ in range(12)]
        for contact_id in contact_ids:
            outpost.send(contact_id, to=unique_address())
        server.stop()
        server.args = ["--database-url", url, "--relay", sink.url]
        server.start()
        received = sink.wait_for(12)
        assert len(received) == 12
        assert len({r.peer for r in received}) == 3
        assert sink.handler.turned_away > 0  # the default pool of 20 did meet the cap
        outpost.client = server.client()  # the restarted server's port
        for contact_id in contact_ids:
            wait_for_status(outpost, contact_id, "DELIVERED")
    finally:
        server.stop()
        sink.stop()
    with sqlite3.connect(tmp_path / "relay-cap.db") as database:
        attempts = [row[0] for row in database.execute("SELECT attempts FROM messages")]
    assert attempts == [1] * 12


def test_a_message_that_cannot_be_composed_fails_at_once_and_the_others_go(
    start_server: Any,
) -> None:
    """A stored message that cannot be composed fails at its first attempt, with the reason:
    it would fail on every attempt. Here one lost a part of its row, and another the bytes
    of the file it attaches, as a damaged database or another version's rows would have
    them (the API refuses to delete a file that went out). The mail around them goes out."""
    sink = SmtpSink().start()
    try:
        server: ServerProcess = start_server("--no-deliver")
        outpost = make_outpost(server.client())
        broken, fine = outpost.contact(), outpost.contact()
        outpost.send(broken, to="broken@example.org")
        outpost.send(fine, to="fine@example.org")
        created = outpost.client.create_contact(
            InstanceId=outpost.instance_id,
            Channel="EMAIL",
            InitiationMethod="OUTBOUND",
            UserInfo={"UserId": "agent-1"},
        )
        unattached = created["ContactId"]
        file_id = attach_file(
            outpost.client, outpost.instance_id, created["ContactArn"], "a.txt", b"hello"
        )
        outpost.send(unattached, to="unattached@example.org")
        server.stop()
        database = server.data_dir / "connectmail.db"
        with sqlite3.connect(database) as db:
            (text,) = db.execute(
                "SELECT spec FROM messages WHERE contact_id = ?", (broken,)
            ).fetchone()
            spec = json.loads(text)
            del spec["date"]
            db.execute(
                "UPDATE messages SET spec = ? WHERE contact_id = ?", (json.dumps(spec), broken)
            )
            db.execute("DELETE FROM file_contents WHERE file_id = ?", (file_id,))
        server.args = ["--relay", sink.url]
        server.env = FAST_RETRIES  # a retry would come within a second
        server.start()
        outpost.client = server.client()
        status = wait_for_status(outpost, broken, "FAILED")
        assert (
            "broken@example.org: cannot be composed: KeyError"
            in status["connectmail:DeliveryError"]
        )
        status = wait_for_status(outpost, unattached, "FAILED")
        assert (
            f"unattached@example.org: cannot be composed: attachment bytes missing for {file_id}"
            == status["connectmail:DeliveryError"]
        )
        wait_for_status(outpost, fine, "DELIVERED")
        time.sleep(1.5)
        assert [r.recipients for r in sink.received] == [["fine@example.org"]]
        with sqlite3.connect(database) as db:
            attempts = db.execute(
                "SELECT attempts FROM messages WHERE contact_id IN (?, ?)", (broken, unattached)
            ).fetchall()
            queued = db.execute("SELECT count(*) FROM outbox").fetchone()
        assert (attempts, queued) == ([(1,), (1,)], (0,))
    finally:
        sink.stop()
