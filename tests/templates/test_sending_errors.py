"""TEMPLATE requests that cannot be sent: Connect's error codes, and no email leaves."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.qconnect.kit import (
    TOO_LONG_TEXT,
    TOO_LONG_VALUES,
    KnowledgeBase,
    email_content,
    error_code,
    error_message,
    make_knowledge_base,
)
from tests.support.connect import Outpost, make_outpost
from tests.support.server import ServerProcess

MISSING_ID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def setup(shared_server: ServerProcess) -> tuple[Any, Outpost, KnowledgeBase, str]:
    """An outpost and a knowledge base with a template whose version 1 is active."""
    connect = shared_server.client()
    kb = make_knowledge_base(shared_server.client("qconnect"))
    content = email_content(
        "Hi {{Attributes.Custom.Subject}}",
        html="<p>{{Attributes.Customer.FirstName}} {{Attributes.Customer.Attributes.Code}}</p>",
        text=None,
    )
    template_id = kb.create_template(content=content)["messageTemplateId"]
    kb.version(template_id)
    kb.activate(template_id, 1)
    return connect, make_outpost(connect), kb, template_id


def send(
    connect: Any,
    outpost: Outpost,
    knowledge_base: str,
    template: str,
    contact_id: str | None = None,
    **attributes: Any,
) -> dict[str, Any]:
    """StartOutboundEmailContact with TEMPLATE; `attributes` are its TemplateAttributes."""
    result: dict[str, Any] = connect.start_outbound_email_contact(
        InstanceId=outpost.instance_id,
        ContactId=contact_id or outpost.contact(),
        DestinationEmailAddress={"EmailAddress": "jane@example.org"},
        EmailMessage={
            "MessageSourceType": "TEMPLATE",
            "TemplatedMessageConfig": {
                "KnowledgeBaseId": knowledge_base,
                "MessageTemplateId": template,
                "TemplateAttributes": attributes,
            },
        },
    )
    return result


COMPLETE: dict[str, Any] = {
    "CustomAttributes": {"Subject": "there"},
    "CustomerProfileAttributes": json.dumps({"FirstName": "Jane", "Attributes": {"Code": "7"}}),
}


def test_a_complete_request_sends(
    shared_server: ServerProcess, setup: tuple[Any, Outpost, KnowledgeBase, str]
) -> None:
    connect, outpost, kb, template_id = setup
    contact_id = send(connect, outpost, kb.id, template_id, **COMPLETE)["ContactId"]
    contact = connect.describe_contact(InstanceId=outpost.instance_id, ContactId=contact_id)
    assert "DisconnectTimestamp" in contact["Contact"]  # sent, so ended


@pytest.mark.parametrize(
    ("knowledge_base", "template"),
    [
        (MISSING_ID, None),
        ("not-an-id", None),
        (None, MISSING_ID),
        (None, "{template}:9"),
        (None, "arn:aws:wisdom:us-east-1:123456789012:message-template/{kb}/{template}"),
    ],
)
def test_unknown_knowledge_base_or_template_is_not_found(
    setup: tuple[Any, Outpost, KnowledgeBase, str],
    knowledge_base: str | None,
    template: str | None,
) -> None:
    connect, outpost, kb, template_id = setup
    template = (template or template_id).format(kb=kb.id, template=template_id)
    with pytest.raises(ClientError) as exc:
        send(connect, outpost, knowledge_base or kb.id, template, **COMPLETE)
    assert error_code(exc) == "ResourceNotFoundException"


def test_a_template_of_another_knowledge_base_is_not_found(
    setup: tuple[Any, Outpost, KnowledgeBase, str],
) -> None:
    connect, outpost, kb, template_id = setup
    other = make_knowledge_base(kb.client)
    with pytest.raises(ClientError) as exc:
        send(connect, outpost, other.id, template_id, **COMPLETE)
    assert error_code(exc) == "ResourceNotFoundException"


def test_a_missing_value_refuses_the_email_and_names_it(
    shared_server: ServerProcess, setup: tuple[Any, Outpost, KnowledgeBase, str]
) -> None:
    connect, outpost, kb, template_id = setup
    contact_id = outpost.contact()
    with pytest.raises(ClientError) as exc:
        send(
            connect,
            outpost,
            kb.id,
            template_id,
            contact_id,
            CustomAttributes={"Subject": "there"},
        )
    assert error_code(exc) == "InvalidRequestException"
    message = error_message(exc)
    assert "Attributes.Customer.FirstName" in message
    assert "Attributes.Customer.Attributes.Code" in message
    assert "Attributes.Custom.Subject" not in message
    # Nothing was accepted: the contact is still unsent and can be sent once complete.
    assert shared_server.mailbox(contact_id=contact_id) == []
    contact = connect.describe_contact(InstanceId=outpost.instance_id, ContactId=contact_id)
    assert "DisconnectTimestamp" not in contact["Contact"]
    send(connect, outpost, kb.id, template_id, contact_id, **COMPLETE)


@pytest.mark.parametrize(
    "profile",
    ["not json", "[1, 2]", '"a string"', "{"],
)
def test_customer_profile_attributes_must_be_a_json_object(
    setup: tuple[Any, Outpost, KnowledgeBase, str], profile: str
) -> None:
    connect, outpost, kb, template_id = setup
    with pytest.raises(ClientError) as exc:
        send(
            connect,
            outpost,
            kb.id,
            template_id,
            CustomAttributes={"Subject": "x"},
            CustomerProfileAttributes=profile,
        )
    assert error_code(exc) == "InvalidRequestException"
    assert "CustomerProfileAttributes" in error_message(exc)


def test_a_template_that_is_not_email_cannot_be_sent(
    setup: tuple[Any, Outpost, KnowledgeBase, str],
) -> None:
    connect, outpost, kb, _ = setup
    sms = kb.create_template(
        channelSubtype="SMS", content={"sms": {"body": {"plainText": {"content": "hi"}}}}
    )["messageTemplateId"]
    kb.version(sms)
    kb.activate(sms, 1)
    with pytest.raises(ClientError) as exc:
        send(connect, outpost, kb.id, sms)
    assert error_code(exc) == "InvalidRequestException"
    assert "not EMAIL" in error_message(exc)


def test_an_unqualified_template_needs_an_active_version(
    setup: tuple[Any, Outpost, KnowledgeBase, str],
) -> None:
    connect, outpost, kb, _ = setup
    draft_only = kb.create_template(content=email_content("Plain", html=None, text="body"))[
        "messageTemplateId"
    ]
    with pytest.raises(ClientError) as exc:
        send(connect, outpost, kb.id, draft_only)
    assert error_code(exc) == "InvalidRequestException"
    assert "no active version" in error_message(exc)
    send(connect, outpost, kb.id, f"{draft_only}:$LATEST")  # the draft, when asked for


def test_attribute_values_cannot_break_headers(
    setup: tuple[Any, Outpost, KnowledgeBase, str],
) -> None:
    connect, outpost, kb, template_id = setup
    attributes = dict(COMPLETE, CustomAttributes={"Subject": "x\r\nBcc: victim@example.org"})
    with pytest.raises(ClientError) as exc:
        send(connect, outpost, kb.id, template_id, **attributes)
    assert error_code(exc) == "InvalidRequestException"
    assert "line breaks" in error_message(exc)


def test_a_rendering_too_long_refuses_the_email(
    setup: tuple[Any, Outpost, KnowledgeBase, str],
) -> None:
    connect, outpost, kb, _ = setup
    template_id = kb.create_template(content=email_content("Big", html=None, text=TOO_LONG_TEXT))[
        "messageTemplateId"
    ]
    with pytest.raises(ClientError) as exc:
        send(connect, outpost, kb.id, f"{template_id}:$LATEST", CustomAttributes=TOO_LONG_VALUES)
    assert error_code(exc) == "InvalidRequestException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "20000000 characters" in error_message(exc)


def test_raw_members_do_not_mix_with_templates(
    setup: tuple[Any, Outpost, KnowledgeBase, str],
) -> None:
    connect, outpost, _, _ = setup
    with pytest.raises(ClientError) as exc:
        connect.start_outbound_email_contact(
            InstanceId=outpost.instance_id,
            ContactId=outpost.contact(),
            DestinationEmailAddress={"EmailAddress": "jane@example.org"},
            EmailMessage={"MessageSourceType": "TEMPLATE"},
        )
    assert error_code(exc) == "InvalidRequestException"
