"""Where Amazon Q in Connect's model and documentation say what a message template call answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError

from tests.qconnect.kit import (
    KnowledgeBase,
    email_content,
    error_code,
    make_knowledge_base,
    search_all,
    unique_name,
)
from tests.support.server import ServerProcess

WHATSAPP_SOURCE = {"whatsApp": {"businessAccountId": "waba-123", "templateId": "456"}}


def _raw_bodies(client: Any, operation: str) -> list[dict[str, Any]]:
    """The JSON bodies of `operation`'s answers, as they came over the wire, from now on."""
    bodies: list[dict[str, Any]] = []

    def keep(http_response: Any, **_: Any) -> None:
        bodies.append(orjson.loads(http_response.content))

    client.meta.events.register(f"after-call.qconnect.{operation}", keep)
    return bodies


def test_a_replayed_client_token_answers_as_the_first_request_did(kb: KnowledgeBase) -> None:
    """The same token and request give the same answer, timestamps included, in the model's
    formats: epoch seconds for a knowledge base, RFC 3339 with a `Z` for a template."""
    client = kb.client
    name = unique_name()
    raw_templates = _raw_bodies(client, "CreateMessageTemplate")
    answers = [
        client.create_message_template(
            knowledgeBaseId=kb.id,
            name=name,
            channelSubtype="EMAIL",
            content=email_content(),
            clientToken="token-" + name,
        )["messageTemplate"]
        for _ in range(2)
    ]
    assert answers[1] == answers[0]
    assert raw_templates[1] == raw_templates[0]
    assert raw_templates[0]["messageTemplate"]["createdTime"].endswith("Z")

    raw_knowledge_bases = _raw_bodies(client, "CreateKnowledgeBase")
    kb_name = unique_name("kb")
    for _ in range(2):
        client.create_knowledge_base(
            name=kb_name, knowledgeBaseType="MESSAGE_TEMPLATES", clientToken="token-" + kb_name
        )
    first, again = (body["knowledgeBase"]["lastModifiedTime"] for body in raw_knowledge_bases)
    assert isinstance(first, float)
    assert again == first


def _search(kb: KnowledgeBase, **expression: Any) -> list[dict[str, Any]]:
    return search_all(kb, 1, **expression)


def test_a_version_two_qualifiers_name_is_found_once(kb: KnowledgeBase) -> None:
    template = kb.create_template()
    template_id, arn = template["messageTemplateId"], template["messageTemplateArn"]
    kb.version(template_id)
    kb.activate(template_id, 1)
    found = _search(
        kb,
        filters=[
            {
                "name": "qualifier",
                "values": ["$ACTIVE_VERSION", "1", "$LATEST"],
                "operator": "EQUALS",
            }
        ],
    )
    assert [r["messageTemplateArn"] for r in found] == [f"{arn}:1", arn]


def test_a_changed_source_configuration_makes_a_new_version(kb: KnowledgeBase) -> None:
    """CreateMessageTemplateVersion copies 'the current content and configuration'; only a
    template that 'remains the same' gives the version made before."""
    template = kb.create_template(
        channelSubtype="WHATSAPP",
        content={"whatsApp": {"data": "order"}},
        sourceConfiguration=WHATSAPP_SOURCE,
    )
    template_id = template["messageTemplateId"]
    assert kb.version(template_id)["versionNumber"] == 1
    moved = {"whatsApp": {"businessAccountId": "waba-999", "templateId": "789"}}
    kb.client.update_message_template(
        knowledgeBaseId=kb.id, messageTemplateId=template_id, sourceConfiguration=moved
    )
    made = kb.version(template_id)
    assert made["versionNumber"] == 2
    assert made["sourceConfigurationSummary"]["whatsApp"]["businessAccountId"] == "waba-999"
    first = kb.get(f"{template_id}:1")["sourceConfigurationSummary"]["whatsApp"]
    assert first["businessAccountId"] == "waba-123"
    assert kb.version(template_id)["versionNumber"] == 2  # unchanged since: the same one


