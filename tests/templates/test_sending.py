"""StartOutboundEmailContact with a message template: boto3 in, rendered email at the relay."""

from __future__ import annotations

import json
import uuid
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from tests.qconnect.kit import KnowledgeBase, email_content, make_knowledge_base
from tests.support.connect import Outpost, make_outpost
from tests.templates.conftest import MailServer

GREETING = (
    "{{#if Attributes.Customer.FirstName}}{{Attributes.Customer.FirstName}}{{else}}there{{/if}}"
)
ORDER_SHIPPED = email_content(
    "Order {{Attributes.Custom.OrderId}} has shipped",
    html=(
        f"<p>Hi {GREETING},</p>\n"
        "<p>Tier: {{Attributes.Customer.Attributes.Tier}}</p>\n"
        "<p>Ship to {{Attributes.Customer.ShippingCity}}</p>\n"
        "<p>{{{Attributes.Custom.Signature}}}</p>\n"
        "<p>To {{Attributes.System.CustomerEndpointAddress}} "
        "from {{Attributes.System.SystemEmailAddress}}, {{Attributes.Agent.FirstName}}</p>\n"
    ),
    text=(
        f"Hi {GREETING},\n"
        "Tier: {{Attributes.Customer.Attributes.Tier}}\n"
        "{{#each Attributes.Customer.Attributes}}\n- {{@key}}: {{this}}\n{{/each}}\n"
        "{{Attributes.Agent.FirstName}}\n"
    ),
    headers=[
        {"name": "X-Order-Id", "value": "{{Attributes.Custom.OrderId}}"},
        {"name": "Reply-To", "value": "orders@example.com"},
    ],
)
DEFAULTS = {
    "agentAttributes": {"firstName": "Sam"},
    "customAttributes": {"OrderId": "(no number)", "Signature": "<i>The team</i>"},
    "customerProfileAttributes": {"custom": {"Tier": "Standard"}, "shippingCity": "Paris"},
}


