"""RenderMessageTemplate: what a template says with attributes, and what it still lacks."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.qconnect.kit import (
    TOO_LONG_TEXT,
    TOO_LONG_VALUES,
    KnowledgeBase,
    email_content,
    error_code,
    error_message,
)

WELCOME = email_content(
    "Welcome, {{Attributes.Customer.FirstName}} & co",
    html=(
        "<h1>Hi {{Attributes.Customer.FirstName}}</h1>"
        "<p>{{{Attributes.Custom.Banner}}}</p>"
        "{{#if Attributes.Customer.Attributes.Tier}}"
        "<p>Tier: {{Attributes.Customer.Attributes.Tier}}</p>"
        "{{else}}<p>No tier</p>{{/if}}"
    ),
    text=(
        "Hi {{Attributes.Customer.FirstName}},\n"
        "{{#unless Attributes.Custom.Quiet}}\nYour agent is {{Attributes.Agent.FirstName}}.\n"
        "{{/unless}}\nWrite to {{Attributes.System.SystemEmailAddress}}.\n"
    ),
    headers=[{"name": "X-Order", "value": "{{Attributes.Custom.OrderId}}"}],
)
DEFAULTS = {
    "agentAttributes": {"firstName": "Sam"},
    "customAttributes": {"OrderId": "none", "Banner": "<b>Spring sale</b>"},
    "systemAttributes": {"systemEndpoint": {"address": "support@example.com"}},
}


def test_renders_each_part_with_request_attributes_over_defaults(kb: KnowledgeBase) -> None:
    template_id = kb.create_template(content=WELCOME, defaultAttributes=DEFAULTS)[
        "messageTemplateId"
    ]
    rendered = kb.render(
        template_id,
        customerProfileAttributes={"firstName": "Jane <Doe>", "custom": {"Tier": "Gold & up"}},
        customAttributes={"OrderId": "A-42"},
    )
    email = rendered["content"]["email"]
    assert email["subject"] == "Welcome, Jane <Doe> & co"  # subject: not HTML, not escaped
    assert email["body"]["html"]["content"] == (
        "<h1>Hi Jane &lt;Doe&gt;</h1><p><b>Spring sale</b></p><p>Tier: Gold &amp; up</p>"
    )
    assert email["body"]["plainText"]["content"] == (
        "Hi Jane <Doe>,\nYour agent is Sam.\nWrite to support@example.com.\n"
    )
    assert email["headers"] == [{"name": "X-Order", "value": "A-42"}]
    assert rendered["attributesNotInterpolated"] == []


def test_unresolved_placeholders_stay_and_are_listed(kb: KnowledgeBase) -> None:
    template_id = kb.create_template(content=WELCOME)["messageTemplateId"]
    rendered = kb.render(template_id, customAttributes={"Quiet": "yes"})
    email = rendered["content"]["email"]
    assert email["subject"] == "Welcome, {{Attributes.Customer.FirstName}} & co"
    assert email["body"]["html"]["content"] == (
        "<h1>Hi {{Attributes.Customer.FirstName}}</h1><p>{{{Attributes.Custom.Banner}}}</p>"
        "<p>No tier</p>"
    )
    assert email["headers"] == [{"name": "X-Order", "value": "{{Attributes.Custom.OrderId}}"}]
    # Each once, in the order of the parts: subject, plain text, HTML, headers.
    assert rendered["attributesNotInterpolated"] == [
        "Attributes.Customer.FirstName",
        "Attributes.System.SystemEmailAddress",
        "Attributes.Custom.Banner",
        "Attributes.Custom.OrderId",
    ]


def test_renders_the_version_asked_for(kb: KnowledgeBase) -> None:
    template_id = kb.create_template(content=email_content("v1 {{Attributes.Custom.X}}"))[
        "messageTemplateId"
    ]
    kb.version(template_id)
    kb.client.update_message_template(
        knowledgeBaseId=kb.id,
        messageTemplateId=template_id,
        content=email_content("draft {{Attributes.Custom.X}}"),
    )
    kb.activate(template_id, 1)

    def subject(identifier: str) -> str:
        rendered = kb.render(identifier, customAttributes={"X": "x"})
        return str(rendered["content"]["email"]["subject"])

    assert subject(template_id) == "draft x"  # unqualified is $LATEST in the qconnect API
    assert subject(f"{template_id}:$LATEST") == "draft x"
    assert subject(f"{template_id}:1") == "v1 x"
    assert subject(f"{template_id}:$ACTIVE_VERSION") == "v1 x"


def test_all_attribute_namespaces(kb: KnowledgeBase) -> None:
    content = email_content(
        "{{Attributes.System.Name}}",
        html=None,
        text=(
            "{{Attributes.System.CustomerEndpointAddress}}|{{Attributes.System.SystemEmailAddress}}"
            "|{{Attributes.Agent.LastName}}|{{Attributes.Customer.ShippingCity}}"
            "|{{Attributes.Customer.CalculatedAttributes.Spend}}|{{Attributes.Case.Status}}"
            "|{{#each Attributes.Customer.Recommendations}}{{CatalogItem.Name}};{{/each}}"
        ),
    )
    template_id = kb.create_template(content=content)["messageTemplateId"]
    rendered = kb.render(
        template_id,
        systemAttributes={
            "name": "Jane",
            "customerEndpoint": {"address": "jane@example.org"},
            "systemEndpoint": {"address": "help@example.com"},
        },
        agentAttributes={"lastName": "Agent"},
        customerProfileAttributes={
            "shippingCity": "Lyon",
            "calculatedAttributes": {"Spend": "120"},
            "recommendations": [
                {"catalogItem": {"name": "Kettle"}},
                {"catalogItem": {"name": "Teapot"}},
            ],
        },
        caseAttributes={"Status": "open"},
    )
    email = rendered["content"]["email"]
    assert email["subject"] == "Jane"
    assert email["body"]["plainText"]["content"] == (
        "jane@example.org|help@example.com|Agent|Lyon|120|open|Kettle;Teapot;"
    )
    assert rendered["attributesNotInterpolated"] == []


def test_each_renders_at_most_fifteen_items(kb: KnowledgeBase) -> None:
    content = email_content("List", html=None, text="{{#each Attributes.Custom}}{{@key}};{{/each}}")
    template_id = kb.create_template(content=content)["messageTemplateId"]
    many = {f"k{n:02}": str(n) for n in range(20)}
    rendered = kb.render(template_id, customAttributes=many)
    text = rendered["content"]["email"]["body"]["plainText"]["content"]
    assert text == "".join(f"k{n:02};" for n in range(15))


def test_a_rendering_too_long_is_refused(kb: KnowledgeBase) -> None:
    template_id = kb.create_template(content=email_content("Big", html=None, text=TOO_LONG_TEXT))[
        "messageTemplateId"
    ]
    with pytest.raises(ClientError) as exc:
        kb.render(template_id, customAttributes=TOO_LONG_VALUES)
    assert error_code(exc) == "ValidationException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "20000000 characters" in error_message(exc)
