"""StartOutboundEmailContact end to end: boto3 in, real email out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.connect import make_outpost, unique_address
from tests.support.mail import display_name
from tests.support.server import ServerProcess
from tests.support.smtp import Received, SmtpSink


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
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = server.mailbox(contact_id=contact_id)
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no captured mail for contact {contact_id}")


@pytest.fixture(scope="module")
def relayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, SmtpSink]]:
    """One SQLite server sending through one relay, for the cases below."""
    sink = SmtpSink().start()
    server = ServerProcess(tmp_path_factory.mktemp("relayed"), ["--relay", sink.url]).start()
    yield server, sink
    server.stop()
    sink.stop()


def arrived(sink: SmtpSink, contact_rcpt: str, timeout: float = 10.0) -> list[Received]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in sink.received if contact_rcpt in r.recipients]
        if found:
            return found
        time.sleep(0.05)
    return []


def test_plain_text_body_is_one_text_part(relayed: tuple[ServerProcess, SmtpSink]) -> None:
    server, sink = relayed
    outpost = make_outpost(server.client())
    to = unique_address("plain")
    body = "Grüße aus Köln\nline two " + "x" * 1200
    outpost.send(to=to, subject="Plain", body=body)
    (received,) = arrived(sink, to)
    message = parse(received.data)
    assert message.get_content_type() == "text/plain"
    assert message["Content-Transfer-Encoding"] == "quoted-printable"
    assert message.get_content().replace("\r\n", "\n").rstrip("\n") == body
    assert max(len(line) for line in received.data.split(b"\r\n")) <= 998


def test_long_ascii_line_with_form_feeds_is_encoded(
    relayed: tuple[ServerProcess, SmtpSink],
) -> None:
    """Form feeds and the other separators Python's `str.splitlines` splits at do not end a
    line on the wire: an ASCII body whose only separators they are is one long line, which a
    relay refuses (aiosmtpd: 500 Line too long) unless it goes quoted-printable."""
    server, sink = relayed
    outpost = make_outpost(server.client())
    to = unique_address("formfeed")
    body = ("a" * 500 + "\x0c" + "b" * 500 + "\x0b" + "c" * 500 + "\x1c") * 2
    outpost.send(to=to, subject="Form feeds", body=body)
    (received,) = arrived(sink, to)
    message = parse(received.data)
    assert message["Content-Transfer-Encoding"] == "quoted-printable"
    assert message.get_content().replace("\r\n", "\n").rstrip("\n") == body
    assert max(len(line) for line in received.data.split(b"\r\n")) <= 998


def test_display_name_defaults_to_the_addresses(relayed: tuple[ServerProcess, SmtpSink]) -> None:
    server, sink = relayed
    outpost = make_outpost(server.client(), display_name="Help Desk")
    to = unique_address("named")
    outpost.send(to=to, FromEmailAddress={"EmailAddress": outpost.sender})
    (received,) = arrived(sink, to)
    assert str(parse(received.data)["From"]) == f"Help Desk <{outpost.sender}>"


def test_without_from_the_first_address_is_used(relayed: tuple[ServerProcess, SmtpSink]) -> None:
    server, sink = relayed
    outpost = make_outpost(server.client())
    outpost.client.create_email_address(
        InstanceId=outpost.instance_id, EmailAddress=unique_address("second")
    )
    to = unique_address("default")
    outpost.send(to=to)
    (received,) = arrived(sink, to)
    assert received.mail_from == outpost.sender


def test_a_tagged_address_is_the_default(relayed: tuple[ServerProcess, SmtpSink]) -> None:
    server, sink = relayed
    outpost = make_outpost(server.client())
    tagged = unique_address("tagged")
    outpost.client.create_email_address(
        InstanceId=outpost.instance_id,
        EmailAddress=tagged,
        Tags={"connectmail:default-outbound": "true"},
    )
    to = unique_address("default")
    outpost.send(to=to)
    (received,) = arrived(sink, to)
    assert received.mail_from == tagged


def test_configured_default_from_address(start_server: Any, relay: SmtpSink) -> None:
    configured = unique_address("configured")
    server = start_server(
        "--relay", relay.url, env={"CONNECTMAIL_DEFAULT_FROM_ADDRESSES": f'["{configured}"]'}
    )
    outpost = make_outpost(server.client())
    outpost.client.create_email_address(InstanceId=outpost.instance_id, EmailAddress=configured)
    outpost.send()
    (received,) = relay.wait_for(1)
    assert received.mail_from == configured


def test_an_address_given_twice_is_one_recipient(shared_server: ServerProcess) -> None:
    """The relay got one RCPT each, but the captured mailbox listed the address twice."""
    outpost = make_outpost(shared_server.client())
    to, other = unique_address("twice"), unique_address("other")
    local, domain = to.split("@")
    cc = [{"EmailAddress": f"{local}@{domain.upper()}"}, {"EmailAddress": other}]
    cc += [{"EmailAddress": other}, {"EmailAddress": f"{local.upper()}@{domain}"}]
    outpost.send(to=to, AdditionalRecipients={"CcEmailAddresses": cc})
    deadline = time.monotonic() + 30
    while not (kept := shared_server.mailbox(to=to)) and time.monotonic() < deadline:
        time.sleep(0.05)
    (captured,) = kept
    # The local part's case may matter to a mailbox (RFC 5321 2.4): that one stays.
    assert captured["Recipients"] == [to, other, f"{local.upper()}@{domain}"]
    assert parse(captured["Raw"])["Cc"] == ", ".join(c["EmailAddress"] for c in cc)


def test_fifty_recipients_in_all(relayed: tuple[ServerProcess, SmtpSink]) -> None:
    server, sink = relayed
    outpost = make_outpost(server.client())
    to = unique_address("fifty")
    cc = [{"EmailAddress": f"cc{n}-{to}"} for n in range(49)]
    outpost.send(to=to, AdditionalRecipients={"CcEmailAddresses": cc})
    (received,) = arrived(sink, to)
    assert len(received.recipients) == 50

    with pytest.raises(ClientError) as exc:
        outpost.send(
            to=to,
            AdditionalRecipients={
                "CcEmailAddresses": [*cc, {"EmailAddress": "one-too-many@example.org"}]
            },
        )
    assert error_code(exc) == "ServiceQuotaExceededException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 402
    with pytest.raises(ClientError) as exc:  # past the model's own list limit
        outpost.send(to=to, AdditionalRecipients={"CcEmailAddresses": [*cc, *cc[:2]]})
    assert error_code(exc) == "InvalidRequestException"


REJECTED = [
    (
        {
            "EmailMessage": {
                "MessageSourceType": "RAW",
                "RawMessage": {"Subject": "x", "Body": "y", "ContentType": "text/markdown"},
            }
        },
        "InvalidRequestException",
    ),
    ({"EmailMessage": {"MessageSourceType": "RAW"}}, "InvalidRequestException"),
    ({"EmailMessage": {"MessageSourceType": "TEMPLATE"}}, "InvalidRequestException"),
    (
        {
            "EmailMessage": {
                "MessageSourceType": "RAW",
                "RawMessage": {
                    "Subject": "Hi\r\nBcc: victim@example.org",
                    "Body": "y",
                    "ContentType": "text/plain",
                },
            }
        },
        "InvalidRequestException",
    ),
    (
        {
            "DestinationEmailAddress": {
                "EmailAddress": "c@example.org",
                "DisplayName": "Eve\nBcc: victim@example.org",
            }
        },
        "InvalidRequestException",
    ),
    (
        {"DestinationEmailAddress": {"EmailAddress": "c@example.org>, victim@example.org"}},
        "InvalidRequestException",
    ),
    ({"FromEmailAddress": {"EmailAddress": "someone-else@example.com"}}, "InvalidRequestException"),
    ({"InstanceId": "no-such-instance"}, "ResourceNotFoundException"),
    ({"ContactId": "no-such-contact"}, "ResourceNotFoundException"),
]


@pytest.mark.parametrize(("change", "expected"), REJECTED)
def test_rejected_requests_change_nothing(
    relayed: tuple[ServerProcess, SmtpSink], change: dict[str, Any], expected: str
) -> None:
    server, sink = relayed
    outpost = make_outpost(server.client())
    contact_id = outpost.contact()
    to = unique_address("rejected")
    params = {
        "InstanceId": outpost.instance_id,
        "ContactId": contact_id,
        "DestinationEmailAddress": {"EmailAddress": to},
        "EmailMessage": {
            "MessageSourceType": "RAW",
            "RawMessage": {"Subject": "s", "Body": "b", "ContentType": "text/plain"},
        },
    }
    with pytest.raises(ClientError) as exc:
        outpost.client.start_outbound_email_contact(**{**params, **change})
    assert error_code(exc) == expected
    contact = outpost.client.describe_contact(InstanceId=outpost.instance_id, ContactId=contact_id)[
        "Contact"
    ]
    assert "DisconnectTimestamp" not in contact
    outpost.client.start_outbound_email_contact(**params)  # still sendable
    assert len(arrived(sink, to)) == 1


def test_instance_without_addresses_cannot_send(shared_server: ServerProcess) -> None:
    client = shared_server.client()
    instance = client.create_instance(
        IdentityManagementType="SAML",
        InstanceAlias="no-addr",
        InboundCallsEnabled=True,
        OutboundCallsEnabled=True,
    )
    contact = client.create_contact(
        InstanceId=instance["Id"], Channel="EMAIL", InitiationMethod="FLOW"
    )
    with pytest.raises(ClientError) as exc:
        client.start_outbound_email_contact(
            InstanceId=instance["Id"],
            ContactId=contact["ContactId"],
            DestinationEmailAddress={"EmailAddress": "c@example.org"},
            EmailMessage={
                "MessageSourceType": "RAW",
                "RawMessage": {"Subject": "s", "Body": "b", "ContentType": "text/plain"},
            },
        )
    assert error_code(exc) == "InvalidRequestException"
    assert "no email address" in exc.value.response["Error"]["Message"]


def test_encoded_words_cannot_add_headers(relayed: tuple[ServerProcess, SmtpSink]) -> None:
    server, sink = relayed
    outpost = make_outpost(server.client())
    to = unique_address("inject")
    sneaky = "=?utf-8?q?Hi=0D=0ABcc=3A_victim=40example.org?="
    sneaky_name = "=?utf-8?q?a=40b.com=3E=2C_victim=40example.org?="
    outpost.send(
        to=to,
        subject=sneaky,
        DestinationEmailAddress={"EmailAddress": to, "DisplayName": sneaky_name},
        FromEmailAddress={"EmailAddress": outpost.sender, "DisplayName": sneaky_name},
    )
    (received,) = arrived(sink, to)
    assert received.recipients == [to]
    message = parse(received.data)
    assert sorted(message.keys()) == sorted(
        [
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "MIME-Version",
            "Content-Type",
            "Content-Transfer-Encoding",
        ]
    )
    assert str(message["Subject"]) == sneaky
    assert [a.addr_spec for a in message["To"].addresses] == [to]
    assert display_name(received.data, "To") == sneaky_name
    assert display_name(received.data, "From") == sneaky_name
    assert b"victim" not in received.data.split(b"\r\n\r\n", 1)[0]


def test_client_token_replays_without_sending_again(
    relayed: tuple[ServerProcess, SmtpSink],
) -> None:
    server, sink = relayed
    outpost = make_outpost(server.client())
    contact_id = outpost.contact()
    to = unique_address("idem")
    params = {"to": to, "ClientToken": "send-once"}
    first = outpost.send(contact_id, **params)
    again = outpost.send(contact_id, **params)
    assert first["ContactId"] == again["ContactId"] == contact_id
    with pytest.raises(ClientError) as exc:
        outpost.send(contact_id, subject="Something else", **params)
    assert error_code(exc) == "IdempotencyException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    time.sleep(0.5)
    assert len(arrived(sink, to)) == 1
    with pytest.raises(ClientError) as exc:  # a new token: the contact is already sent
        outpost.send(contact_id, to=to, ClientToken="another")
    assert error_code(exc) == "InvalidRequestException"
