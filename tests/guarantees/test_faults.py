"""Faults on purpose: slow and failing relays, a locked or vanished database, kill -9 loops.

Accepted mail is delivered at least once per recipient, recognisable by its Message-ID, and
nothing accepted is lost.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections import Counter
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tests.support import figures
from tests.support.connect import Outpost, make_outpost, unique_address
from tests.support.proxy import postgres_behind_proxy
from tests.support.server import ServerProcess
from tests.support.smtp import SmtpSink, free_port

FAST = {
    "CONNECTMAIL_RETRY_BASE_SECONDS": "0.2",
    "CONNECTMAIL_RETRY_MAX_SECONDS": "0.5",
    "CONNECTMAIL_DELIVERY_POLL_SECONDS": "0.2",
    "CONNECTMAIL_DELIVERY_LEASE_SECONDS": "3",
}


def status(outpost: Outpost, contact_id: str) -> dict[str, str]:
    contact = outpost.client.describe_contact(InstanceId=outpost.instance_id, ContactId=contact_id)[
        "Contact"
    ]
    return {
        k: v["ValueString"]
        for k, v in contact["SegmentAttributes"].items()
        if k.startswith("connectmail:")
    }


def eventually(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def delivered_to(sink: SmtpSink, address: str) -> list[str]:
    """Message-IDs of the copies that reached `address`."""
    return [str(r.message["Message-ID"]) for r in sink.received if address in r.recipients]


def test_slow_relay_times_out_then_delivers(start_server: Any) -> None:
    sink = SmtpSink(data_delay=3.0).start()
    try:
        server = start_server(
            "--relay", sink.url, env={**FAST, "CONNECTMAIL_RELAY_TIMEOUT_SECONDS": "1"}
        )
        outpost = make_outpost(server.client())
        contact_id = outpost.contact()
        to = unique_address("slow")
        outpost.send(contact_id, to=to)
        assert eventually(
            lambda: (
                "timed out"
                in status(outpost, contact_id).get("connectmail:DeliveryError", "").lower()
                or "timeout"
                in status(outpost, contact_id).get("connectmail:DeliveryError", "").lower()
            ),
            10,
        )
        sink.handler.data_delay = 0
        assert eventually(
            lambda: status(outpost, contact_id)["connectmail:DeliveryStatus"] == "DELIVERED"
        )
        copies = delivered_to(sink, to)
        assert copies and len(set(copies)) == 1  # at least once, always the same Message-ID
        figures.record(
            "slow relay", faults_injected=1, copies_received=len(copies), messages_lost=0
        )
    finally:
        sink.stop()


@pytest.mark.parametrize(
    ("fault", "where"),
    [
        ("452 4.5.3 Too many recipients", "rcpt"),
        ("451 4.3.0 Local error in processing", "data"),
        ("421 4.7.0 Try again later, closing connection", "data"),
    ],
)
def test_temporary_relay_failures_are_retried(start_server: Any, fault: str, where: str) -> None:
    to = unique_address("temp")
    options: dict[str, Any] = {"refuse": {to: fault}} if where == "rcpt" else {"data_reply": fault}
    sink = SmtpSink(**options).start()
    try:
        server = start_server("--relay", sink.url, env=FAST)
        outpost = make_outpost(server.client())
        contact_id = outpost.contact()
        outpost.send(contact_id, to=to)
        assert eventually(
            lambda: (
                fault.split()[0] in status(outpost, contact_id).get("connectmail:DeliveryError", "")
            ),
            10,
        )
        sink.handler.refuse.clear()
        sink.handler.data_reply = None
        assert eventually(
            lambda: status(outpost, contact_id)["connectmail:DeliveryStatus"] == "DELIVERED"
        )
        assert len(set(delivered_to(sink, to))) == 1
    finally:
        sink.stop()


def test_give_up_after_the_configured_age(start_server: Any) -> None:
    server = start_server(
        "--relay",
        f"smtp://127.0.0.1:{free_port()}?tls=none",
        env={**FAST, "CONNECTMAIL_GIVE_UP_AFTER_SECONDS": "1"},
    )
    outpost = make_outpost(server.client())
    contact_id = outpost.contact()
    outpost.send(contact_id)
    assert eventually(lambda: status(outpost, contact_id)["connectmail:DeliveryStatus"] == "FAILED")
    assert "gave up" in status(outpost, contact_id)["connectmail:DeliveryError"]


def test_sqlite_locked_for_seconds(start_server: Any, relay: SmtpSink) -> None:
    server: ServerProcess = start_server("--relay", relay.url, env=FAST)
    outpost = make_outpost(server.client())
    contacts = [outpost.contact() for _ in range(5)]
    locker = sqlite3.connect(
        server.data_dir / "connectmail.db", isolation_level=None, check_same_thread=False
    )
    locker.execute("BEGIN EXCLUSIVE")
    released = threading.Timer(3.0, lambda: locker.execute("COMMIT"))
    released.start()
    started = time.monotonic()
    addresses = [unique_address("locked") for _ in contacts]
    for contact_id, to in zip(contacts, addresses, strict=True):
        outpost.send(contact_id, to=to)
    assert time.monotonic() - started >= 2.5  # the first request waited for the lock
    released.join()
    locker.close()
    assert eventually(lambda: all(delivered_to(relay, to) for to in addresses))
    assert all(len(set(delivered_to(relay, to))) == 1 for to in addresses)
    figures.record("sqlite locked 3s", calls_tried=5, faults_injected=1, messages_lost=0)


def test_postgres_gone_for_seconds(start_server: Any, relay: SmtpSink) -> None:
    with postgres_behind_proxy() as (proxied, proxy):
        try:
            server = start_server("--relay", relay.url, "--database-url", proxied, env=FAST)
            outpost = make_outpost(server.client())
            contacts = [outpost.contact() for _ in range(6)]
            addresses = [unique_address("pg") for _ in contacts]
            outpost.send(contacts[0], to=addresses[0])
            proxy.cut()
            threading.Timer(3.0, proxy.restore).start()
            for contact_id, to in zip(contacts[1:], addresses[1:], strict=True):
                outpost.send(contact_id, to=to)  # waits out the outage, then succeeds
            assert eventually(lambda: all(delivered_to(relay, to) for to in addresses))
            assert all(len(set(delivered_to(relay, to))) == 1 for to in addresses)
            figures.record("postgresql gone 3s", calls_tried=6, faults_injected=1, messages_lost=0)
        finally:
            server.stop()


def test_kill_loops_lose_nothing(database_url: str, relay: SmtpSink, start_server: Any) -> None:
    rounds, rng = 5, random.Random(20261129)
    accepted: dict[str, str] = {}  # recipient -> contact id, for every 200 the client saw
    tried = 0
    server: ServerProcess = start_server(
        "--relay", relay.url, "--database-url", database_url, env=FAST
    )
    outpost = make_outpost(server.client())
    for _ in range(rounds):
        stop = threading.Event()

        def send_until_stopped(client: Any, stop: threading.Event = stop) -> None:
            nonlocal tried
            while not stop.is_set():
                to = unique_address("kill")
                tried += 1
                try:
                    contact = client.create_contact(
                        InstanceId=outpost.instance_id, Channel="EMAIL", InitiationMethod="FLOW"
                    )
                    if "ContactId" not in contact:
                        continue  # the answer was cut off by the kill: as good as no answer
                    client.start_outbound_email_contact(
                        InstanceId=outpost.instance_id,
                        ContactId=contact["ContactId"],
                        DestinationEmailAddress={"EmailAddress": to},
                        EmailMessage={
                            "MessageSourceType": "RAW",
                            "RawMessage": {
                                "Subject": "kill loop",
                                "Body": to,
                                "ContentType": "text/plain",
                            },
                        },
                    )
                except (ClientError, BotoCoreError):
                    continue  # the server died mid-call: not accepted, as far as we know
                accepted[to] = contact["ContactId"]

        client = server.client(
            config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5)
        )
        senders = [threading.Thread(target=send_until_stopped, args=(client,)) for _ in range(3)]
        for sender in senders:
            sender.start()
        time.sleep(rng.uniform(0.3, 1.5))
        server.kill()
        stop.set()
        for sender in senders:
            sender.join()
        server.start()
    assert accepted
    arrived = eventually(lambda: all(delivered_to(relay, to) for to in accepted), 60)
    lost = [to for to in accepted if not delivered_to(relay, to)]
    copies = Counter(str(r.message["Message-ID"]) for r in relay.received)
    figures.record(
        f"kill -9 loop ({database_url.split(':')[0]})",
        calls_tried=tried,
        accepted=len(accepted),
        faults_injected=rounds,
        duplicates=sum(n - 1 for n in copies.values()),
        messages_lost=len(lost),
    )
    assert arrived and lost == []
    for to in accepted:
        assert len(set(delivered_to(relay, to))) == 1
