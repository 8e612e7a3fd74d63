"""SearchMessageTemplates: queries on names, filters on channel, qualifier and more."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.qconnect.kit import KnowledgeBase, error_code, search_all


def _search(kb: KnowledgeBase, **expression: Any) -> list[dict[str, Any]]:
    return search_all(kb, 2, **expression)


@pytest.fixture
def catalog(kb: KnowledgeBase) -> KnowledgeBase:
    kb.create_template(name="Order shipped", description="When it ships", language="en_US")
    kb.create_template(name="Order delayed", description="Sorry", language="de_DE")
    kb.create_template(name="Password reset")
    kb.create_template(
        name="Order code",
        channelSubtype="SMS",
        content={"sms": {"body": {"plainText": {"content": "Code"}}}},
    )
    return kb


def test_queries_match_names_in_any_case(catalog: KnowledgeBase) -> None:
    found = _search(
        catalog, queries=[{"name": "name", "values": ["ORDER"], "operator": "CONTAINS"}]
    )
    assert sorted(r["name"] for r in found) == ["Order code", "Order delayed", "Order shipped"]
    found = _search(
        catalog,
        queries=[
            {"name": "name", "values": ["reset"], "operator": "CONTAINS_AND_PREFIX"},
            {"name": "description", "values": ["sorry"], "operator": "CONTAINS"},
        ],
    )
    assert sorted(r["name"] for r in found) == ["Order delayed", "Password reset"]


def test_filters_on_name_and_channel(catalog: KnowledgeBase) -> None:
    found = _search(
        catalog, filters=[{"name": "channelSubtype", "values": ["SMS"], "operator": "EQUALS"}]
    )
    assert [r["name"] for r in found] == ["Order code"]
    found = _search(
        catalog, filters=[{"name": "channel", "values": ["EMAIL"], "operator": "EQUALS"}]
    )
    assert len(found) == 3
    found = _search(
        catalog,
        queries=[{"name": "name", "values": ["order"], "operator": "CONTAINS"}],
        filters=[
            {"name": "channelSubtype", "values": ["EMAIL"], "operator": "EQUALS"},
            {"name": "name", "values": ["Order s"], "operator": "PREFIX"},
        ],
    )
    assert [r["name"] for r in found] == ["Order shipped"]
    found = _search(
        catalog,
        filters=[
            {"name": "language", "values": ["en_US"], "operator": "EQUALS"},
            {"name": "name", "values": ["Order"], "operator": "PREFIX"},
        ],
    )
    assert [r["name"] for r in found] == ["Order shipped"]
    found = _search(
        catalog,
        filters=[
            {
                "name": "language",
                "values": ["en_US"],
                "operator": "EQUALS",
                "includeNoExistence": True,
            }
        ],
    )
    assert sorted(r["name"] for r in found) == ["Order code", "Order shipped", "Password reset"]


def test_order_and_qualifier(catalog: KnowledgeBase) -> None:
    found = _search(catalog, orderOnField={"name": "name", "order": "DESC"})
    assert [r["name"] for r in found] == [
        "Password reset",
        "Order shipped",
        "Order delayed",
        "Order code",
    ]
    shipped = next(r for r in found if r["name"] == "Order shipped")
    catalog.version(shipped["messageTemplateId"])
    catalog.activate(shipped["messageTemplateId"], 1)
    active = _search(
        catalog,
        filters=[{"name": "qualifier", "values": ["$ACTIVE_VERSION"], "operator": "EQUALS"}],
    )
    assert [(r["name"], r["versionNumber"], r["isActive"]) for r in active] == [
        ("Order shipped", 1, True)
    ]
    assert active[0]["messageTemplateArn"].endswith(":1")


def test_unknown_fields_are_refused(catalog: KnowledgeBase) -> None:
    with pytest.raises(ClientError) as exc:
        _search(catalog, filters=[{"name": "colour", "values": ["red"], "operator": "EQUALS"}])
    assert error_code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        _search(catalog, queries=[{"name": "content", "values": ["x"], "operator": "CONTAINS"}])
    assert error_code(exc) == "ValidationException"


def test_a_repeated_qualifier_gives_each_template_once(catalog: KnowledgeBase) -> None:
    found = _search(
        catalog,
        filters=[{"name": "qualifier", "values": ["$LATEST", "$LATEST"], "operator": "EQUALS"}],
    )
    assert sorted(r["name"] for r in found) == [
        "Order code",
        "Order delayed",
        "Order shipped",
        "Password reset",
    ]


def test_pages_survive_deletions(catalog: KnowledgeBase) -> None:
    """A cleanup loop that deletes each page it reads still sees every template, in order."""
    seen: list[str] = []
    pages = catalog.client.get_paginator("search_message_templates").paginate(
        knowledgeBaseId=catalog.id,
        searchExpression={"orderOnField": {"name": "name", "order": "DESC"}},
        PaginationConfig={"PageSize": 2},
    )
    for page in pages:
        for result in page["results"]:
            seen.append(result["name"])
            catalog.client.delete_message_template(
                knowledgeBaseId=catalog.id, messageTemplateId=result["messageTemplateId"]
            )
    assert seen == ["Password reset", "Order shipped", "Order delayed", "Order code"]
    assert _search(catalog) == []
