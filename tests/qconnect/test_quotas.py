"""AWS's quotas on message templates, at their real values."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.qconnect.kit import KnowledgeBase, email_content, error_code, error_message


def test_two_hundred_templates_per_knowledge_base(kb: KnowledgeBase) -> None:
    content = email_content("s", html=None, text="t")
    for n in range(200):
        kb.client.create_message_template(
            knowledgeBaseId=kb.id, name=f"t{n:03}", channelSubtype="EMAIL", content=content
        )
    with pytest.raises(ClientError) as exc:
        kb.create_template(name="one-too-many")
    assert error_code(exc) == "ServiceQuotaExceededException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 402


def test_twenty_versions_per_template(kb: KnowledgeBase) -> None:
    template_id = kb.create_template(content=email_content("v0"))["messageTemplateId"]
    for n in range(1, 21):
        kb.client.update_message_template(
            knowledgeBaseId=kb.id, messageTemplateId=template_id, content=email_content(f"v{n}")
        )
        assert kb.version(template_id)["versionNumber"] == n
    kb.client.update_message_template(
        knowledgeBaseId=kb.id, messageTemplateId=template_id, content=email_content("v21")
    )
    with pytest.raises(ClientError) as exc:
        kb.version(template_id)
    assert error_code(exc) == "ServiceQuotaExceededException"
    # Deleting one makes room; numbers keep going up.
    kb.client.delete_message_template(knowledgeBaseId=kb.id, messageTemplateId=f"{template_id}:3")
    assert kb.version(template_id)["versionNumber"] == 21


def test_five_million_characters_per_email_template(kb: KnowledgeBase) -> None:
    at_limit = email_content("s", html="x" * (5_000_000 - 2), text="t")
    template_id = kb.create_template(content=at_limit)["messageTemplateId"]
    over = email_content("s", html="x" * (5_000_000 - 1), text="t")
    with pytest.raises(ClientError) as exc:
        kb.create_template(content=over)
    assert error_code(exc) == "ServiceQuotaExceededException"
    with pytest.raises(ClientError) as exc:
        kb.client.update_message_template(
            knowledgeBaseId=kb.id, messageTemplateId=template_id, content=over
        )
    # UpdateMessageTemplate's model has no ServiceQuotaExceededException.
    assert error_code(exc) == "ValidationException"
    assert "at most 5000000 characters" in error_message(exc)


def test_content_over_the_quota_is_refused_unread(kb: KnowledgeBase) -> None:
    # Reading millions of characters of tags takes minutes: the size is checked first, so
    # this answers at once, about the quota and not about the `with` that reading would find.
    over = email_content("s", html="{{#with x}}" + "{{a}}" * 1_000_000, text=None)
    with pytest.raises(ClientError) as exc:
        kb.create_template(content=over)
    assert error_code(exc) == "ServiceQuotaExceededException"
    template_id = kb.create_template()["messageTemplateId"]
    with pytest.raises(ClientError) as exc:
        kb.client.update_message_template(
            knowledgeBaseId=kb.id, messageTemplateId=template_id, content=over
        )
    assert error_code(exc) == "ValidationException"
    assert "at most 5000000 characters" in error_message(exc)
