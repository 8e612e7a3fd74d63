"""Message templates: the $LATEST draft, identifiers, checks, metadata, listing and tags."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.qconnect.kit import (
    KnowledgeBase,
    email_content,
    error_code,
    error_message,
    make_knowledge_base,
    unique_name,
)
from tests.support.server import ServerProcess

MISSING_ID = "00000000-0000-4000-8000-000000000000"


def test_create_and_get_the_draft(kb: KnowledgeBase, shared_server: ServerProcess) -> None:
    content = email_content(
        "Your order {{Attributes.Custom.OrderId}}",
        html="<p>Hi {{Attributes.Customer.FirstName}}, from {{Attributes.Agent.FirstName}}</p>",
        text="Hi {{Attributes.Customer.FirstName}} ({{Attributes.System.CustomerEndpointAddress}})",
        headers=[{"name": "X-Campaign", "value": "spring"}],
    )
    defaults = {"customAttributes": {"OrderId": "0"}, "agentAttributes": {"firstName": "Sam"}}
    created = kb.create_template(
        name="order-shipped",
        description="Sent when an order ships",
        content=content,
        language="en_US",
        defaultAttributes=defaults,
        groupingConfiguration={"criteria": "RoutingProfileArn", "values": ["a", "b"]},
        tags={"team": "orders"},
    )
    template_id = created["messageTemplateId"]
    assert created["messageTemplateArn"] == (
        f"arn:aws:wisdom:us-east-1:{shared_server.account_id}:message-template/{kb.id}/{template_id}"
    )
    assert created["knowledgeBaseId"] == kb.id
    assert created["knowledgeBaseArn"] == kb.arn
    assert created["channelSubtype"] == "EMAIL"
    assert created["content"] == content
    assert created["defaultAttributes"] == defaults
    assert len(created["messageTemplateContentSha256"]) == 64
    assert created["lastModifiedBy"] == f"arn:aws:iam::{shared_server.account_id}:root"

    got = kb.get(template_id)
    assert got["name"] == "order-shipped"
    assert got["description"] == "Sent when an order ships"
    assert got["language"] == "en_US"
    assert got["groupingConfiguration"] == {"criteria": "RoutingProfileArn", "values": ["a", "b"]}
    assert got["tags"] == {"team": "orders"}
    assert sorted(got["attributeTypes"]) == ["AGENT", "CUSTOM", "CUSTOMER_PROFILE", "SYSTEM"]
    assert "versionNumber" not in got
    assert got["messageTemplateContentSha256"] == created["messageTemplateContentSha256"]


def test_identifiers_with_and_without_qualifiers(kb: KnowledgeBase) -> None:
    template = kb.create_template()
    template_id, arn = template["messageTemplateId"], template["messageTemplateArn"]
    kb.version(template_id)
    for identifier in (template_id, f"{template_id}:$LATEST", arn, f"{arn}:$LATEST"):
        got = kb.client.get_message_template(knowledgeBaseId=kb.arn, messageTemplateId=identifier)
        assert got["messageTemplate"]["messageTemplateArn"] == arn
        assert "versionNumber" not in got["messageTemplate"]
    for identifier in (f"{template_id}:1", f"{arn}:1"):
        got = kb.get(identifier)
        assert got["versionNumber"] == 1
        assert got["messageTemplateArn"] == f"{arn}:1"
    with pytest.raises(ClientError) as exc:
        kb.get(f"{template_id}:$ACTIVE_VERSION")
    assert error_code(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        kb.get(f"{template_id}:7")
    assert error_code(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        kb.get(MISSING_ID)
    assert error_code(exc) == "ResourceNotFoundException"


def test_a_template_belongs_to_its_knowledge_base(qconnect: Any, kb: KnowledgeBase) -> None:
    template = kb.create_template()
    other = make_knowledge_base(qconnect)
    for identifier in (template["messageTemplateId"], template["messageTemplateArn"]):
        with pytest.raises(ClientError) as exc:
            other.get(identifier)
        assert error_code(exc) == "ResourceNotFoundException"


def test_names_are_unique_in_a_knowledge_base(qconnect: Any, kb: KnowledgeBase) -> None:
    kb.create_template(name="welcome")
    with pytest.raises(ClientError) as exc:
        kb.create_template(name="welcome")
    assert error_code(exc) == "ConflictException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    make_knowledge_base(qconnect).create_template(name="welcome")  # another knowledge base
    second = kb.create_template(name="welcome-2")
    with pytest.raises(ClientError) as exc:
        qconnect.update_message_template_metadata(
            knowledgeBaseId=kb.id, messageTemplateId=second["messageTemplateId"], name="welcome"
        )
    assert error_code(exc) == "ConflictException"


def test_update_changes_the_draft_and_its_checksum(kb: KnowledgeBase) -> None:
    template = kb.create_template(language="en_US")
    template_id, sha = template["messageTemplateId"], template["messageTemplateContentSha256"]
    new_content = email_content("New subject", html="<p>new</p>", text=None)
    updated = kb.client.update_message_template(
        knowledgeBaseId=kb.id, messageTemplateId=template_id, content=new_content
    )["messageTemplate"]
    assert updated["content"] == new_content
    assert updated["language"] == "en_US"  # not given: unchanged
    assert updated["messageTemplateContentSha256"] != sha
    sha_after_content = updated["messageTemplateContentSha256"]

    updated = kb.client.update_message_template(
        knowledgeBaseId=kb.id,
        messageTemplateId=template_id,
        defaultAttributes={"customAttributes": {"A": "1"}},
    )["messageTemplate"]
    assert updated["content"] == new_content
    assert updated["messageTemplateContentSha256"] != sha_after_content
    sha_after_defaults = updated["messageTemplateContentSha256"]

    updated = kb.client.update_message_template(
        knowledgeBaseId=kb.id, messageTemplateId=template_id, language="de_DE"
    )["messageTemplate"]
    assert updated["messageTemplateContentSha256"] != sha_after_defaults

    # Metadata is not content: the checksum stays.
    renamed = kb.client.update_message_template_metadata(
        knowledgeBaseId=kb.id,
        messageTemplateId=template_id,
        name="renamed",
        description="now described",
    )["messageTemplate"]
    assert renamed["name"] == "renamed"
    assert renamed["description"] == "now described"
    assert renamed["messageTemplateContentSha256"] == updated["messageTemplateContentSha256"]


def test_update_takes_no_qualifier(kb: KnowledgeBase) -> None:
    template_id = kb.create_template()["messageTemplateId"]
    with pytest.raises(ClientError) as exc:
        kb.client.update_message_template(
            knowledgeBaseId=kb.id,
            messageTemplateId=f"{template_id}:$LATEST",
            content=email_content(),
        )
    assert error_code(exc) == "ValidationException"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (email_content("{{#with Attributes}}x{{/with}}"), "with helper is not supported"),
        (email_content(html="<p>{{#if x}}open</p>"), "unclosed block"),
        (email_content(text="{{shout Attributes.Custom.X}}"), "unknown helper"),
        (email_content("Two\nlines"), "line breaks"),
        (
            email_content(headers=[{"name": "Bad Name", "value": "x"}]),
            "without spaces or colons",
        ),
        (email_content(headers=[{"name": "X-A:B", "value": "x"}]), "without spaces or colons"),
        (email_content(headers=[{"name": "From", "value": "x@example.com"}]), "From header"),
        (email_content(headers=[{"name": "message-id", "value": "<x@y>"}]), "message-id"),
        (
            email_content(headers=[{"name": "X-A", "value": "1"}, {"name": "x-a", "value": "2"}]),
            "more than once",
        ),
        (
            {"sms": {"body": {"plainText": {"content": "hi"}}}},
            "Message templates of channel subtype EMAIL take content.email, not content.sms.",
        ),
    ],
)
def test_content_that_cannot_make_an_email_is_refused(
    kb: KnowledgeBase, content: dict[str, Any], message: str
) -> None:
    with pytest.raises(ClientError) as exc:
        kb.create_template(content=content)
    assert error_code(exc) == "ValidationException"
    assert message in error_message(exc)


def test_a_header_value_with_a_line_break_is_refused(kb: KnowledgeBase) -> None:
    # Not through boto3's own checks: the header value pattern admits anything.
    content = email_content(headers=[{"name": "X-Injected", "value": "a\r\nBcc: x@evil.test"}])
    with pytest.raises(ClientError) as exc:
        kb.create_template(content=content)
    assert error_code(exc) == "ValidationException"


@pytest.mark.parametrize(
    "name",
    [
        # MIME structure: every Content-* (RFC 2045, 2183, 3282, ...), not only those sent.
        "Content-Type",
        "content-language",
        "Content-Length",
        "Content-Location",
        "Content-Base",
        "Content-Description",
        "Content-MD5",
        # Transport: RFC 5322's resent and trace fields, what relays and signers add.
        "Resent-From",
        "Resent-Message-ID",
        "Return-Path",
        "Received-SPF",
        "Delivered-To",
        "ARC-Seal",
        "Authentication-Results",
        "Errors-To",
    ],
)
def test_headers_of_mime_structure_and_transport_are_refused(kb: KnowledgeBase, name: str) -> None:
    with pytest.raises(ClientError) as exc:
        kb.create_template(content=email_content(headers=[{"name": name, "value": "x"}]))
    assert error_code(exc) == "ValidationException"
    assert f"the {name} header" in error_message(exc)


def test_headers_of_the_message_itself_are_allowed(kb: KnowledgeBase) -> None:
    headers = [
        {"name": name, "value": "x"}
        for name in ("Reply-To", "List-Unsubscribe", "X-Content-Kind", "X-Resent", "Keywords")
    ]
    created = kb.create_template(content=email_content(headers=headers))
    assert created["content"]["email"]["headers"] == headers


def test_sms_templates(kb: KnowledgeBase) -> None:
    created = kb.create_template(
        channelSubtype="SMS",
        content={"sms": {"body": {"plainText": {"content": "Code {{Attributes.Custom.Code}}"}}}},
    )
    rendered = kb.render(created["messageTemplateId"], customAttributes={"Code": "<42>"})
    assert rendered["content"] == {"sms": {"body": {"plainText": {"content": "Code <42>"}}}}


def test_delete_the_whole_template(kb: KnowledgeBase) -> None:
    template_id = kb.create_template()["messageTemplateId"]
    kb.version(template_id)
    response = kb.client.delete_message_template(
        knowledgeBaseId=kb.id, messageTemplateId=template_id
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    for identifier in (template_id, f"{template_id}:1"):
        with pytest.raises(ClientError) as exc:
            kb.get(identifier)
        assert error_code(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        kb.client.delete_message_template(knowledgeBaseId=kb.id, messageTemplateId=template_id)
    assert error_code(exc) == "ResourceNotFoundException"


def test_list_pages_through_templates(kb: KnowledgeBase) -> None:
    made = [kb.create_template(name=f"t{n}")["messageTemplateId"] for n in range(5)]
    kb.version(made[0])
    kb.activate(made[0], 1)
    summaries = [
        summary
        for page in kb.client.get_paginator("list_message_templates").paginate(
            knowledgeBaseId=kb.id, PaginationConfig={"PageSize": 2}
        )
        for summary in page["messageTemplateSummaries"]
    ]
    assert [s["messageTemplateId"] for s in summaries] == made
    assert [s["name"] for s in summaries] == [f"t{n}" for n in range(5)]
    assert summaries[0]["activeVersionNumber"] == 1
    assert "activeVersionNumber" not in summaries[1]
    assert {s["channelSubtype"] for s in summaries} == {"EMAIL"}


def test_tags_on_a_template(kb: KnowledgeBase) -> None:
    template = kb.create_template(tags={"a": "1"})
    arn = template["messageTemplateArn"]
    kb.client.tag_resource(resourceArn=arn, tags={"b": "2"})
    assert kb.client.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1", "b": "2"}
    kb.client.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert kb.client.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    assert kb.get(template["messageTemplateId"])["tags"] == {"b": "2"}


def test_create_is_idempotent_with_a_client_token(kb: KnowledgeBase) -> None:
    name = unique_name()
    first = kb.create_template(name=name, clientToken="token-" + name)
    again = kb.create_template(name=name, clientToken="token-" + name)
    assert again["messageTemplateId"] == first["messageTemplateId"]
