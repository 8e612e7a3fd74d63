"""The whole email loop: a customer writes, an agent replies, the customer answers, in one thread.

Real SMTP both ways (aiosmtplib into our inbound port, our relay delivery into an aiosmtpd sink),
boto3 for everything an agent's program does, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest

from tests.conftest import BACKENDS
from tests.support.connect import Outpost, make_outpost
from tests.support.databases import database
from tests.support.inbound import (
    attach_file,
    customer_email,
    deliver,
    file_bytes,
    references,
    smtp_port,
)
from tests.support.server import ServerProcess
from tests.support.smtp import SmtpSink


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    relay = SmtpSink().start()
    yield relay
    relay.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sink: SmtpSink
) -> Iterator[ServerProcess]:
    directory = tmp_path_factory.mktemp("thread")
    with database(str(request.param), directory) as url:
        started = ServerProcess(
            directory, ["--database-url", url, "--relay", sink.url, "--smtp-port", "0"]
        ).start()
        yield started
        started.stop()


def parse(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def newest_inbound(client: Any, outpost: Outpost, after: datetime) -> dict[str, Any]:
    found = client.search_contacts(
        InstanceId=outpost.instance_id,
        TimeRange={
            "Type": "INITIATION_TIMESTAMP",
            "StartTime": after,
            "EndTime": datetime.now(UTC) + timedelta(minutes=1),
        },
        SearchCriteria={"Channels": ["EMAIL"], "InitiationMethods": ["INBOUND"]},
        Sort={"FieldName": "INITIATION_TIMESTAMP", "Order": "DESCENDING"},
    )
    assert found["Contacts"], "no inbound contact found"
    return dict(found["Contacts"][0])


def reply(outpost: Outpost, related_id: str) -> tuple[str, str]:
    client = outpost.client
    created = client.create_contact(
        InstanceId=outpost.instance_id,
        Channel="EMAIL",
        InitiationMethod="AGENT_REPLY",
        RelatedContactId=related_id,
        UserInfo={"UserId": "agent-7"},
    )
    return created["ContactId"], created["ContactArn"]


def send_reply(outpost: Outpost, contact_id: str, subject: str, body: str) -> None:
    outpost.client.start_outbound_email_contact(
        InstanceId=outpost.instance_id,
        ContactId=contact_id,
        FromEmailAddress={"EmailAddress": outpost.sender},
        DestinationEmailAddress={"EmailAddress": "jane@example.org", "DisplayName": "Jane Doe"},
        EmailMessage={
            "MessageSourceType": "RAW",
            "RawMessage": {"Subject": subject, "Body": body, "ContentType": "text/plain"},
        },
    )


def wait_for_mail(sink: SmtpSink, subject_marker: str) -> bytes:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for received in sink.received:
            if subject_marker.encode() in received.data:
                return received.data
        time.sleep(0.05)
    raise AssertionError(f"nothing with {subject_marker!r} reached the relay")


def test_customer_agent_customer_thread(server: ServerProcess, sink: SmtpSink) -> None:
    client = server.client()
    outpost = make_outpost(client)
    started = datetime.now(UTC) - timedelta(seconds=1)
    marker = os.urandom(4).hex()
    invoice = os.urandom(50_000) + b"%%EOF"

    # 1. The customer writes, with a PDF attached.
    first = customer_email(outpost.sender, f"Help with order {marker}", "My order is late.")
    first.add_attachment(invoice, maintype="application", subtype="pdf", filename="invoice.pdf")
    first_bytes = first.as_bytes(policy=policy.SMTP)
    answer = deliver(server, first_bytes, recipients=[outpost.sender])
    assert answer.rcpt == [(250, "2.1.5 OK")]
    assert answer.data is not None and answer.data[0] == 250

    # 2. A program finds the new contact and reads the email the Amazon Connect way.
    summary = newest_inbound(client, outpost, started)
    inbound_id = summary["Id"]
    assert summary["Channel"] == "EMAIL" and summary["InitiationMethod"] == "INBOUND"
    contact = client.describe_contact(InstanceId=outpost.instance_id, ContactId=inbound_id)[
        "Contact"
    ]
    assert contact["CustomerEndpoint"] == {
        "Type": "EMAIL_ADDRESS",
        "Address": "jane@example.org",
        "DisplayName": "Jane Doe",
    }
    assert contact["SystemEndpoint"]["Address"] == outpost.sender
    assert contact["SegmentAttributes"]["connect:EmailSubject"] == {
        "ValueString": f"Help with order {marker}"
    }
    assert "RelatedContactId" not in contact
    refs = references(client, outpost.instance_id, inbound_id)
    kinds = [next(iter(r)) for r in refs]
    assert kinds == ["EmailMessage", "EmailMessagePlainText", "Attachment"]
    raw = file_bytes(client, outpost.instance_id, contact["Arn"], refs[0]["EmailMessage"]["Arn"])
    assert raw == first_bytes
    text = file_bytes(
        client, outpost.instance_id, contact["Arn"], refs[1]["EmailMessagePlainText"]["Arn"]
    )
    assert text.decode().strip() == "My order is late."
    attachment = refs[2]["Attachment"]
    assert attachment["Name"] == "invoice.pdf" and attachment["Status"] == "APPROVED"
    assert file_bytes(client, outpost.instance_id, contact["Arn"], attachment["Arn"]) == invoice

    # 3. An agent replies, with a file of their own; the reply threads under the email.
    reply_id, reply_arn = reply(outpost, inbound_id)
    label = b"Label for order " + marker.encode() + os.urandom(2000)
    attach_file(client, outpost.instance_id, reply_arn, "label.png", label)
    send_reply(outpost, reply_id, f"Re: Help with order {marker}", "It ships today.")
    sent = wait_for_mail(sink, f"Subject: Re: Help with order {marker}")
    message = parse(sent)
    assert message["Subject"] == f"Re: Help with order {marker}"
    assert message["In-Reply-To"] == first["Message-ID"]
    assert message["References"].split() == [first["Message-ID"]]
    (part,) = message.iter_attachments()
    assert part.get_filename() == "label.png" and part.get_content_type() == "image/png"
    assert part.get_payload(decode=True) == label
    reply_contact = client.describe_contact(InstanceId=outpost.instance_id, ContactId=reply_id)[
        "Contact"
    ]
    assert reply_contact["RelatedContactId"] == inbound_id
    assert reply_contact["InitialContactId"] == inbound_id
    reply_refs = references(client, outpost.instance_id, reply_id)
    assert [next(iter(r)) for r in reply_refs] == [
        "Attachment",
        "EmailMessage",
        "EmailMessagePlainText",
    ]
    assert (
        file_bytes(client, outpost.instance_id, reply_arn, reply_refs[1]["EmailMessage"]["Arn"])
        == sent
    )

    # 4. The customer answers the reply: the new contact is linked to the agent's reply.
    second = customer_email(
        outpost.sender,
        f"Re: Help with order {marker}",
        "Thanks!",
        In_Reply_To=message["Message-ID"],
        References=f"{first['Message-ID']} {message['Message-ID']}",
    )
    assert deliver(server, second, recipients=[outpost.sender]).accepted
    answer_contact = newest_inbound(client, outpost, started)
    assert answer_contact["Id"] != inbound_id
    described = client.describe_contact(
        InstanceId=outpost.instance_id, ContactId=answer_contact["Id"]
    )["Contact"]
    assert described["RelatedContactId"] == reply_id
    assert described["InitialContactId"] == inbound_id

    # 5. The agent answers again: the whole chain is in References, still one "Re: ".
    second_reply_id, _ = reply(outpost, answer_contact["Id"])
    send_reply(outpost, second_reply_id, f"Re: Re: Help with order {marker}", f"Welcome {marker}")
    final = parse(wait_for_mail(sink, f"Welcome {marker}"))
    assert final["Subject"] == f"Re: Help with order {marker}"
    assert final["In-Reply-To"] == second["Message-ID"]
    assert final["References"].split() == [
        first["Message-ID"],
        message["Message-ID"],
        second["Message-ID"],
    ]


def test_the_default_size_limit_is_10_mib(server: ServerProcess) -> None:
    async def size() -> str:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_port(server), start_tls=False)
        await client.connect()
        await client.ehlo()
        found = client.esmtp_extensions["size"]
        await client.quit()
        return found

    assert asyncio.run(size()) == str(10 * 1024 * 1024)
