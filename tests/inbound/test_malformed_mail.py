"""Mail from the world is often malformed: what a mail server takes, we take, on both databases.

Each message here was refused before its fix: 554 for good (the email package's header parser
raised on it) or 451 on every try (a value PostgreSQL would not store), so it never arrived.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.support.connect import Outpost, make_outpost
from tests.support.inbound import SmtpReply, deliver, file_bytes, received_search, references
from tests.support.server import ServerProcess


@pytest.fixture
def server(smtp_server: ServerProcess) -> ServerProcess:
    return smtp_server


@pytest.fixture
def outpost(server: ServerProcess) -> Outpost:
    return make_outpost(server.client())


def the_contact(outpost: Outpost) -> dict[str, Any]:
    (found,) = outpost.client.search_contacts(**received_search(outpost.instance_id))["Contacts"]
    contact: dict[str, Any] = outpost.client.describe_contact(
        InstanceId=outpost.instance_id, ContactId=found["Id"]
    )["Contact"]
    return contact


def message_id() -> bytes:
    return b"<" + os.urandom(8).hex().encode() + b"@example.org>"


def multipart(part: bytes) -> bytes:
    """A message with a text body and `part` (its headers, a blank line, its body) after it."""
    return (
        b"From: Jane Doe <jane@example.org>\r\nSubject: files\r\nMessage-ID: "
        + message_id()
        + b"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\nSee attached\r\n--B\r\n" + part + b"\r\n--B--\r\n"
    )


@pytest.mark.parametrize(
    "header",
    [b"To: Support <", b'Cc: "Sales" <', b"Cc: bob@", b"Message-ID: <"],
    ids=["to-unclosed", "cc-unclosed", "cc-no-domain", "message-id-unclosed"],
)
def test_headers_the_parser_fails_on_are_read_around(
    server: ServerProcess, outpost: Outpost, header: bytes
) -> None:
    data = b"From: Jane Doe <jane@example.org>\r\nSubject: Help\r\n" + header + b"\r\n\r\nHello\r\n"
    reply = deliver(server, data, recipients=[outpost.sender])
    assert reply.accepted, reply.data
    contact = the_contact(outpost)
    assert contact["CustomerEndpoint"] == {
        "Type": "EMAIL_ADDRESS",
        "Address": "jane@example.org",
        "DisplayName": "Jane Doe",
    }
    assert "AdditionalEmailRecipients" not in contact
    assert contact["SegmentAttributes"]["connect:EmailSubject"]["ValueString"] == "Help"


def test_a_from_header_the_parser_fails_on_leaves_the_envelope_sender(
    server: ServerProcess, outpost: Outpost
) -> None:
    data = b"From: jane@\r\nSubject: Help\r\n\r\nHello\r\n"
    assert deliver(server, data, sender="jane@example.org", recipients=[outpost.sender]).accepted
    assert the_contact(outpost)["CustomerEndpoint"] == {
        "Type": "EMAIL_ADDRESS",
        "Address": "jane@example.org",
    }


@pytest.mark.parametrize(
    "content_type",
    [b"application/" + b"x" * 300, b"application/x\x00y"],
    ids=["too-long", "nul"],
)
def test_an_attachment_of_an_unusable_type_is_kept_as_octet_stream(
    server: ServerProcess, outpost: Outpost, content_type: bytes
) -> None:
    """PostgreSQL took neither type (255 characters at most, no NUL): 451 on every try."""
    part = b"Content-Type: " + content_type + b"; name=data.bin\r\n\r\nDATA"
    reply = deliver(server, multipart(part), recipients=[outpost.sender])
    assert reply.accepted, reply.data
    contact = the_contact(outpost)
    (found,) = references(outpost.client, outpost.instance_id, contact["Id"], "ATTACHMENT")
    assert (found["Attachment"]["Name"], found["Attachment"]["Status"]) == ("data.bin", "REJECTED")


def test_a_file_name_in_an_unreadable_charset_gets_a_name_of_ours(
    server: ServerProcess, outpost: Outpost
) -> None:
    part = (
        b"Content-Type: application/pdf\r\n"
        b"Content-Disposition: attachment; filename*=utf\x00-8''report.pdf\r\n\r\n%PDF-1.4"
    )
    assert deliver(server, multipart(part), recipients=[outpost.sender]).accepted
    contact = the_contact(outpost)
    (found,) = references(outpost.client, outpost.instance_id, contact["Id"], "ATTACHMENT")
    assert found["Attachment"]["Name"] == "attachment-1.pdf"
    content = file_bytes(
        outpost.client, outpost.instance_id, contact["Arn"], found["Attachment"]["Arn"]
    )
    assert content == b"%PDF-1.4"


def test_an_attached_message_with_a_malformed_header_is_kept_as_it_came(
    server: ServerProcess, outpost: Outpost
) -> None:
    """Writing the attached message out again refolded its long header, parsing it again."""
    inner = b"From: bob@example.org\r\nTo: " + b"x" * 80 + b" <\r\nSubject: fwd\r\n\r\nbody"
    part = b"Content-Type: message/rfc822\r\n\r\n" + inner
    assert deliver(server, multipart(part), recipients=[outpost.sender]).accepted
    contact = the_contact(outpost)
    (found,) = references(outpost.client, outpost.instance_id, contact["Id"], "ATTACHMENT")
    assert found["Attachment"]["Name"] == "attachment-1.eml"


@pytest.mark.parametrize("sender", ["postmaster", "x" * 300 + "@example.org"])
def test_an_envelope_sender_no_reply_could_reach_is_no_customer_endpoint(
    server: ServerProcess, outpost: Outpost, sender: str
) -> None:
    """With no From header the envelope's sender stood in unchecked: StartOutboundEmailContact
    refuses such an address, and EndpointAddress is at most 256 characters."""
    data = b"Subject: Hello\r\nMessage-ID: " + message_id() + b"\r\n\r\nHello\r\n"
    assert deliver(server, data, sender=sender, recipients=[outpost.sender]).accepted
    assert "CustomerEndpoint" not in the_contact(outpost)


def test_control_characters_make_no_address(server: ServerProcess, outpost: Outpost) -> None:
    data = (
        b"From: Jane <jane@example.org>\r\nCc: bob\x00@example.org, Carol <carol@example.org>\r\n"
        b"Subject: Hello\r\n\r\nHello\r\n"
    )
    assert deliver(server, data, recipients=[outpost.sender]).accepted
    recipients = the_contact(outpost)["AdditionalEmailRecipients"]
    assert recipients == {"CcList": [{"Address": "carol@example.org", "DisplayName": "Carol"}]}


def contact_of(reply: SmtpReply) -> str:
    """The contact id in an accepted message's `250 2.0.0 OK: contact ID`."""
    assert reply.accepted and reply.data is not None, reply.data
    return reply.data[1].rsplit(" ", 1)[1]


def test_a_reply_naming_any_number_of_references_is_threaded(
    server: ServerProcess, outpost: Outpost
) -> None:
    """All of them went into one query: past PostgreSQL's 65,535 parameters every try failed
    (451 after the database's outage wait) and the message never arrived."""
    first_id = message_id()
    first = (
        b"From: jane@example.org\r\nSubject: Help\r\nMessage-ID: " + first_id + b"\r\n\r\nHi\r\n"
    )
    first_contact = contact_of(deliver(server, first, recipients=[outpost.sender]))
    names = [b"<r%d@example.org>" % n for n in range(70_000)] + [first_id]
    folded = b"\r\n ".join(b" ".join(names[n : n + 40]) for n in range(0, len(names), 40))
    reply = (
        b"From: jane@example.org\r\nSubject: Re: Help\r\nMessage-ID: "
        + message_id()
        + b"\r\nReferences: "
        + folded
        + b"\r\n\r\nAnything yet?\r\n"
    )
    contact_id = contact_of(deliver(server, reply, recipients=[outpost.sender]))
    contact = outpost.client.describe_contact(InstanceId=outpost.instance_id, ContactId=contact_id)
    assert contact["Contact"]["RelatedContactId"] == first_contact