def parse(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def parts(message: EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.iter_parts()
    assert isinstance(plain, EmailMessage) and isinstance(html, EmailMessage)
    assert plain.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    # As the reader sees them: the wire's CRLF line ends as newlines.
    return (
        str(plain.get_content()).replace("\r\n", "\n"),
        str(html.get_content()).replace("\r\n", "\n"),
    )


def recipient() -> str:
    return f"customer-{uuid.uuid4().hex[:10]}@example.org"


def templated(
    outpost: Outpost, kb_id: str, template_id: str, to: str, **attributes: Any
) -> dict[str, Any]:
    return {
        "InstanceId": outpost.instance_id,
        "ContactId": outpost.contact(),
        "DestinationEmailAddress": {"EmailAddress": to, "DisplayName": "Jane Doe"},
        "EmailMessage": {
            "MessageSourceType": "TEMPLATE",
            "TemplatedMessageConfig": {
                "KnowledgeBaseId": kb_id,
                "MessageTemplateId": template_id,
                "TemplateAttributes": attributes,
            },
        },
    }


@pytest.fixture(scope="module")
def setup(mail_server: MailServer) -> tuple[Any, Outpost, KnowledgeBase, str]:
    """An outpost, a knowledge base, and ORDER_SHIPPED with version 1 active."""
    connect = mail_server.server.client()
    kb = make_knowledge_base(mail_server.server.client("qconnect"))
    template_id = kb.create_template(content=ORDER_SHIPPED, defaultAttributes=DEFAULTS)[
        "messageTemplateId"
    ]
    kb.version(template_id)
    kb.activate(template_id, 1)
    return connect, make_outpost(connect), kb, template_id


def test_the_rendered_email_reaches_the_relay(
    mail_server: MailServer, setup: tuple[Any, Outpost, KnowledgeBase, str]
) -> None:
    connect, outpost, kb, template_id = setup
    to = recipient()
    profile = {
        "FirstName": "Jane <J>",
        "LastName": "Doe",
        "ShippingAddress": {"City": "Lyon & Co"},
        "Attributes": {"Tier": "Gold & Silver"},
    }
    request = templated(
        outpost,
        kb.id,
        template_id,
        to,
        CustomAttributes={"OrderId": "A&B<1>"},
        CustomerProfileAttributes=json.dumps(profile),
    )
    answer = connect.start_outbound_email_contact(**request)
    assert answer["ContactId"] == request["ContactId"]

    received = mail_server.mail_to(to)
    assert received.mail_from == outpost.sender
    message = parse(received.data)
    assert str(message["Subject"]) == "Order A&B<1> has shipped"  # never HTML-escaped
    assert message["X-Order-Id"] == "A&B<1>"
    assert message["Reply-To"] == "orders@example.com"
    assert message["To"].addresses[0].addr_spec == to
    plain, html = parts(message)
    assert plain == "Hi Jane <J>,\nTier: Gold & Silver\n- Tier: Gold & Silver\nSam\n"
    assert html == (
        "<p>Hi Jane &lt;J&gt;,</p>\n"
        "<p>Tier: Gold &amp; Silver</p>\n"
        "<p>Ship to Lyon &amp; Co</p>\n"
        "<p><i>The team</i></p>\n"
        f"<p>To {to} from {outpost.sender}, Sam</p>\n"
    )
    assert b"{{" not in received.data

    contact = connect.describe_contact(
        InstanceId=outpost.instance_id, ContactId=answer["ContactId"]
    )
    segment = contact["Contact"]["SegmentAttributes"]
    assert segment["connect:EmailSubject"] == {"ValueString": "Order A&B<1> has shipped"}


def test_defaults_and_conditions_fill_what_is_not_given(
    mail_server: MailServer, setup: tuple[Any, Outpost, KnowledgeBase, str]
) -> None:
    connect, outpost, kb, template_id = setup
    to = recipient()
    connect.start_outbound_email_contact(**templated(outpost, kb.id, template_id, to))
    message = parse(mail_server.mail_to(to).data)
    assert str(message["Subject"]) == "Order (no number) has shipped"
    plain, html = parts(message)
    assert plain.startswith("Hi there,\nTier: Standard\n")
    assert "<p>Ship to Paris</p>" in html


def test_sending_uses_the_active_version_until_another_is_activated(
    mail_server: MailServer, setup: tuple[Any, Outpost, KnowledgeBase, str]
) -> None:
    connect, outpost, kb, _ = setup
    template_id = kb.create_template(content=email_content("Version one", text="one", html=None))[
        "messageTemplateId"
    ]
    kb.version(template_id)
    kb.activate(template_id, 1)
    kb.client.update_message_template(
        knowledgeBaseId=kb.id,
        messageTemplateId=template_id,
        content=email_content("Draft two", text="two", html=None),
    )

    def subject_sent(identifier: str) -> str:
        to = recipient()
        connect.start_outbound_email_contact(**templated(outpost, kb.arn, identifier, to))
        message = parse(mail_server.mail_to(to).data)
        assert message.get_content_type() == "text/plain"  # one body: no alternative
        return str(message["Subject"])

    assert subject_sent(template_id) == "Version one"
    assert subject_sent(f"{template_id}:$LATEST") == "Draft two"
    template_arn = kb.get(template_id)["messageTemplateArn"]
    kb.version(template_id)
    assert subject_sent(template_arn) == "Version one"  # version 2 exists but is not active
    assert subject_sent(f"{template_arn}:2") == "Draft two"
    kb.activate(template_id, 2)
    assert subject_sent(template_id) == "Draft two"
    assert subject_sent(f"{template_id}:1") == "Version one"


def test_a_templated_send_is_idempotent(
    mail_server: MailServer, setup: tuple[Any, Outpost, KnowledgeBase, str]
) -> None:
    connect, outpost, kb, template_id = setup
    to = recipient()
    request = templated(outpost, kb.id, template_id, to, CustomAttributes={"OrderId": "7"}) | {
        "ClientToken": f"templated-{uuid.uuid4()}"
    }
    first = connect.start_outbound_email_contact(**request)
    # The same request again answers as before: the contact is not sent twice.
    again = connect.start_outbound_email_contact(**request)
    assert again["ContactId"] == first["ContactId"]
    changed = dict(request)
    changed["EmailMessage"] = json.loads(json.dumps(request["EmailMessage"]))
    changed["EmailMessage"]["TemplatedMessageConfig"]["TemplateAttributes"] = {
        "CustomAttributes": {"OrderId": "8"}
    }
    with pytest.raises(connect.exceptions.IdempotencyException):
        connect.start_outbound_email_contact(**changed)
    assert str(parse(mail_server.mail_to(to).data)["Subject"]) == "Order 7 has shipped"
