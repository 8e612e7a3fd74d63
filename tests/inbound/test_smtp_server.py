"""The inbound SMTP server's answers: who it takes mail for, how much, and what becomes of it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid
from typing import Any

import aiosmtplib
import pytest
from botocore.exceptions import ClientError

from tests.support.connect import Outpost, make_outpost, unique_address
from tests.support.inbound import (
    deliver,
    download,
    file_bytes,
    received_search,
    references,
    smtp_port,
)
from tests.support.server import ServerProcess

LIMIT = 200_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    started = ServerProcess(
        tmp_path_factory.mktemp("smtp"),
        ["--smtp-port", "0", "--max-inbound-message-bytes", str(LIMIT)],
    ).start()
    yield started
    started.stop()


@pytest.fixture
def outpost(server: ServerProcess) -> Outpost:
    return make_outpost(server.client())


def email(to: str, subject: str = "Hello", body: str = "Hi there", **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "customer@example.org"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.org")
    for name, value in headers.items():
        message[name] = value
    message.set_content(body)
    return message


def inbound_contacts(outpost: Outpost) -> list[dict[str, Any]]:
    found = outpost.client.search_contacts(**received_search(outpost.instance_id))
    return list(found["Contacts"])


def test_unknown_recipients_get_550(server: ServerProcess, outpost: Outpost) -> None:
    stranger = unique_address("nobody")
    answer = deliver(server, email(stranger), recipients=[stranger])
    assert answer.rcpt[0][0] == 550
    assert answer.rcpt[0][1].startswith("5.1.1")
    assert answer.data is None

    answer = deliver(server, email(outpost.sender), recipients=[stranger, outpost.sender])
    assert [code for code, _ in answer.rcpt] == [550, 250]
    assert answer.accepted
    assert len(inbound_contacts(outpost)) == 1


def test_addresses_match_without_regard_to_case(server: ServerProcess, outpost: Outpost) -> None:
    shouted = outpost.sender.upper()
    assert deliver(server, email(shouted), recipients=[shouted]).accepted
    (contact,) = inbound_contacts(outpost)
    described = outpost.client.describe_contact(
        InstanceId=outpost.instance_id, ContactId=contact["Id"]
    )["Contact"]
    assert described["SystemEndpoint"]["Address"] == outpost.sender


def test_oversized_message_is_refused_during_data(server: ServerProcess, outpost: Outpost) -> None:
    big = email(outpost.sender, body="x" * 70 + "\n")
    big.set_content(("y" * 76 + "\n") * (LIMIT // 77 + 10))
    answer = deliver(server, big, recipients=[outpost.sender])
    assert answer.rcpt == [(250, "2.1.5 OK")]
    assert answer.data is not None and answer.data[0] == 552
    assert inbound_contacts(outpost) == []
    # The connection stays usable: a message within the limit goes through afterwards.
    assert deliver(server, email(outpost.sender), recipients=[outpost.sender]).accepted


def test_declared_size_over_the_limit_is_refused_at_mail(
    server: ServerProcess, outpost: Outpost
) -> None:
    answer = deliver(
        server,
        email(outpost.sender),
        recipients=[outpost.sender],
        mail_options=[f"SIZE={LIMIT + 1}"],
    )
    assert answer.mail[0] == 552 and answer.data is None


def test_ehlo_advertises_the_size_limit(server: ServerProcess) -> None:
    async def extensions() -> dict[str, str]:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_port(server), start_tls=False)
        await client.connect()
        await client.ehlo()
        found = dict(client.esmtp_extensions)
        await client.quit()
        return found

    assert asyncio.run(extensions())["size"] == str(LIMIT)


def test_one_message_to_two_instances_makes_a_contact_in_each(server: ServerProcess) -> None:
    client = server.client()
    first, second = make_outpost(client), make_outpost(client)
    message = email(f"{first.sender}, {second.sender}")
    assert deliver(server, message, recipients=[first.sender, second.sender]).accepted
    (one,) = inbound_contacts(first)
    (other,) = inbound_contacts(second)
    assert one["Id"] != other["Id"]
    described = client.describe_contact(InstanceId=first.instance_id, ContactId=one["Id"])
    assert described["Contact"]["SystemEndpoint"]["Address"] == first.sender
    assert described["Contact"]["AdditionalEmailRecipients"]["ToList"] == [
        {"Address": second.sender}
    ]


def test_two_addresses_of_one_instance_make_one_contact(
    server: ServerProcess, outpost: Outpost
) -> None:
    sales = unique_address("sales")
    outpost.client.create_email_address(InstanceId=outpost.instance_id, EmailAddress=sales)
    message = email(f"{sales}, {outpost.sender}")
    assert deliver(server, message, recipients=[sales, outpost.sender]).accepted
    (contact,) = inbound_contacts(outpost)
    described = outpost.client.describe_contact(
        InstanceId=outpost.instance_id, ContactId=contact["Id"]
    )["Contact"]
    assert described["SystemEndpoint"]["Address"] == sales  # the first recipient
    assert described["AdditionalEmailRecipients"]["ToList"] == [{"Address": outpost.sender}]


def test_a_retried_delivery_makes_no_second_contact(
    server: ServerProcess, outpost: Outpost
) -> None:
    data = email(outpost.sender).as_bytes(policy=SMTP)
    first = deliver(server, data, recipients=[outpost.sender])
    again = deliver(server, data, recipients=[outpost.sender])
    assert first.accepted and again.accepted
    assert first.data == again.data  # "250 2.0.0 OK: contact <the same id>"
    assert len(inbound_contacts(outpost)) == 1


def test_a_message_without_message_id_is_kept_as_sent(
    server: ServerProcess, outpost: Outpost
) -> None:
    message = email(outpost.sender)
    del message["Message-ID"]
    data = message.as_bytes(policy=SMTP)
    assert deliver(server, data, recipients=[outpost.sender]).accepted
    (contact,) = inbound_contacts(outpost)
    arn = contact["Arn"]
    (raw,) = references(outpost.client, outpost.instance_id, contact["Id"], "EMAIL_MESSAGE")
    assert file_bytes(outpost.client, outpost.instance_id, arn, raw["EmailMessage"]["Arn"]) == data


def test_more_than_ten_attachments_are_refused(server: ServerProcess, outpost: Outpost) -> None:
    message = email(outpost.sender)
    for n in range(11):
        message.add_attachment(b"%d" % n, maintype="text", subtype="plain", filename=f"{n}.txt")
    answer = deliver(server, message, recipients=[outpost.sender])
    assert answer.data is not None and answer.data[0] == 552
    assert inbound_contacts(outpost) == []


def test_dangerous_attachments_are_kept_but_rejected(
    server: ServerProcess, outpost: Outpost
) -> None:
    client = outpost.client
    program = b"MZ" + os.urandom(500)
    sheet = b"a,b\n1,2\n"
    message = email(outpost.sender)
    message.add_attachment(
        program, maintype="application", subtype="octet-stream", filename="setup.exe"
    )
    message.add_attachment(sheet, maintype="text", subtype="csv", filename="data.csv")
    assert deliver(server, message, recipients=[outpost.sender]).accepted
    (contact,) = inbound_contacts(outpost)
    found = references(client, outpost.instance_id, contact["Id"], "ATTACHMENT")
    assert [(r["Attachment"]["Name"], r["Attachment"]["Status"]) for r in found] == [
        ("setup.exe", "REJECTED"),
        ("data.csv", "APPROVED"),
    ]
    rejected, approved = (r["Attachment"]["Arn"].rsplit("/", 1)[1] for r in found)
    described = client.get_attached_file(
        InstanceId=outpost.instance_id, FileId=rejected, AssociatedResourceArn=contact["Arn"]
    )
    assert described["FileStatus"] == "REJECTED" and "DownloadUrlMetadata" not in described
    assert described["FileSizeInBytes"] == len(program)
    # It cannot be completed into use (the refusal said to upload its bytes first).
    ids = {"InstanceId": outpost.instance_id, "AssociatedResourceArn": contact["Arn"]}
    with pytest.raises(ClientError) as refused:
        client.complete_attached_file_upload(**ids, FileId=rejected)
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "is REJECTED" in refused.value.response["Error"]["Message"]
    assert client.get_attached_file(**ids, FileId=rejected)["FileStatus"] == "REJECTED"
    batch = client.batch_get_attached_file_metadata(
        InstanceId=outpost.instance_id,
        FileIds=[rejected, approved, "no-such-file"],
        AssociatedResourceArn=contact["Arn"],
    )
    assert [(f["FileName"], f["FileStatus"]) for f in batch["Files"]] == [
        ("setup.exe", "REJECTED"),
        ("data.csv", "APPROVED"),
    ]
    assert batch["Errors"] == [
        {
            "FileId": "no-such-file",
            "ErrorCode": "ResourceNotFoundException",
            "ErrorMessage": "File not found: no-such-file",
        }
    ]
    url = client.get_attached_file(
        InstanceId=outpost.instance_id, FileId=approved, AssociatedResourceArn=contact["Arn"]
    )["DownloadUrlMetadata"]["Url"]
    status, body, headers = download(url)
    assert (status, body) == (200, sheet)
    assert headers["content-type"].startswith("text/csv")


@pytest.mark.parametrize(
    ("header", "options", "name"),
    [
        # An encoded word whose bytes are not of its charset: mislabelled Latin-1.
        (b"From: =?utf-8?q?Zo=EB?= <zoe@example.org>", [], "Zo\ufffd"),
        (b"From: =?x-unknown?q?Zo=EB?= <zoe@example.org>", [], "Zo\ufffd"),
        # RFC 6532: UTF-8 in the header itself, and bytes that are not UTF-8.
        ("From: Zoë <zoe@example.org>".encode(), ["SMTPUTF8", "BODY=8BITMIME"], "Zoë"),
        (b"From: Zo\xeb <zoe@example.org>", ["BODY=8BITMIME"], "Zo\ufffd"),
    ],
)
def test_undecodable_display_names_are_taken(
    server: ServerProcess, outpost: Outpost, header: bytes, options: list[str], name: str
) -> None:
    """They were answered 451 on every try (the name could not be stored), so the mail never
    came. What is not UTF-8 is replaced, as in a subject."""
    data = (
        header + b"\r\nCc: =?utf-8?q?Bj=F8rn?= <bjorn@example.org>\r\nSubject: Hi\r\n"
        b"Message-ID: <" + os.urandom(8).hex().encode() + b"@example.org>\r\n\r\nHello\r\n"
    )
    reply = deliver(server, data, recipients=[outpost.sender], mail_options=options)
    assert reply.accepted, reply.data
    (contact,) = inbound_contacts(outpost)
    described = outpost.client.describe_contact(
        InstanceId=outpost.instance_id, ContactId=contact["Id"]
    )["Contact"]
    assert described["CustomerEndpoint"] == {
        "Type": "EMAIL_ADDRESS",
        "Address": "zoe@example.org",
        "DisplayName": name,
    }
    assert described["AdditionalEmailRecipients"]["CcList"] == [
        {"Address": "bjorn@example.org", "DisplayName": "Bj\ufffdrn"}
    ]


def test_a_message_that_cannot_be_read_is_refused_for_good(
    server: ServerProcess, outpost: Outpost
) -> None:
    """A message the parser cannot read fails the same way on every try: 554, not 451."""
    depth = 1500
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n)
        for n in range(depth)
    )
    data = b"From: zoe@example.org\r\nSubject: deep\r\nMIME-Version: 1.0\r\n" + opening + b"x\r\n"
    reply = deliver(server, data, recipients=[outpost.sender])
    assert reply.data is not None and reply.data[0] == 554
    assert inbound_contacts(outpost) == []


def test_the_null_sender_is_no_customer_endpoint(server: ServerProcess, outpost: Outpost) -> None:
    """`MAIL FROM:<>` (a bounce) with no From header names no customer to answer."""
    data = b"Subject: Delivery Status Notification\r\n\r\nundeliverable\r\n"
    assert deliver(server, data, sender="", recipients=[outpost.sender]).accepted
    (contact,) = inbound_contacts(outpost)
    described = outpost.client.describe_contact(
        InstanceId=outpost.instance_id, ContactId=contact["Id"]
    )["Contact"]
    assert "CustomerEndpoint" not in described


def test_overlong_names_and_addresses_keep_to_the_models_limits(
    server: ServerProcess, outpost: Outpost
) -> None:
    """EndpointDisplayName and EndpointAddress are at most 256 characters in the model."""
    long_address = "x" * 300 + "@example.org"
    data = (
        f"From: {'N' * 400} <zoe@example.org>\r\nCc: {long_address}\r\nSubject: long\r\n\r\nHi\r\n"
    ).encode()
    assert deliver(server, data, recipients=[outpost.sender]).accepted
    (contact,) = inbound_contacts(outpost)
    described = outpost.client.describe_contact(
        InstanceId=outpost.instance_id, ContactId=contact["Id"]
    )["Contact"]
    assert described["CustomerEndpoint"]["DisplayName"] == "N" * 256
    assert "AdditionalEmailRecipients" not in described


def test_a_blank_text_alternative_gives_the_html_as_text(
    server: ServerProcess, outpost: Outpost
) -> None:
    """A blank text/plain part beside the HTML one is no text: message.txt is the HTML's."""
    data = (
        b"From: shop@example.org\r\nSubject: order\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/alternative; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n \r\n"
        b"--B\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Your order shipped</p>\r\n"
        b"--B--\r\n"
    )
    assert deliver(server, data, recipients=[outpost.sender]).accepted
    (contact,) = inbound_contacts(outpost)
    (text,) = references(
        outpost.client, outpost.instance_id, contact["Id"], "EMAIL_MESSAGE_PLAIN_TEXT"
    )
    plain = file_bytes(
        outpost.client, outpost.instance_id, contact["Arn"], text["EmailMessagePlainText"]["Arn"]
    )
    assert plain.decode().strip() == "Your order shipped"
