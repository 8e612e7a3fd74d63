"""SearchContacts: find an instance's contacts by time, channel, initiation method and more."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.connect import make_outpost
from tests.support.server import ServerProcess


def window(minutes: int = 10) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "Type": "INITIATION_TIMESTAMP",
        "StartTime": now - timedelta(minutes=minutes),
        "EndTime": now + timedelta(minutes=minutes),
    }


@pytest.fixture(scope="module")
def populated(shared_server: ServerProcess) -> dict[str, Any]:
    """One instance with contacts made one after another, oldest first."""
    client = shared_server.client()
    outpost = make_outpost(client)
    made: list[tuple[str, str]] = []
    first = outpost.receive("Order late", Name="order late", Attributes={"tier": "gold"})
    made.append(("INBOUND", first))
    made.append(("OUTBOUND", outpost.contact(Name="welcome mail")))
    made.append(("INBOUND", outpost.receive("Refund", Name="refund please")))
    made.append(("AGENT_REPLY", outpost.contact("AGENT_REPLY", RelatedContactId=first)))
    sent = outpost.contact(Name="sent mail")
    outpost.send(sent)
    made.append(("OUTBOUND", sent))
    return {"client": client, "outpost": outpost, "made": made, "sent": sent}


def search(populated: dict[str, Any], **params: Any) -> dict[str, Any]:
    outpost = populated["outpost"]
    params.setdefault("TimeRange", window())
    result: dict[str, Any] = populated["client"].search_contacts(
        InstanceId=outpost.instance_id, **params
    )
    return result


def ids(result: dict[str, Any]) -> list[str]:
    return [c["Id"] for c in result["Contacts"]]


def test_newest_first_by_default(populated: dict[str, Any]) -> None:
    result = search(populated)
    assert ids(result) == [contact_id for _, contact_id in reversed(populated["made"])]
    assert result["TotalCount"] == 5
    newest = result["Contacts"][0]
    assert newest["Channel"] == "EMAIL" and newest["InitiationMethod"] == "OUTBOUND"
    assert newest["Arn"].endswith(f"/contact/{newest['Id']}")
    assert newest["AgentInfo"] == {"Id": "agent-1"}
    assert newest["SegmentAttributes"]["connect:EmailSubject"] == {"ValueString": "Hello"}


def test_filter_by_initiation_method_and_channel(populated: dict[str, Any]) -> None:
    found = search(
        populated,
        SearchCriteria={"Channels": ["EMAIL"], "InitiationMethods": ["INBOUND"]},
        Sort={"FieldName": "INITIATION_TIMESTAMP", "Order": "ASCENDING"},
    )
    expected = [c for method, c in populated["made"] if method == "INBOUND"]
    assert ids(found) == expected
    assert found["TotalCount"] == 2
    assert search(populated, SearchCriteria={"Channels": ["TASK"]})["Contacts"] == []


def test_time_range_bounds_the_search(populated: dict[str, Any]) -> None:
    past = datetime.now(UTC) - timedelta(days=2)
    earlier = {"Type": "INITIATION_TIMESTAMP", "StartTime": past, "EndTime": past + timedelta(1)}
    assert search(populated, TimeRange=earlier)["Contacts"] == []
    ended = search(populated, TimeRange={**window(), "Type": "DISCONNECT_TIMESTAMP"})
    assert ids(ended) == [populated["sent"]]  # the only contact that has ended
    queued = search(populated, TimeRange={**window(), "Type": "ENQUEUE_TIMESTAMP"})
    assert queued["Contacts"] == []


def test_pages_cover_every_contact_once(populated: dict[str, Any]) -> None:
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        extra: dict[str, str] = {"NextToken": token} if token else {}
        page = search(
            populated,
            MaxResults=2,
            Sort={"FieldName": "INITIATION_METHOD", "Order": "ASCENDING"},
            **extra,
        )
        pages += 1
        seen.extend(ids(page))
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 3
    methods = dict((c, m) for m, c in populated["made"])
    assert sorted(seen) == sorted(methods)
    assert [methods[c] for c in seen] == sorted(methods[c] for c in seen)


def test_the_sdk_paginator_walks_the_pages(populated: dict[str, Any]) -> None:
    outpost = populated["outpost"]
    paginator = populated["client"].get_paginator("search_contacts")
    pages = list(
        paginator.paginate(
            InstanceId=outpost.instance_id,
            TimeRange=window(),
            PaginationConfig={"PageSize": 2},
        )
    )
    assert [len(p["Contacts"]) for p in pages] == [2, 2, 1]


def test_filter_by_name_attributes_and_agent(populated: dict[str, Any]) -> None:
    made = dict((c, m) for m, c in populated["made"])
    by_name = search(
        populated,
        SearchCriteria={"Name": {"SearchText": ["refund", "order"], "MatchType": "MATCH_ANY"}},
    )
    assert len(ids(by_name)) == 2 and all(made[c] == "INBOUND" for c in ids(by_name))
    gold = search(
        populated,
        SearchCriteria={
            "SearchableContactAttributes": {
                "Criteria": [{"Key": "tier", "Values": ["gold"]}],
                "MatchType": "MATCH_ALL",
            }
        },
    )
    # The inbound contact, and the agent reply that copied its attributes.
    assert sorted(made[c] for c in ids(gold)) == ["AGENT_REPLY", "INBOUND"]
    agents = search(populated, SearchCriteria={"AgentIds": ["agent-1"]})
    assert sorted(made[c] for c in ids(agents)) == ["AGENT_REPLY", "OUTBOUND", "OUTBOUND"]


def test_contacts_of_other_instances_stay_out(
    populated: dict[str, Any], shared_server: ServerProcess
) -> None:
    other = make_outpost(populated["client"])
    other.receive("Elsewhere")
    assert len(ids(search(populated))) == 5


@pytest.mark.parametrize(
    "params",
    [
        {"SearchCriteria": {"AgentHierarchyGroups": {"L1Ids": ["h-1"]}}},
        {"TimeRange": {**window(), "StartTime": datetime.now(UTC) + timedelta(days=1)}},
        {"NextToken": "not-a-token"},
        {"SearchCriteria": {"ContactTags": {"TagCondition": {"TagValue": "sales"}}}},
    ],
    ids=["unsupported-criterion", "start-after-end", "bad-token", "tag-without-key"],
)
def test_invalid_searches_are_refused(populated: dict[str, Any], params: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as raised:
        search(populated, **params)
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"


def test_unknown_instance_is_not_found(shared_server: ServerProcess) -> None:
    with pytest.raises(ClientError) as raised:
        shared_server.client().search_contacts(
            InstanceId="00000000-0000-0000-0000-000000000000", TimeRange=window()
        )
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_filter_by_segment_attribute(populated: dict[str, Any]) -> None:
    found = search(
        populated,
        SearchCriteria={
            "SearchableSegmentAttributes": {
                "Criteria": [{"Key": "connect:EmailSubject", "Values": ["Refund", "Nothing"]}],
                "MatchType": "MATCH_ANY",
            }
        },
    )
    assert [c["Name"] for c in found["Contacts"]] == ["refund please"]


def token(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


@pytest.mark.parametrize(
    "next_token",
    [
        token([[[1], 2, 3], "x"]),
        token([[{"a": 1}, 2, 3], "x"]),
        token([[None, None, None], None]),
        token([["INBOUND", 1.0, 2.0], "x"]),  # a text sort key, but the sort is by time
        token([[1.0, 2.0], "x"]),  # without the moment of the first page
    ],
    ids=["list", "object", "nulls", "text-for-time", "no-moment"],
)
def test_tokens_not_issued_are_refused(populated: dict[str, Any], next_token: str) -> None:
    with pytest.raises(ClientError) as raised:
        search(populated, NextToken=next_token)
    error = raised.value.response["Error"]
    assert (error["Code"], error["Message"]) == (
        "InvalidParameterException",
        "The NextToken is not valid.",
    )


def test_names_match_in_any_case_beyond_ascii(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    wanted = outpost.receive("Bonjour", Name="École Ölstraße")
    outpost.receive("Hello", Name="Other")
    mine = {"outpost": outpost, "client": outpost.client}
    for text, match_type in [
        ("École Ölstraße", "MATCH_EXACT"),
        ("école ölstraße", "MATCH_EXACT"),
        ("ÉCOLE", "MATCH_ANY"),
        ("ölstraße", "MATCH_ALL"),
    ]:
        criteria = {"Name": {"SearchText": [text], "MatchType": match_type}}
        assert ids(search(mine, SearchCriteria=criteria)) == [wanted], text
    none = {"Name": {"SearchText": ["école"], "MatchType": "MATCH_NONE"}}
    assert wanted not in ids(search(mine, SearchCriteria=none))


def test_match_none_keeps_contacts_without_the_attribute(populated: dict[str, Any]) -> None:
    made = dict((c, m) for m, c in populated["made"])
    found = search(
        populated,
        SearchCriteria={
            "SearchableContactAttributes": {
                "Criteria": [{"Key": "tier", "Values": ["gold"]}],
                "MatchType": "MATCH_NONE",
            }
        },
    )
    # Every contact but the gold one and the agent reply that copied its attributes.
    assert sorted(made[c] for c in ids(found)) == ["INBOUND", "OUTBOUND", "OUTBOUND"]
    assert found["TotalCount"] == 3


def test_contact_references_refuse_a_token_never_issued(populated: dict[str, Any]) -> None:
    """ListContactReferences answers in one page, so any token is one it did not issue."""
    contact_id = populated["made"][0][1]
    with pytest.raises(ClientError) as raised:
        populated["client"].list_contact_references(
            InstanceId=populated["outpost"].instance_id,
            ContactId=contact_id,
            ReferenceTypes=["EMAIL_MESSAGE"],
            NextToken="garbage!!",
        )
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"


def test_filter_by_contact_tags(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    tagged = {
        "sales-eu": {"department": "sales", "region": "eu"},
        "sales-us": {"department": "sales", "region": "us"},
        "support": {"department": "support"},
        "untagged": {},
    }
    names = {}
    for name, tags in tagged.items():
        contact = outpost.contact(Name=name)
        names[contact] = name
        if tags:
            outpost.client.tag_contact(InstanceId=outpost.instance_id, ContactId=contact, Tags=tags)

    def found(tag_filter: dict[str, Any]) -> list[str]:
        answer = outpost.client.search_contacts(
            InstanceId=outpost.instance_id,
            TimeRange=window(),
            SearchCriteria={"ContactTags": tag_filter},
            Sort={"FieldName": "INITIATION_TIMESTAMP", "Order": "ASCENDING"},
        )
        return [names[c["Id"]] for c in answer["Contacts"]]

    sales = {"TagKey": "department", "TagValue": "sales"}
    assert found({"TagCondition": sales}) == ["sales-eu", "sales-us"]
    assert found({"TagCondition": {"TagKey": "region"}}) == ["sales-eu", "sales-us"]
    assert found({"AndConditions": [sales, {"TagKey": "region", "TagValue": "eu"}]}) == ["sales-eu"]
    assert found(
        {
            "OrConditions": [
                [{"TagKey": "department", "TagValue": "support"}],
                [sales, {"TagKey": "region", "TagValue": "us"}],
            ]
        }
    ) == ["sales-us", "support"]
    answer = outpost.client.search_contacts(
        InstanceId=outpost.instance_id,
        TimeRange=window(),
        SearchCriteria={"ContactTags": {"TagCondition": {"TagKey": "region", "TagValue": "eu"}}},
    )
    assert answer["Contacts"][0]["Tags"] == {"department": "sales", "region": "eu"}
