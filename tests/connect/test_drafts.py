"""An outbound email's draft (UpdateOutboundEmailContactMessage): kept on the unsent contact,
readable as its EMAIL_MESSAGE until the send, which replaces it with what was sent."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.connect import Outpost, make_outpost
from tests.support.inbound import file_bytes, references
from tests.support.server import ServerProcess


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def save(outpost: Outpost, contact: str, body: str, content_type: str = "text/html") -> Any:
    return outpost.client.update_outbound_email_contact_message(
        InstanceId=outpost.instance_id,
        ContactId=contact,
        EmailMessage={
            "MessageSourceType": "RAW",
            "RawMessage": {"Body": body, "ContentType": content_type},
        },
    )


def files(outpost: Outpost, contact: str) -> dict[str, bytes]:
    """The contact's message files by name, fetched with GetAttachedFile."""
    arn = outpost.describe(contact)["Arn"]
    found = {}
    for reference in references(outpost.client, outpost.instance_id, contact):
        ((_, summary),) = reference.items()
        found[summary["Name"]] = file_bytes(
            outpost.client, outpost.instance_id, arn, summary["Arn"]
        )
    return found


def test_a_draft_is_kept_and_read_back_with_its_cc(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    contact = outpost.contact()
    outpost.client.update_contact(
        InstanceId=outpost.instance_id,
        ContactId=contact,
        AdditionalRecipients={
            "CcEmailAddresses": [{"EmailAddress": "boss@example.org", "DisplayName": "Boss"}]
        },
    )
    assert save(outpost, contact, "<p>First try</p>")["ContactId"] == contact
    save(outpost, contact, "<p>Dear Jane, your <b>refund</b> is on its way.</p>")

    kept = files(outpost, contact)
    assert sorted(kept) == ["draft.eml", "draft.txt"]  # one draft: the second replaced the first
    draft = message_from_bytes(kept["draft.eml"], policy=policy.default)
    assert isinstance(draft, EmailMessage)
    assert draft["X-Unsent"] == "1"
    assert draft["Cc"] == "Boss <boss@example.org>"
    assert draft["From"] is None and draft["To"] is None  # they come with the send
    html = draft.get_body(("html",))
    assert html is not None
    assert html.get_content().strip() == "<p>Dear Jane, your <b>refund</b> is on its way.</p>"
    assert kept["draft.txt"].decode().strip() == "Dear Jane, your refund is on its way."


def test_the_send_replaces_the_draft(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    contact = outpost.contact()
    save(outpost, contact, "Draft words", "text/plain")
    draft_id = f"{contact}-draft"
    outpost.send(contact, body="Sent words")

    kept = files(outpost, contact)
    assert sorted(kept) == ["message.eml", "message.txt"]
    assert kept["message.txt"].decode().strip() == "Sent words"
    with pytest.raises(ClientError) as exc:
        outpost.client.get_attached_file(
            InstanceId=outpost.instance_id,
            FileId=draft_id,
            AssociatedResourceArn=outpost.describe(contact)["Arn"],
        )
    assert code(exc) == "ResourceNotFoundException"


def test_only_unsent_outbound_emails_and_replies_have_drafts(
    shared_server: ServerProcess,
) -> None:
    outpost = make_outpost(shared_server.client())
    reply = outpost.contact("AGENT_REPLY", RelatedContactId=outpost.receive())
    save(outpost, reply, "Thanks for writing", "text/plain")
    assert "draft.txt" in files(outpost, reply)

    sent = outpost.contact()
    outpost.send(sent)
    stopped = outpost.contact()
    outpost.client.stop_contact(InstanceId=outpost.instance_id, ContactId=stopped)
    voice = outpost.client.create_contact(
        InstanceId=outpost.instance_id, Channel="VOICE", InitiationMethod="TRANSFER"
    )["ContactId"]
    refused = {
        outpost.contact("FLOW"): "only AGENT_REPLY, OUTBOUND email contacts can be drafted",
        outpost.receive(): "only AGENT_REPLY, OUTBOUND email contacts can be drafted",
        sent: "already been sent",
        stopped: "has ended",
        voice: "not EMAIL",
    }
    for contact, message in refused.items():
        before = outpost.describe(contact)
        with pytest.raises(ClientError) as exc:
            save(outpost, contact, "words", "text/plain")
        assert code(exc) == "InvalidRequestException"
        assert message in str(exc.value)
        assert outpost.describe(contact)["LastUpdateTimestamp"] == before["LastUpdateTimestamp"]

    for contact in ("no-such-contact", make_outpost(shared_server.client()).contact()):
        with pytest.raises(ClientError) as exc:
            save(outpost, contact, "words")
        assert code(exc) == "ResourceNotFoundException"


def test_a_draft_is_text_or_html(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    contact = outpost.contact()
    with pytest.raises(ClientError) as exc:
        save(outpost, contact, "{}", "application/json")
    assert code(exc) == "InvalidRequestException"
    assert references(outpost.client, outpost.instance_id, contact) == []
