"""An agent's day with one customer, end to end, as the Amazon Connect agent workspace and a
backend integration drive it: through a real server, with the customer's mail arriving over
SMTP and connectmail's going out to a real relay.

Jane writes to the team's alias (help@), which forwards to its primary address (support@).
A routing integration finds the forwarded contact, gives it to an agent, tags it for billing
and names it. The agent drafts a reply, copies a colleague, attaches the invoice, reads the
draft back and sends it; Jane answers; the agent's second reply comes from a message template
with its own attachment. Every contact of the conversation then tells the same story.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import BACKENDS
from tests.qconnect.kit import make_knowledge_base
from tests.support.connect import Outpost, make_outpost, unique_address
from tests.support.databases import database
from tests.support.inbound import (
    attach_file,
    customer_email,
    deliver,
    file_bytes,
    received_search,
    references,
)
from tests.support.server import ServerProcess
from tests.support.smtp import SmtpSink
from tests.templates.conftest import MailServer

AGENT = "agent-7"
FORWARDED = "connectmail:ForwardedFrom"
INVOICE = b"%PDF-1.4 invoice 1042\n"
REFUND_FORM = b"%PDF-1.4 refund form\n"


@pytest.fixture(scope="module", params=BACKENDS)
def workspace(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MailServer]:
    """A server that takes customer mail on its SMTP port and sends through a relay."""
    directory = tmp_path_factory.mktemp("workspace")
    with ExitStack() as running:
        relay = running.enter_context(relay_running())
        url = running.enter_context(database(str(request.param), directory))
        args = ["--database-url", url, "--smtp-port", "0", "--relay", relay.url]
        server = ServerProcess(directory, args).start()
        running.callback(server.stop)
        yield MailServer(server, relay)


@contextmanager
def relay_running() -> Iterator[SmtpSink]:
    relay = SmtpSink().start()
    try:
        yield relay
    finally:
        relay.stop()


def parse(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def last_hour(instance_id: str, **criteria: Any) -> dict[str, Any]:
    """SearchContacts' arguments: the instance's contacts of the last hour meeting `criteria`,
    oldest first."""
    search = received_search(instance_id)
    search["SearchCriteria"] = criteria
    search["Sort"] = {"FieldName": "INITIATION_TIMESTAMP", "Order": "ASCENDING"}
    return search


def found_ids(outpost: Outpost, **criteria: Any) -> list[str]:
    found = outpost.client.search_contacts(**last_hour(outpost.instance_id, **criteria))
    return [contact["Id"] for contact in found["Contacts"]]


def thread_of(outpost: Outpost, contact_id: str) -> list[str]:
    listed = outpost.client.list_associated_contacts(
        InstanceId=outpost.instance_id, ContactId=contact_id
    )
    return [summary["ContactId"] for summary in listed["ContactSummaryList"]]


def contact_files(outpost: Outpost, contact: dict[str, Any]) -> dict[str, bytes]:
    """A contact's files (its email, the plain text, attachments) by name: ListContactReferences
    then GetAttachedFile, as the agent workspace shows them."""
    kept = {}
    for reference in references(outpost.client, outpost.instance_id, contact["Id"]):
        ((_, summary),) = reference.items()
        kept[summary["Name"]] = file_bytes(
            outpost.client, outpost.instance_id, contact["Arn"], summary["Arn"]
        )
    return kept


def save_draft(outpost: Outpost, contact_id: str, body: str) -> None:
    outpost.client.update_outbound_email_contact_message(
        InstanceId=outpost.instance_id,
        ContactId=contact_id,
        EmailMessage={
            "MessageSourceType": "RAW",
            "RawMessage": {"Body": body, "ContentType": "text/plain"},
        },
    )


def send_to_jane(outpost: Outpost, contact_id: str, message: dict[str, Any], **extra: Any) -> None:
    """StartOutboundEmailContact from the team's primary address to Jane."""
    outpost.client.start_outbound_email_contact(
        InstanceId=outpost.instance_id,
        ContactId=contact_id,
        FromEmailAddress={"EmailAddress": outpost.sender},
        DestinationEmailAddress={"EmailAddress": "jane@example.org", "DisplayName": "Jane Doe"},
        EmailMessage=message,
        **extra,
    )


