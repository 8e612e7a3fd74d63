"""StartOutboundEmailContact end to end: boto3 in, real email out."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.connect import make_outpost
from tests.support.server import ServerProcess
from tests.support.smtp import SmtpSink


def parse(data: bytes | str) -> EmailMessage:
    raw = data.encode() if isinstance(data, str) else data
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def full_example(outpost: Any, contact_id: str) -> dict[str, Any]:
    """The documentation's request with every field filled in."""
    return {
        "InstanceId": outpost.instance_id,
        "ContactId": contact_id,
        "FromEmailAddress": {"EmailAddress": outpost.sender, "DisplayName": "Ünïcode Support"},
        "DestinationEmailAddress": {"EmailAddress": "jane@example.org", "DisplayName": "Doe, Jane"},
        "AdditionalRecipients": {
            "CcEmailAddresses": [
                {"EmailAddress": "boss@example.org", "DisplayName": "The Boss"},
                {"EmailAddress": "audit@example.org"},
            ]
        },
        "EmailMessage": {
            "MessageSourceType": "RAW",
            "RawMessage": {
                "Subject": "Your order — shipped ✓",
                "Body": "<h1>Shipped</h1><p>Your order <b>#42</b> is on its way.</p>",
                "ContentType": "text/html",
            },
        },
        "ClientToken": "full-example-token",
    }


def test_full_documented_request_arrives_at_relay(
    start_server: Any, relay: SmtpSink, database_url: str
) -> None:
    server = start_server("--relay", relay.url, "--database-url", database_url)
    client = server.client()
    outpost = make_outpost(client)
    contact_id = outpost.contact()

    answer = client.start_outbound_email_contact(**full_example(outpost, contact_id))
    assert answer["ContactId"] == contact_id

    (received,) = relay.wait_for(1)
    assert received.mail_from == outpost.sender
    assert received.recipients == ["jane@example.org", "boss@example.org", "audit@example.org"]
    message = parse(received.data)
    assert str(message["From"]) == f"Ünïcode Support <{outpost.sender}>"
    assert message["To"].addresses[0].display_name == "Doe, Jane"
    assert [a.addr_spec for a in message["Cc"].addresses] == [
        "boss@example.org",
        "audit@example.org",
    ]
    assert str(message["Subject"]) == "Your order — shipped ✓"
    assert message["Message-ID"].endswith(outpost.sender.split("@")[1] + ">")
    assert message["Date"] is not None and message["MIME-Version"] == "1.0"
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert "Your order #42 is on its way." in plain.get_content()
    assert (
        html.get_content().strip()
        == full_example(outpost, contact_id)["EmailMessage"]["RawMessage"]["Body"]
    )
    assert b"=?utf-8?" in received.data.split(b"\r\n\r\n", 1)[0]  # encoded, not raw UTF-8

    contact = client.describe_contact(InstanceId=outpost.instance_id, ContactId=contact_id)
    described = contact["Contact"]
    assert described["Channel"] == "EMAIL" and described["InitiationMethod"] == "OUTBOUND"
    assert described["CustomerEndpoint"] == {
        "Type": "EMAIL_ADDRESS",
        "Address": "jane@example.org",
        "DisplayName": "Doe, Jane",
    }
    assert described["SystemEndpoint"]["Address"] == outpost.sender
    assert described["AdditionalEmailRecipients"]["CcList"] == [
        {"Address": "boss@example.org", "DisplayName": "The Boss"},
        {"Address": "audit@example.org"},
    ]
    segment = described["SegmentAttributes"]
    assert segment["connect:EmailSubject"] == {"ValueString": "Your order — shipped ✓"}
    assert "DisconnectTimestamp" in described
    assert described["Arn"].startswith("arn:aws:connect:us-east-1:")


def test_capture_mode_keeps_the_message(start_server: Any) -> None:
    server: ServerProcess = start_server()
    client = server.client()
    outpost = make_outpost(client)
    contact_id = outpost.contact()
    client.start_outbound_email_contact(**full_example(outpost, contact_id))

    captured = _wait_for_mail(server, contact_id)
    assert captured["Recipients"] == ["jane@example.org", "boss@example.org", "audit@example.org"]
    assert captured["Subject"] == "Your order — shipped ✓"
    message = parse(captured["Raw"])
    assert message["Message-ID"] == captured["MessageId"]
    assert str(message["Subject"]) == "Your order — shipped ✓"


def _wait_for_mail(server: ServerProcess, contact_id: str, timeout: float = 10.0) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = server.mailbox(contact_id=contact_id)
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no captured mail for contact {contact_id}")
