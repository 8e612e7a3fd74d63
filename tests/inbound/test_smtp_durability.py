"""Nothing received is lost: a 250 means the contact exists, anything short of it means retry."""

from __future__ import annotations

import asyncio
import random
import threading
import uuid
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from tests.support.connect import Outpost, make_outpost
from tests.support.inbound import deliver, received_search, smtp_port
from tests.support.proxy import postgres_behind_proxy
from tests.support.server import ServerProcess

FAST = {"CONNECTMAIL_DATABASE_OUTAGE_SECONDS": "1"}


def email(to: str, subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "customer@example.org"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4()}@example.org>"
    message.set_content("Hello")
    return message


def subjects(outpost: Outpost) -> list[str]:
    paginator = outpost.client.get_paginator("search_contacts")
    found = []
    for page in paginator.paginate(**received_search(outpost.instance_id)):
        found += [
            c["SegmentAttributes"]["connect:EmailSubject"]["ValueString"] for c in page["Contacts"]
        ]
    return found


def test_a_database_outage_during_data_answers_451_and_the_retry_lands(start_server: Any) -> None:
    with postgres_behind_proxy() as (proxied, proxy):
        try:
            server = start_server("--database-url", proxied, "--smtp-port", "0", env=FAST)
            outpost = make_outpost(server.client())
            data = email(outpost.sender, "during an outage").as_bytes()

            async def send_while_the_database_goes() -> tuple[int, str]:
                client = aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_port(server))
                await client.connect()
                await client.ehlo()
                await client.mail("customer@example.org")
                await client.rcpt(outpost.sender)  # the database still answers here
                proxy.cut()
                try:
                    answer = await client.data(data)
                    return answer.code, answer.message
                except aiosmtplib.SMTPDataError as refused:
                    return refused.code, refused.message
                finally:
                    client.close()

            code, message = asyncio.run(send_while_the_database_goes())
            assert code == 451, message
            proxy.restore()
            assert deliver(server, data, recipients=[outpost.sender]).accepted
            assert subjects(outpost) == ["during an outage"]
        finally:
            server.stop()


def test_kill_9_loses_no_accepted_message(database_url: str, start_server: Any) -> None:
    rng = random.Random(20261129)
    server: ServerProcess = start_server(
        "--database-url", database_url, "--smtp-port", "0", env=FAST
    )
    outpost = make_outpost(server.client())
    accepted: list[str] = []
    tried = 0
    for _ in range(3):
        stop = threading.Event()

        def send_until_stopped(stop: threading.Event = stop) -> None:
            nonlocal tried
            while not stop.is_set():
                subject = f"kill-{uuid.uuid4().hex[:12]}"
                tried += 1
                try:
                    answer = deliver(
                        server, email(outpost.sender, subject), recipients=[outpost.sender]
                    )
                except (OSError, aiosmtplib.SMTPException):
                    continue
                if answer.accepted:
                    accepted.append(subject)

        sender = threading.Thread(target=send_until_stopped)
        sender.start()
        stop.wait(rng.uniform(0.3, 0.8))
        server.kill()
        stop.set()
        sender.join()
        server.start()
        outpost.client = server.client()  # the restarted server listens on a new port
    found = subjects(outpost)
    assert accepted and tried > len(accepted) / 2
    assert set(accepted) <= set(found)  # every 250 has its contact
    assert len(found) == len(set(found))  # and no message made two
