"""Knowledge bases through boto3's qconnect client, served from the same endpoint as Connect."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.qconnect.kit import KnowledgeBase, error_code, make_knowledge_base, unique_name
from tests.support.server import ServerProcess

MISSING_ID = "00000000-0000-4000-8000-000000000000"


def test_create_get_list_delete(qconnect: Any, shared_server: ServerProcess) -> None:
    name = unique_name("kb")
    created = qconnect.create_knowledge_base(
        name=name,
        knowledgeBaseType="MESSAGE_TEMPLATES",
        description="Templates for support",
        tags={"team": "support"},
        serverSideEncryptionConfiguration={"kmsKeyId": "alias/templates"},
    )["knowledgeBase"]
    kb_id = created["knowledgeBaseId"]
    assert created["knowledgeBaseArn"] == (
        f"arn:aws:wisdom:us-east-1:{shared_server.account_id}:knowledge-base/{kb_id}"
    )
    assert created["name"] == name
    assert created["knowledgeBaseType"] == "MESSAGE_TEMPLATES"
    assert created["status"] == "ACTIVE"
    assert created["tags"] == {"team": "support"}

    for identifier in (kb_id, created["knowledgeBaseArn"]):
        got = qconnect.get_knowledge_base(knowledgeBaseId=identifier)["knowledgeBase"]
        assert got["knowledgeBaseId"] == kb_id
        assert got["description"] == "Templates for support"
        assert got["serverSideEncryptionConfiguration"] == {"kmsKeyId": "alias/templates"}

    listed = [
        summary["knowledgeBaseId"]
        for page in qconnect.get_paginator("list_knowledge_bases").paginate(
            PaginationConfig={"PageSize": 1}
        )
        for summary in page["knowledgeBaseSummaries"]
    ]
    assert kb_id in listed

    deleted = qconnect.delete_knowledge_base(knowledgeBaseId=kb_id)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    # A 204 carries no body: the kept-alive connection serves the next call without a retry.
    with pytest.raises(ClientError) as exc:
        qconnect.get_knowledge_base(knowledgeBaseId=kb_id)
    assert error_code(exc) == "ResourceNotFoundException"
    assert exc.value.response["ResponseMetadata"]["RetryAttempts"] == 0
    assert exc.value.response["resourceName"] == kb_id


def test_only_message_template_knowledge_bases(qconnect: Any) -> None:
    with pytest.raises(ClientError) as exc:
        qconnect.create_knowledge_base(name=unique_name("kb"), knowledgeBaseType="CUSTOM")
    assert error_code(exc) == "ValidationException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_client_token_makes_create_idempotent(qconnect: Any) -> None:
    name = unique_name("kb")
    first = qconnect.create_knowledge_base(
        name=name, knowledgeBaseType="MESSAGE_TEMPLATES", clientToken="kb-token-" + name
    )["knowledgeBase"]
    again = qconnect.create_knowledge_base(
        name=name, knowledgeBaseType="MESSAGE_TEMPLATES", clientToken="kb-token-" + name
    )["knowledgeBase"]
    assert again["knowledgeBaseId"] == first["knowledgeBaseId"]
    with pytest.raises(ClientError) as exc:
        qconnect.create_knowledge_base(
            name=name + "-other",
            knowledgeBaseType="MESSAGE_TEMPLATES",
            clientToken="kb-token-" + name,
        )
    assert error_code(exc) == "ConflictException"


@pytest.mark.parametrize(
    "identifier",
    [
        MISSING_ID,
        f"arn:aws:wisdom:us-east-1:123456789012:knowledge-base/{MISSING_ID}",
    ],
)
def test_unknown_knowledge_base_is_not_found(qconnect: Any, identifier: str) -> None:
    with pytest.raises(ClientError) as exc:
        qconnect.get_knowledge_base(knowledgeBaseId=identifier)
    assert error_code(exc) == "ResourceNotFoundException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_another_accounts_arn_names_nothing(qconnect: Any, kb: KnowledgeBase) -> None:
    foreign = kb.arn.replace(kb.arn.split(":")[4], "111122223333")
    with pytest.raises(ClientError) as exc:
        qconnect.get_knowledge_base(knowledgeBaseId=foreign)
    assert error_code(exc) == "ResourceNotFoundException"


def test_malformed_identifier_is_a_validation_error(qconnect: Any) -> None:
    with pytest.raises(ClientError) as exc:
        qconnect.get_knowledge_base(knowledgeBaseId="not-a-knowledge-base")
    assert error_code(exc) == "ValidationException"


def test_deleting_a_knowledge_base_deletes_its_templates(qconnect: Any) -> None:
    kb = make_knowledge_base(qconnect)
    template = kb.create_template()
    kb.version(template["messageTemplateId"])
    qconnect.delete_knowledge_base(knowledgeBaseId=kb.id)
    with pytest.raises(ClientError) as exc:
        qconnect.get_message_template(
            knowledgeBaseId=kb.id, messageTemplateId=template["messageTemplateId"]
        )
    assert error_code(exc) == "ResourceNotFoundException"


def test_tags_on_a_knowledge_base(qconnect: Any, kb: KnowledgeBase) -> None:
    qconnect.tag_resource(resourceArn=kb.arn, tags={"team": "support", "tier": "gold"})
    qconnect.untag_resource(resourceArn=kb.arn, tagKeys=["tier"])
    assert qconnect.list_tags_for_resource(resourceArn=kb.arn)["tags"] == {"team": "support"}
    got = qconnect.get_knowledge_base(knowledgeBaseId=kb.id)["knowledgeBase"]
    assert got["tags"] == {"team": "support"}
    with pytest.raises(ClientError) as exc:
        qconnect.tag_resource(resourceArn=kb.arn, tags={"aws:reserved": "x"})
    assert error_code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        qconnect.tag_resource(resourceArn=kb.arn, tags={f"k{n}": "v" for n in range(50)})
    assert error_code(exc) == "TooManyTagsException"
    missing = kb.arn.replace(kb.id, MISSING_ID)
    with pytest.raises(ClientError) as exc:
        qconnect.list_tags_for_resource(resourceArn=missing)
    assert error_code(exc) == "ResourceNotFoundException"


def test_last_content_modification_follows_its_templates(qconnect: Any) -> None:
    """Unset while the knowledge base holds no template; then when one last changed."""
    kb = make_knowledge_base(qconnect)

    def content_time() -> Any:
        got = qconnect.get_knowledge_base(knowledgeBaseId=kb.id)["knowledgeBase"]
        return got.get("lastContentModificationTime")

    assert content_time() is None
    template = kb.create_template()
    created = content_time()
    assert created is not None and created >= template["createdTime"]
    template_id = template["messageTemplateId"]
    changes = (
        lambda: qconnect.update_message_template_metadata(
            knowledgeBaseId=kb.id, messageTemplateId=template_id, description="changed"
        ),
        lambda: kb.version(template_id),
        lambda: qconnect.activate_message_template(
            knowledgeBaseId=kb.id, messageTemplateId=template_id, versionNumber=1
        ),
    )
    before = created
    for change in changes:
        time.sleep(0.01)  # the times are of milliseconds
        change()
        after = content_time()
        assert after > before
        before = after
    qconnect.deactivate_message_template(
        knowledgeBaseId=kb.id, messageTemplateId=template_id, versionNumber=1
    )
    qconnect.delete_message_template(knowledgeBaseId=kb.id, messageTemplateId=template_id)
    assert content_time() is None