def test_a_conversation_from_first_email_to_second_reply(workspace: MailServer) -> None:
    server = workspace.server
    outpost = make_outpost(server.client())
    client, instance_id = outpost.client, outpost.instance_id
    support = outpost.sender
    help_desk = unique_address("help")
    help_id = client.create_email_address(
        InstanceId=instance_id, EmailAddress=help_desk, DisplayName="Help"
    )["EmailAddressId"]
    client.associate_email_address_alias(
        InstanceId=instance_id,
        EmailAddressId=outpost.sender_id,
        AliasConfiguration={"EmailAddressId": help_id},
    )

    # 1. Jane writes to the alias. It makes the alias's contact and, forwarded, the primary's.
    first = customer_email(help_desk, "Invoice 1042 is wrong", "I was charged twice.")
    assert deliver(server, first, recipients=[help_desk]).accepted

    # 2. Routing finds the forwarded copy: its segment attribute names the alias.
    (waiting,) = found_ids(
        outpost,
        InitiationMethods=["INBOUND"],
        SearchableSegmentAttributes={
            "Criteria": [{"Key": FORWARDED, "Values": [help_desk]}],
            "MatchType": "MATCH_ALL",
        },
    )
    received = outpost.describe(waiting)
    assert received["SystemEndpoint"]["Address"] == support
    assert received["CustomerEndpoint"] == {
        "Type": "EMAIL_ADDRESS",
        "Address": "jane@example.org",
        "DisplayName": "Jane Doe",
    }
    assert "AgentInfo" not in received and "DisconnectTimestamp" not in received

    # 3. ... gives it to an agent (a user's ARN or id), tags it, names it.
    client.associate_contact_with_user(
        InstanceId=instance_id,
        ContactId=received["Arn"],
        UserId=f"{received['Arn'].split('/contact/')[0]}/agent/{AGENT}",
    )
    client.tag_contact(
        InstanceId=instance_id, ContactId=waiting, Tags={"Department": "billing", "Tier": "gold"}
    )
    client.update_contact(
        InstanceId=instance_id,
        ContactId=waiting,
        Name="Double charge on invoice 1042",
        Description="Customer charged twice in November",
        References={"Invoice": {"Value": "1042", "Type": "NUMBER"}},
    )
    assigned = outpost.describe(waiting)
    assert assigned["AgentInfo"] == {"Id": AGENT}
    assert assigned["Tags"] == {"Department": "billing", "Tier": "gold"}
    assert assigned["Name"] == "Double charge on invoice 1042"
    assert assigned["LastUpdateTimestamp"] >= received["LastUpdateTimestamp"]

    # 4. The agent starts a reply, drafts it twice, copies a colleague and attaches the invoice.
    reply = outpost.contact("AGENT_REPLY", RelatedContactId=waiting, UserInfo={"UserId": AGENT})
    reply_arn = outpost.describe(reply)["Arn"]
    save_draft(outpost, reply, "Dear Jane, looking into it.")
    client.update_contact(
        InstanceId=instance_id,
        ContactId=reply,
        AdditionalRecipients={
            "CcEmailAddresses": [{"EmailAddress": "billing@example.com", "DisplayName": "Billing"}]
        },
    )
    body = "Dear Jane, we refunded the second charge. The corrected invoice is attached."
    save_draft(outpost, reply, body)
    attach_file(client, instance_id, reply_arn, "invoice-1042.pdf", INVOICE)

    # 5. Reading the draft back: the last body saved, the CC, the attachment.
    drafted = contact_files(outpost, {"Id": reply, "Arn": reply_arn})
    assert sorted(drafted) == ["draft.eml", "draft.txt", "invoice-1042.pdf"]
    draft = parse(drafted["draft.eml"])
    assert draft["X-Unsent"] == "1" and draft["Cc"] == "Billing <billing@example.com>"
    assert drafted["draft.txt"].decode().strip() == body
    assert drafted["invoice-1042.pdf"] == INVOICE

    # 6. The send takes the whole message: the draft's body and its CC.
    send_to_jane(
        outpost,
        reply,
        {
            "MessageSourceType": "RAW",
            "RawMessage": {
                "Subject": "Invoice 1042 is wrong",
                "Body": body,
                "ContentType": "text/plain",
            },
        },
        AdditionalRecipients={
            "CcEmailAddresses": [{"EmailAddress": "billing@example.com", "DisplayName": "Billing"}]
        },
    )

    # 7. The relay gets the reply: threaded under Jane's email, copied, with the invoice.
    sent = workspace.mail_to("jane@example.org")
    assert sorted(sent.recipients) == ["billing@example.com", "jane@example.org"]
    sent_reply = sent.message
    assert sent_reply["Subject"] == "Re: Invoice 1042 is wrong"
    assert sent_reply["From"] == f"Example Support <{support}>"
    assert sent_reply["Cc"] == "Billing <billing@example.com>"
    assert sent_reply["In-Reply-To"] == first["Message-ID"]
    assert sent_reply["References"] == first["Message-ID"]
    text = sent_reply.get_body(("plain",))
    assert text is not None and text.get_content().strip() == body
    (invoice,) = sent_reply.iter_attachments()
    assert isinstance(invoice, EmailMessage)
    assert (invoice.get_filename(), invoice.get_content()) == ("invoice-1042.pdf", INVOICE)
    # What went replaced the draft, which can no longer be saved: the refusal changes nothing.
    before = outpost.describe(reply)["LastUpdateTimestamp"]
    with pytest.raises(ClientError) as refused:
        save_draft(outpost, reply, "An afterthought")
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
    assert outpost.describe(reply)["LastUpdateTimestamp"] == before
    assert sorted(contact_files(outpost, {"Id": reply, "Arn": reply_arn})) == [
        "invoice-1042.pdf",
        "message.eml",
        "message.txt",
    ]

    # 8. Jane answers to the address the reply came from.
    answer = customer_email(
        support,
        "Re: Invoice 1042 is wrong",
        "Thanks! Can I have the refund form too?",
        In_Reply_To=sent_reply["Message-ID"],
        References=f"{first['Message-ID']} {sent_reply['Message-ID']}",
    )
    assert deliver(server, answer, recipients=[support]).accepted
    # It joins the conversation: the newest of the reply's associated contacts.
    answered = thread_of(outpost, reply)[-1]
    assert outpost.describe(answered)["RelatedContactId"] == reply
    client.associate_contact_with_user(InstanceId=instance_id, ContactId=answered, UserId=AGENT)

    # 9. The second reply comes from a message template that carries the refund form.
    kb = make_knowledge_base(server.client("qconnect"))
    template_id = kb.create_template()["messageTemplateId"]
    kb.attach(template_id, "refund-form.pdf", REFUND_FORM)
    kb.version(template_id)
    kb.activate(template_id, 1)
    second = outpost.contact("AGENT_REPLY", RelatedContactId=answered, UserInfo={"UserId": AGENT})
    send_to_jane(
        outpost,
        second,
        {
            "MessageSourceType": "TEMPLATE",
            "TemplatedMessageConfig": {
                "KnowledgeBaseId": kb.id,
                "MessageTemplateId": template_id,
                "TemplateAttributes": {
                    "CustomerProfileAttributes": json.dumps({"FirstName": "Jane"})
                },
            },
        },
    )
    both = workspace.relay.wait_for(2)
    templated = both[1].message
    assert templated["In-Reply-To"] == answer["Message-ID"]
    assert templated["References"].split() == [
        first["Message-ID"],
        sent_reply["Message-ID"],
        answer["Message-ID"],
    ]
    (form,) = templated.iter_attachments()
    assert isinstance(form, EmailMessage)
    assert (form.get_filename(), form.get_content()) == ("refund-form.pdf", REFUND_FORM)

    # 10. The conversation, listed from any of its contacts, oldest first. The alias's own
    # copy of the first email is a conversation of its own.
    conversation = [waiting, reply, answered, second]
    for contact in conversation:
        assert thread_of(outpost, contact) == conversation
    (alias_copy,) = set(found_ids(outpost, InitiationMethods=["INBOUND"])) - set(conversation)
    assert thread_of(outpost, alias_copy) == [alias_copy]

    # 11. The agent closes the conversation; searches find what each step left.
    for contact in (waiting, answered):
        client.stop_contact(InstanceId=instance_id, ContactId=contact)
    assert found_ids(
        outpost, ContactTags={"TagCondition": {"TagKey": "Department", "TagValue": "billing"}}
    ) == [waiting]
    assert found_ids(outpost, AgentIds=[AGENT]) == conversation
    assert found_ids(outpost, Channels=["EMAIL"], InitiationMethods=["AGENT_REPLY"]) == [
        reply,
        second,
    ]

    # 12. ... and DescribeContact tells the same story for each.
    told = [outpost.describe(contact) for contact in conversation]
    assert [c["InitiationMethod"] for c in told] == [
        "INBOUND",
        "AGENT_REPLY",
        "INBOUND",
        "AGENT_REPLY",
    ]
    assert [c.get("AgentInfo") for c in told] == [{"Id": AGENT}] * 4
    assert [c.get("Tags") for c in told] == [
        {"Department": "billing", "Tier": "gold"},
        None,
        None,
        None,
    ]
    assert [c.get("InitialContactId") for c in told] == [None, waiting, waiting, waiting]
    assert [c.get("RelatedContactId") for c in told] == [None, waiting, reply, answered]
    started = [c["InitiationTimestamp"] for c in told]
    assert started == sorted(started)
    ended = [c["DisconnectTimestamp"] for c in told]
    assert ended[1] < started[2] and ended[3] >= started[3]  # a reply ends when it is sent
    assert ended[0] > ended[1] and ended[2] > ended[3]  # stopped after the replies went
    assert [c["SegmentAttributes"]["connect:EmailSubject"]["ValueString"] for c in told] == [
        "Invoice 1042 is wrong",
        "Re: Invoice 1042 is wrong",
        "Re: Invoice 1042 is wrong",
        "Re: Hello Jane",
    ]
    assert told[1]["AdditionalEmailRecipients"] == {
        "CcList": [{"Address": "billing@example.com", "DisplayName": "Billing"}]
    }
