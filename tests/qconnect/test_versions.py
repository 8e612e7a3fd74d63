"""Versions: frozen copies of the draft, numbered upward; activation; the checksum guard."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.qconnect.kit import KnowledgeBase, email_content, error_code


def test_versions_are_numbered_upward_and_immutable(kb: KnowledgeBase) -> None:
    template = kb.create_template(content=email_content("first"))
    template_id, arn = template["messageTemplateId"], template["messageTemplateArn"]
    one = kb.version(template_id)
    assert one["versionNumber"] == 1
    assert one["messageTemplateArn"] == f"{arn}:1"
    assert one["isActive"] is False
    assert one["messageTemplateContentSha256"] == template["messageTemplateContentSha256"]

    kb.client.update_message_template(
        knowledgeBaseId=kb.id, messageTemplateId=template_id, content=email_content("second")
    )
    two = kb.version(template_id)
    assert two["versionNumber"] == 2
    assert kb.get(f"{template_id}:1")["content"]["email"]["subject"] == "first"
    assert kb.get(f"{template_id}:2")["content"]["email"]["subject"] == "second"

    kb.client.update_message_template(
        knowledgeBaseId=kb.id, messageTemplateId=template_id, content=email_content("draft")
    )
    assert kb.get(template_id)["content"]["email"]["subject"] == "draft"
    assert kb.get(f"{template_id}:2")["content"]["email"]["subject"] == "second"

    # A deleted version's number is never given again.
    kb.client.delete_message_template(knowledgeBaseId=kb.id, messageTemplateId=f"{template_id}:2")
    with pytest.raises(ClientError) as exc:
        kb.get(f"{template_id}:2")
    assert error_code(exc) == "ResourceNotFoundException"
    assert kb.version(template_id)["versionNumber"] == 3

    listed = kb.client.list_message_template_versions(
        knowledgeBaseId=kb.id, messageTemplateId=template_id
    )["messageTemplateVersionSummaries"]
    assert [v["versionNumber"] for v in listed] == [1, 3]
    assert [v["messageTemplateArn"] for v in listed] == [f"{arn}:1", f"{arn}:3"]


def test_an_unchanged_draft_gives_the_same_version(kb: KnowledgeBase) -> None:
    template_id = kb.create_template()["messageTemplateId"]
    first = kb.version(template_id)
    again = kb.version(template_id)
    assert again["versionNumber"] == first["versionNumber"] == 1
    # Metadata is not content either.
    kb.client.update_message_template_metadata(
        knowledgeBaseId=kb.id, messageTemplateId=template_id, description="described"
    )
    assert kb.version(template_id)["versionNumber"] == 1


def test_the_checksum_guards_against_a_changed_draft(kb: KnowledgeBase) -> None:
    template = kb.create_template()
    template_id, sha = template["messageTemplateId"], template["messageTemplateContentSha256"]
    kb.client.update_message_template(
        knowledgeBaseId=kb.id, messageTemplateId=template_id, content=email_content("changed")
    )
    with pytest.raises(ClientError) as exc:
        kb.client.create_message_template_version(
            knowledgeBaseId=kb.id, messageTemplateId=template_id, messageTemplateContentSha256=sha
        )
    assert error_code(exc) == "ConflictException"
    current = kb.get(template_id)["messageTemplateContentSha256"]
    made = kb.client.create_message_template_version(
        knowledgeBaseId=kb.id, messageTemplateId=template_id, messageTemplateContentSha256=current
    )["messageTemplate"]
    assert made["content"]["email"]["subject"] == "changed"


def test_activating_a_version_deactivates_the_previous(kb: KnowledgeBase) -> None:
    template_id = kb.create_template(content=email_content("v1"))["messageTemplateId"]
    kb.version(template_id)
    kb.client.update_message_template(
        knowledgeBaseId=kb.id, messageTemplateId=template_id, content=email_content("v2")
    )
    kb.version(template_id)

    answer = kb.client.activate_message_template(
        knowledgeBaseId=kb.id, messageTemplateId=template_id, versionNumber=1
    )
    assert answer["versionNumber"] == 1
    assert answer["messageTemplateArn"].endswith(f"{template_id}:1")
    assert kb.get(f"{template_id}:$ACTIVE_VERSION")["content"]["email"]["subject"] == "v1"

    kb.activate(template_id, 2)
    active = kb.get(f"{template_id}:$ACTIVE_VERSION")
    assert active["versionNumber"] == 2 and active["isActive"] is True
    assert kb.get(f"{template_id}:1")["isActive"] is False
    listed = kb.client.list_message_template_versions(
        knowledgeBaseId=kb.id, messageTemplateId=template_id
    )["messageTemplateVersionSummaries"]
    assert [(v["versionNumber"], v["isActive"]) for v in listed] == [(1, False), (2, True)]

    # The active version cannot be deleted; a deactivated one can.
    with pytest.raises(ClientError) as exc:
        kb.client.delete_message_template(
            knowledgeBaseId=kb.id, messageTemplateId=f"{template_id}:2"
        )
    assert error_code(exc) == "ConflictException"
    with pytest.raises(ClientError) as exc:
        kb.client.deactivate_message_template(
            knowledgeBaseId=kb.id, messageTemplateId=template_id, versionNumber=1
        )
    assert error_code(exc) == "ConflictException"
    kb.client.deactivate_message_template(
        knowledgeBaseId=kb.id, messageTemplateId=template_id, versionNumber=2
    )
    with pytest.raises(ClientError) as exc:
        kb.get(f"{template_id}:$ACTIVE_VERSION")
    assert error_code(exc) == "ResourceNotFoundException"
    kb.client.delete_message_template(knowledgeBaseId=kb.id, messageTemplateId=f"{template_id}:2")


def test_activation_errors(kb: KnowledgeBase) -> None:
    template_id = kb.create_template()["messageTemplateId"]
    with pytest.raises(ClientError) as exc:
        kb.activate(template_id, 1)
    assert error_code(exc) == "ResourceNotFoundException"
    kb.version(template_id)
    with pytest.raises(ClientError) as exc:
        kb.client.activate_message_template(
            knowledgeBaseId=kb.id, messageTemplateId=f"{template_id}:1", versionNumber=1
        )
    assert error_code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        kb.client.delete_message_template(
            knowledgeBaseId=kb.id, messageTemplateId=f"{template_id}:$ACTIVE_VERSION"
        )
    assert error_code(exc) == "ValidationException"
