"""A template's attachments go out with the email it makes: those of the version the send
uses, after the contact's own uploads, and they stay part of the email once sent."""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.qconnect.kit import KnowledgeBase, make_knowledge_base
from tests.support.connect import Outpost, make_outpost
from tests.support.inbound import attach_file, file_bytes, references
from tests.templates.conftest import MailServer
from tests.templates.test_sending import parse, recipient, templated

PDF = b"%PDF-1.4 terms and conditions\n"
# What the kit's template needs: {{Attributes.Customer.FirstName}}.
JANE = {"CustomerProfileAttributes": json.dumps({"FirstName": "Jane"})}


@pytest.fixture(scope="module")
def setup(mail_server: MailServer) -> tuple[Outpost, KnowledgeBase]:
    server = mail_server.server
    return make_outpost(server.client()), make_knowledge_base(server.client("qconnect"))


def files_of(message: EmailMessage) -> list[tuple[str | None, str, bytes]]:
    """The attachments of a delivered email: (file name, type, bytes), in order."""
    found = []
    for part in message.iter_attachments():
        assert isinstance(part, EmailMessage)
        data = part.get_content()
        found.append((part.get_filename(), part.get_content_type(), data))
    return found


def test_the_active_versions_attachments_reach_the_relay(
    mail_server: MailServer, setup: tuple[Outpost, KnowledgeBase]
) -> None:
    outpost, kb = setup
    template_id = kb.create_template()["messageTemplateId"]
    terms = kb.attach(template_id, "Terms & conditions.pdf", PDF)
    kb.attach(template_id, "notes.txt", b"Keep this.\n")
    kb.version(template_id)
    kb.activate(template_id, 1)
    kb.detach(template_id, terms["attachmentId"])  # off the draft: version 1 keeps it

    to = recipient()
    outpost.client.start_outbound_email_contact(
        **templated(outpost, kb.id, template_id, to, **JANE),
        FromEmailAddress={"EmailAddress": outpost.sender},
    )
    delivered = parse(mail_server.mail_to(to).data)
    assert files_of(delivered) == [
        ("Terms & conditions.pdf", "application/pdf", PDF),
        ("notes.txt", "text/plain", "Keep this.\n"),
    ]

    draft_to = recipient()  # $LATEST: the draft no longer has the terms
    outpost.client.start_outbound_email_contact(
        **templated(outpost, kb.id, f"{template_id}:$LATEST", draft_to, **JANE)
    )
    assert [f[0] for f in files_of(parse(mail_server.mail_to(draft_to).data))] == ["notes.txt"]


def test_the_contacts_uploads_come_first_and_ten_in_all_is_the_limit(
    mail_server: MailServer, setup: tuple[Outpost, KnowledgeBase]
) -> None:
    outpost, kb = setup
    template_id = kb.create_template()["messageTemplateId"]
    kb.attach(template_id, "terms.pdf", PDF)
    kb.version(template_id)
    kb.activate(template_id, 1)

    to = recipient()
    request = templated(outpost, kb.id, template_id, to, **JANE)
    arn = outpost.describe(request["ContactId"])["Arn"]
    attach_file(outpost.client, outpost.instance_id, arn, "invoice.txt", b"42 EUR\n")
    outpost.client.start_outbound_email_contact(**request)
    assert [f[0] for f in files_of(parse(mail_server.mail_to(to).data))] == [
        "invoice.txt",
        "terms.pdf",
    ]

    crowded = templated(outpost, kb.id, template_id, recipient(), **JANE)
    arn = outpost.describe(crowded["ContactId"])["Arn"]
    for n in range(10):
        attach_file(outpost.client, outpost.instance_id, arn, f"page-{n}.txt", b"x")
    with pytest.raises(ClientError) as exc:
        outpost.client.start_outbound_email_contact(**crowded)
    assert exc.value.response["Error"]["Code"] == "ServiceQuotaExceededException"
    assert "DisconnectTimestamp" not in outpost.describe(crowded["ContactId"])  # not sent


def test_a_sent_email_keeps_the_attachment_its_template_lost(
    mail_server: MailServer, setup: tuple[Outpost, KnowledgeBase]
) -> None:
    outpost, kb = setup
    template_id = kb.create_template()["messageTemplateId"]
    kb.attach(template_id, "terms.pdf", PDF)
    to = recipient()
    request = templated(outpost, kb.id, f"{template_id}:$LATEST", to, **JANE)
    outpost.client.start_outbound_email_contact(**request)
    mail_server.mail_to(to)
    kb.client.delete_message_template(knowledgeBaseId=kb.id, messageTemplateId=template_id)

    # The contact's EMAIL_MESSAGE is composed again from what was stored: the bytes stayed.
    contact = outpost.describe(request["ContactId"])
    (message,) = [
        r["EmailMessage"]
        for r in references(outpost.client, outpost.instance_id, request["ContactId"])
        if "EmailMessage" in r
    ]
    kept = parse(file_bytes(outpost.client, outpost.instance_id, contact["Arn"], message["Arn"]))
    assert files_of(kept) == [("terms.pdf", "application/pdf", PDF)]


def test_a_sent_templates_attachments_are_the_contacts_files(
    mail_server: MailServer, setup: tuple[Outpost, KnowledgeBase]
) -> None:
    outpost, kb = setup
    template_id = kb.create_template()["messageTemplateId"]
    kb.attach(template_id, "terms.pdf", PDF)
    request = templated(outpost, kb.id, f"{template_id}:$LATEST", recipient(), **JANE)
    arn = outpost.describe(request["ContactId"])["Arn"]
    attach_file(outpost.client, outpost.instance_id, arn, "invoice.txt", b"42 EUR\n")
    outpost.client.start_outbound_email_contact(**request)

    listed = references(outpost.client, outpost.instance_id, request["ContactId"], "ATTACHMENT")
    assert [(r["Attachment"]["Name"], r["Attachment"]["Status"]) for r in listed] == [
        ("invoice.txt", "APPROVED"),
        ("terms.pdf", "APPROVED"),
    ]
    terms = listed[1]["Attachment"]
    assert file_bytes(outpost.client, outpost.instance_id, arn, terms["Arn"]) == PDF
    (metadata,) = outpost.client.batch_get_attached_file_metadata(
        InstanceId=outpost.instance_id, AssociatedResourceArn=arn, FileIds=[terms["Value"]]
    )["Files"]
    assert (metadata["FileName"], metadata["FileSizeInBytes"]) == ("terms.pdf", len(PDF))
    # Part of the email that went: as the contact's uploads once sent, it cannot be deleted.
    with pytest.raises(ClientError) as exc:
        outpost.client.delete_attached_file(
            InstanceId=outpost.instance_id, FileId=terms["Value"], AssociatedResourceArn=arn
        )
    assert exc.value.response["Error"]["Code"] == "InvalidRequestException"
    assert file_bytes(outpost.client, outpost.instance_id, arn, terms["Arn"]) == PDF


def test_a_template_without_attachments_sends_none(
    mail_server: MailServer, setup: tuple[Outpost, KnowledgeBase]
) -> None:
    outpost, kb = setup
    template_id = kb.create_template()["messageTemplateId"]
    to = recipient()
    outpost.client.start_outbound_email_contact(
        **templated(outpost, kb.id, f"{template_id}:$LATEST", to, **JANE)
    )
    delivered: Any = parse(mail_server.mail_to(to).data)
    assert files_of(delivered) == [] and delivered.get_content_type() == "multipart/alternative"
