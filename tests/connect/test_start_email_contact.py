"""StartEmailContact: an inbound email contact made through the API, as SES would make it."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.connect import Outpost, make_outpost
from tests.support.inbound import attach_file, file_bytes, references
from tests.support.server import ServerProcess


@pytest.fixture
def outpost(shared_server: ServerProcess) -> Outpost:
    return make_outpost(shared_server.client())


def request(outpost: Outpost, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "InstanceId": outpost.instance_id,
        "FromEmailAddress": {"EmailAddress": "jane@example.org", "DisplayName": "Jane Doe"},
        "DestinationEmailAddress": outpost.sender,
        "EmailMessage": {
            "MessageSourceType": "RAW",
            "RawMessage": {"Subject": "Question", "Body": "Hello?", "ContentType": "text/plain"},
        },
    }
    params.update(extra)
    return params


def describe(outpost: Outpost, contact_id: str) -> dict[str, Any]:
    found: dict[str, Any] = outpost.client.describe_contact(
        InstanceId=outpost.instance_id, ContactId=contact_id
    )["Contact"]
    return found


def raw_message(outpost: Outpost, contact: dict[str, Any]) -> EmailMessage:
    (reference,) = references(outpost.client, outpost.instance_id, contact["Id"], "EMAIL_MESSAGE")
    data = file_bytes(
        outpost.client, outpost.instance_id, contact["Arn"], reference["EmailMessage"]["Arn"]
    )
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def code(raised: pytest.ExceptionInfo[ClientError]) -> str:
    return str(raised.value.response["Error"]["Code"])


def test_every_documented_field(outpost: Outpost) -> None:
    params = request(
        outpost,
        Name="Order question",
        Description="From the web form",
        References={"ticket": {"Type": "URL", "Value": "https://example.org/t/1"}},
        Attributes={"tier": "gold"},
        SegmentAttributes={"connect:Subtype": {"ValueString": "connect:Guide"}},
        AdditionalRecipients={
            "ToAddresses": [{"EmailAddress": "sales@example.org", "DisplayName": "Sales"}],
            "CcAddresses": [{"EmailAddress": "boss@example.org"}],
        },
        EmailMessage={
            "MessageSourceType": "RAW",
            "RawMessage": {
                "Subject": "Où est ma commande ?",
                "Body": "<p>Where is <b>order 42</b>?</p>",
                "ContentType": "text/html",
                "Headers": {
                    "MESSAGE_ID": "<abc-123@mail.example.org>",
                    "X_SES_SPAM_VERDICT": "PASS",
                },
            },
        },
        ContactFlowId="flow-1",
        ClientToken="start-email-1",
    )
    contact_id = outpost.client.start_email_contact(**params)["ContactId"]
    assert outpost.client.start_email_contact(**params)["ContactId"] == contact_id  # idempotent

    contact = describe(outpost, contact_id)
    assert contact["Channel"] == "EMAIL" and contact["InitiationMethod"] == "INBOUND"
    assert contact["Name"] == "Order question" and contact["Description"] == "From the web form"
    assert contact["Attributes"] == {"tier": "gold"}
    assert contact["CustomerEndpoint"] == {
        "Type": "EMAIL_ADDRESS",
        "Address": "jane@example.org",
        "DisplayName": "Jane Doe",
    }
    assert contact["SystemEndpoint"] == {
        "Type": "EMAIL_ADDRESS",
        "Address": outpost.sender,
        "DisplayName": "Example Support",
    }
    assert contact["AdditionalEmailRecipients"] == {
        "ToList": [{"Address": "sales@example.org", "DisplayName": "Sales"}],
        "CcList": [{"Address": "boss@example.org"}],
    }
    assert contact["SegmentAttributes"]["connect:EmailSubject"] == {
        "ValueString": "Où est ma commande ?"
    }
    assert contact["SegmentAttributes"]["connect:Subtype"] == {"ValueString": "connect:Guide"}
    assert "DisconnectTimestamp" not in contact  # waiting for an agent

    found = references(outpost.client, outpost.instance_id, contact_id, "URL", "EMAIL_MESSAGE")
    assert found[0] == {"Url": {"Name": "ticket", "Value": "https://example.org/t/1"}}
    message = raw_message(outpost, contact)
    assert message["Message-ID"] == "<abc-123@mail.example.org>"
    assert message["Subject"] == "Où est ma commande ?"
    assert message["X-SES-Spam-Verdict"] == "PASS"
    assert [a.addr_spec for a in message["To"].addresses] == [outpost.sender, "sales@example.org"]
    html = message.get_body(("html",))
    assert html is not None
    assert html.get_content().strip() == "<p>Where is <b>order 42</b>?</p>"
    (text,) = references(
        outpost.client, outpost.instance_id, contact_id, "EMAIL_MESSAGE_PLAIN_TEXT"
    )
    plain = file_bytes(
        outpost.client,
        outpost.instance_id,
        contact["Arn"],
        text["EmailMessagePlainText"]["Arn"],
    )
    assert plain.decode().strip() == "Where is order 42?"


def test_threads_by_headers_to_the_email_it_answers(
    outpost: Outpost, shared_server: ServerProcess
) -> None:
    sent = outpost.contact(Attributes={"case": "77"})
    outpost.send(sent, subject="Your order")
    captured = _wait_for_mail(shared_server, sent)
    answer = outpost.client.start_email_contact(
        **request(
            outpost,
            EmailMessage={
                "MessageSourceType": "RAW",
                "RawMessage": {
                    "Subject": "Re: Your order",
                    "Body": "Thanks",
                    "ContentType": "text/plain",
                    "Headers": {
                        "IN_REPLY_TO": captured["MessageId"],
                        "REFERENCES": captured["MessageId"],
                    },
                },
            },
        )
    )["ContactId"]
    contact = describe(outpost, answer)
    assert contact["RelatedContactId"] == sent
    assert contact["Attributes"] == {"case": "77"}  # taken over from the related contact
    assert raw_message(outpost, contact)["In-Reply-To"] == captured["MessageId"]


def test_related_contact_attributes_are_copied_then_overridden(outpost: Outpost) -> None:
    first = outpost.client.start_email_contact(
        **request(outpost, Attributes={"tier": "gold", "lang": "fr"})
    )["ContactId"]
    second = outpost.client.start_email_contact(
        **request(outpost, RelatedContactId=first, Attributes={"lang": "de"})
    )["ContactId"]
    contact = describe(outpost, second)
    assert contact["RelatedContactId"] == first and contact["InitialContactId"] == first
    assert contact["Attributes"] == {"tier": "gold", "lang": "de"}


def test_attachments_from_our_own_file_urls(outpost: Outpost) -> None:
    _, draft_arn = _draft(outpost)
    data = b"%PDF-1.7 " + bytes(range(256)) * 40
    file_id = attach_file(outpost.client, outpost.instance_id, draft_arn, "form.pdf", data)
    url = outpost.client.get_attached_file(
        InstanceId=outpost.instance_id, FileId=file_id, AssociatedResourceArn=draft_arn
    )["DownloadUrlMetadata"]["Url"]
    contact_id = outpost.client.start_email_contact(
        **request(outpost, Attachments=[{"FileName": "signed form.pdf", "S3Url": url}])
    )["ContactId"]
    contact = describe(outpost, contact_id)
    (reference,) = references(outpost.client, outpost.instance_id, contact_id, "ATTACHMENT")
    assert reference["Attachment"]["Name"] == "signed form.pdf"
    assert reference["Attachment"]["Status"] == "APPROVED"
    arn = reference["Attachment"]["Arn"]
    assert file_bytes(outpost.client, outpost.instance_id, contact["Arn"], arn) == data


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"DestinationEmailAddress": "someone-else@example.com"}, "InvalidRequestException"),
        ({"RelatedContactId": "00000000-0000-0000-0000-000000000000"}, "ResourceNotFoundException"),
        ({"References": {"mail": {"Type": "EMAIL", "Value": "a@b.co"}}}, "InvalidRequestException"),
        ({"Attributes": {"bad key!": "x"}}, "InvalidRequestException"),
        (
            {"Attachments": [{"FileName": "run.exe", "S3Url": "https://example.org/run.exe"}]},
            "InvalidRequestException",
        ),
        (
            {"Attachments": [{"FileName": "a.pdf", "S3Url": "http://169.254.169.254/latest"}]},
            "InvalidRequestException",
        ),
        (
            {
                "AdditionalRecipients": {
                    "ToAddresses": [{"EmailAddress": f"to{n}@example.org"} for n in range(25)],
                    "CcAddresses": [{"EmailAddress": f"cc{n}@example.org"} for n in range(25)],
                }
            },
            "ServiceQuotaExceededException",
        ),
        ({"FromEmailAddress": {"EmailAddress": "a@b.co\r\nBcc: x@y.z"}}, "InvalidRequestException"),
    ],
    ids=[
        "not-our-address",
        "unknown-related",
        "email-reference",
        "attribute-key",
        "dangerous-attachment",
        "url-not-allowed",
        "too-many-recipients",
        "header-injection",
    ],
)
def test_invalid_requests(outpost: Outpost, change: dict[str, Any], expected: str) -> None:
    with pytest.raises(ClientError) as raised:
        outpost.client.start_email_contact(**request(outpost, **change))
    assert code(raised) == expected


@pytest.mark.parametrize(
    "raw",
    [
        {"Subject": "Hi", "Body": "x", "ContentType": "text/markdown"},
        {"Subject": "Hi", "Body": "x", "ContentType": "text/plain", "Headers": {"MESSAGE_ID": "x"}},
        {"Subject": "Hi\r\nBcc: x@y.z", "Body": "x", "ContentType": "text/plain"},
    ],
    ids=["content-type", "message-id", "subject-line-break"],
)
def test_invalid_messages(outpost: Outpost, raw: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as raised:
        outpost.client.start_email_contact(
            **request(outpost, EmailMessage={"MessageSourceType": "RAW", "RawMessage": raw})
        )
    assert code(raised) == "InvalidRequestException"


class _Files(http.server.BaseHTTPRequestHandler):
    body = b"%PDF-1.4 fetched from elsewhere"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def file_host() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_attachments_from_allowed_hosts(start_server: Any, file_host: str) -> None:
    server = start_server(env={"CONNECTMAIL_ATTACHMENT_URL_HOSTS": '["127.0.0.1"]'})
    outpost = make_outpost(server.client())
    contact_id = outpost.client.start_email_contact(
        **request(outpost, Attachments=[{"FileName": "a.pdf", "S3Url": f"{file_host}/a.pdf"}])
    )["ContactId"]
    contact = describe(outpost, contact_id)
    (reference,) = references(outpost.client, outpost.instance_id, contact_id, "ATTACHMENT")
    arn = reference["Attachment"]["Arn"]
    assert file_bytes(outpost.client, outpost.instance_id, contact["Arn"], arn) == _Files.body


def _draft(outpost: Outpost) -> tuple[str, str]:
    created = outpost.client.create_contact(
        InstanceId=outpost.instance_id,
        Channel="EMAIL",
        InitiationMethod="OUTBOUND",
        UserInfo={"UserId": "agent-1"},
    )
    return created["ContactId"], created["ContactArn"]


def _wait_for_mail(server: ServerProcess, contact_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = server.mailbox(contact_id=contact_id)
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no captured mail for contact {contact_id}")