@pytest.mark.parametrize("channel", ["EMAIL", "SMS"])
def test_a_source_configuration_is_only_for_whatsapp(kb: KnowledgeBase, channel: str) -> None:
    """'Only set this argument for WHATSAPP channel subtype' (CreateMessageTemplate,
    UpdateMessageTemplate): elsewhere it is refused, and the template stays as it was."""
    content = (
        email_content()
        if channel == "EMAIL"
        else {"sms": {"body": {"plainText": {"content": "hi"}}}}
    )
    with pytest.raises(ClientError) as exc:
        kb.create_template(
            channelSubtype=channel, content=content, sourceConfiguration=WHATSAPP_SOURCE
        )
    assert error_code(exc) == "ValidationException"
    template_id = kb.create_template(channelSubtype=channel, content=content)["messageTemplateId"]
    with pytest.raises(ClientError) as exc:
        kb.client.update_message_template(
            knowledgeBaseId=kb.id,
            messageTemplateId=template_id,
            sourceConfiguration=WHATSAPP_SOURCE,
            language="de_DE",
        )
    assert error_code(exc) == "ValidationException"
    got = kb.get(template_id)
    assert "sourceConfigurationSummary" not in got
    assert "language" not in got


def _routing_profiles(account_id: str, numbers: range) -> list[str]:
    instance = "arn:aws:connect:us-east-1:{}:instance/11111111-2222-3333-4444-555555555555"
    return [
        f"{instance.format(account_id)}/routing-profile/{n:08d}-2222-3333-4444-555555555555"
        for n in numbers
    ]


def test_pages_ordered_by_many_grouping_values(
    kb: KnowledgeBase, shared_server: ServerProcess
) -> None:
    """A template grouped by a dozen routing profiles still pages: every token is within the
    2,048 characters NextToken's model allows, and the next page takes it."""
    profiles = _routing_profiles(shared_server.account_id, range(12))
    grouped = [
        ("all", profiles),
        ("first-and-second", profiles[:2]),
        ("first-and-third", [profiles[0], profiles[2]]),  # shares its first 240 characters
        ("first", profiles[:1]),
        ("none", None),
    ]
    for name, values in grouped:
        grouping = {"criteria": "RoutingProfileArn", "values": values} if values else None
        kb.create_template(name=name, **({"groupingConfiguration": grouping} if grouping else {}))
    for order, expected in (
        ("ASC", ["none", "first", "first-and-second", "all", "first-and-third"]),
        ("DESC", ["first-and-third", "all", "first-and-second", "first", "none"]),
    ):
        expression = {"orderOnField": {"name": "groupingConfiguration.values", "order": order}}
        pages = list(
            kb.client.get_paginator("search_message_templates").paginate(
                knowledgeBaseId=kb.id,
                searchExpression=expression,
                PaginationConfig={"PageSize": 1},
            )
        )
        assert [r["name"] for page in pages for r in page["results"]] == expected
        assert all(len(page.get("nextToken", "")) <= 2048 for page in pages)


def test_pages_ordered_by_long_values_survive_deletions(
    kb: KnowledgeBase, shared_server: ServerProcess
) -> None:
    """A cleanup loop deleting each result it reads sees every template once, even where the
    values share more than a token keeps of them."""
    shared = _routing_profiles(shared_server.account_id, range(100, 111))
    for n, profile in enumerate(_routing_profiles(shared_server.account_id, range(4))):
        kb.create_template(
            name=f"t{n}",
            groupingConfiguration={"criteria": "RoutingProfileArn", "values": [*shared, profile]},
        )
    seen: list[str] = []
    pages = kb.client.get_paginator("search_message_templates").paginate(
        knowledgeBaseId=kb.id,
        searchExpression={"orderOnField": {"name": "groupingConfiguration.values"}},
        PaginationConfig={"PageSize": 1},
    )
    for page in pages:
        for result in page["results"]:
            seen.append(result["name"])
            kb.client.delete_message_template(
                knowledgeBaseId=kb.id, messageTemplateId=result["messageTemplateId"]
            )
    assert seen == ["t0", "t1", "t2", "t3"]


def test_a_template_arn_names_only_its_own_region(shared_server: ServerProcess) -> None:
    """Tags of a template in eu-west-1 cannot be read or changed from us-east-1 by writing
    its ARN with us-east-1: no template of that ARN exists there."""
    europe = make_knowledge_base(shared_server.client("qconnect", region="eu-west-1"))
    template = europe.create_template(tags={"team": "eu"})
    arn = template["messageTemplateArn"]
    assert ":eu-west-1:" in arn
    elsewhere = arn.replace(":eu-west-1:", ":us-east-1:")
    us_east = shared_server.client("qconnect", region="us-east-1")
    calls: list[Callable[[], Any]] = [
        lambda: us_east.tag_resource(resourceArn=elsewhere, tags={"team": "us"}),
        lambda: us_east.untag_resource(resourceArn=elsewhere, tagKeys=["team"]),
        lambda: us_east.list_tags_for_resource(resourceArn=elsewhere),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert error_code(exc) == "ResourceNotFoundException"
    assert europe.client.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "eu"}


def test_qualifier_filters_hold_like_the_others(kb: KnowledgeBase) -> None:
    """A qualifier filter, PREFIX or EQUALS, keeps only the results a qualifier it names
    names, and two of them must both hold (the active version is also its number)."""
    active = kb.create_template(name="active", content=email_content("v1"))["messageTemplateId"]
    kb.version(active)
    kb.client.update_message_template(
        knowledgeBaseId=kb.id, messageTemplateId=active, content=email_content("v2")
    )
    kb.version(active)
    kb.activate(active, 2)
    inactive = kb.create_template(name="inactive")["messageTemplateId"]
    kb.version(inactive)
    kb.create_template(name="draft-only")

    def found(*filters: tuple[str, list[str]]) -> list[tuple[str, int | None]]:
        conditions = [
            {"name": "qualifier", "operator": operator, "values": values}
            for operator, values in filters
        ]
        return [(r["name"], r.get("versionNumber")) for r in _search(kb, filters=conditions)]

    assert found(("PREFIX", ["$ACTIVE"])) == [("active", 2)]
    assert found(("PREFIX", ["$"])) == [
        ("active", None),
        ("active", 2),
        ("inactive", None),
        ("draft-only", None),
    ]
    assert found(("PREFIX", ["1"])) == [("active", 1), ("inactive", 1)]
    assert found(("EQUALS", ["$ACTIVE_VERSION"]), ("EQUALS", ["2"])) == [("active", 2)]
    assert found(("EQUALS", ["$LATEST"]), ("EQUALS", ["1"])) == []


def test_time_filters_take_the_times_responses_show(kb: KnowledgeBase) -> None:
    """createdTime and lastModifiedTime filter on the text the API writes them in (RFC 3339,
    milliseconds, `Z`): a time a response gave finds its template, a date prefix its day's."""
    raw = _raw_bodies(kb.client, "CreateMessageTemplate")
    kb.create_template(name="first")
    kb.create_template(name="second")
    created = raw[0]["messageTemplate"]["createdTime"]

    def found(name: str, operator: str, value: str) -> list[str]:
        condition = {"name": name, "operator": operator, "values": [value]}
        return [r["name"] for r in _search(kb, filters=[condition])]

    assert found("createdTime", "EQUALS", created) == ["first"]
    assert found("lastModifiedTime", "EQUALS", created) == ["first"]
    assert "first" in found("createdTime", "PREFIX", created[: len("2026-12-08")])
    assert found("createdTime", "PREFIX", "1999-") == []
