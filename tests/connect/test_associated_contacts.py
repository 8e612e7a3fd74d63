"""A conversation's contacts (ListAssociatedContacts) and the agent a waiting contact is given
(AssociateContactWithUser)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.connect import Outpost, make_outpost
from tests.support.server import ServerProcess


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def tree(outpost: Outpost, contact: str, **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = outpost.client.list_associated_contacts(
        InstanceId=outpost.instance_id, ContactId=contact, **extra
    )
    return found


def test_a_thread_is_listed_from_any_of_its_contacts(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    first = outpost.receive("My order is late")
    reply = outpost.contact("AGENT_REPLY", RelatedContactId=first)
    outpost.send(reply, subject="Re: My order is late")
    answer = outpost.receive("Re: My order is late", RelatedContactId=reply)
    unrelated = outpost.receive("Another matter")

    expected = [first, reply, answer]  # oldest first
    for contact in expected:
        listed = tree(outpost, contact)
        assert [c["ContactId"] for c in listed["ContactSummaryList"]] == expected
        assert "NextToken" not in listed
    summaries = tree(outpost, answer)["ContactSummaryList"]
    assert summaries[0]["Channel"] == "EMAIL" and summaries[0]["InitiationMethod"] == "INBOUND"
    assert "InitialContactId" not in summaries[0]
    assert summaries[1]["InitialContactId"] == first
    assert summaries[1]["RelatedContactId"] == first
    assert summaries[1]["InitiationMethod"] == "AGENT_REPLY"
    assert "DisconnectTimestamp" in summaries[1]  # sent: ended
    assert summaries[2]["RelatedContactId"] == reply
    assert summaries[2]["ContactArn"] == outpost.describe(answer)["Arn"]
    assert [c["ContactId"] for c in tree(outpost, unrelated)["ContactSummaryList"]] == [unrelated]


def test_a_long_thread_is_paged(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    first = outpost.receive()
    thread = [first] + [outpost.receive("Re: Hi", RelatedContactId=first) for _ in range(4)]
    listed, token = [], None
    while True:
        page = tree(outpost, thread[-1], MaxResults=2, **({"NextToken": token} if token else {}))
        assert len(page["ContactSummaryList"]) <= 2
        listed += [c["ContactId"] for c in page["ContactSummaryList"]]
        token = page.get("NextToken")
        if token is None:
            break
    assert listed == thread
    with pytest.raises(ClientError) as exc:
        tree(outpost, first, NextToken="not-a-token")
    assert code(exc) == "InvalidParameterException"


def test_a_contact_that_is_not_there(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    elsewhere = make_outpost(shared_server.client()).receive()
    for contact in ("no-such-contact", elsewhere):
        with pytest.raises(ClientError) as exc:
            tree(outpost, contact)
        assert code(exc) == "ResourceNotFoundException"
        with pytest.raises(ClientError) as exc:
            outpost.client.associate_contact_with_user(
                InstanceId=outpost.instance_id, ContactId=contact, UserId="agent-1"
            )
        assert code(exc) == "ResourceNotFoundException"


def test_a_received_email_is_given_to_an_agent(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    received = outpost.receive("Please call me")
    other = outpost.receive("Not assigned")
    user_arn = f"{outpost.describe(received)['Arn'].split('/contact/')[0]}/agent/agent-7"
    outpost.client.associate_contact_with_user(
        InstanceId=outpost.instance_id, ContactId=received, UserId=user_arn
    )
    assert outpost.describe(received)["AgentInfo"] == {"Id": "agent-7"}
    assert "AgentInfo" not in outpost.describe(other)
    found = outpost.client.search_contacts(
        InstanceId=outpost.instance_id,
        TimeRange={
            "Type": "INITIATION_TIMESTAMP",
            "StartTime": datetime.now(UTC) - timedelta(minutes=10),
            "EndTime": datetime.now(UTC) + timedelta(minutes=10),
        },
        SearchCriteria={"AgentIds": ["agent-7"]},
    )
    assert [c["Id"] for c in found["Contacts"]] == [received]


def test_an_ended_contact_is_not_given_to_an_agent(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    sent = outpost.contact()
    outpost.send(sent)
    stopped = outpost.receive()
    outpost.client.stop_contact(InstanceId=outpost.instance_id, ContactId=stopped)
    for contact in (sent, stopped):
        before = outpost.describe(contact).get("AgentInfo")
        with pytest.raises(ClientError) as exc:
            outpost.client.associate_contact_with_user(
                InstanceId=outpost.instance_id, ContactId=contact, UserId="agent-9"
            )
        assert code(exc) == "InvalidRequestException"
        assert outpost.describe(contact).get("AgentInfo") == before


def test_a_user_arn_names_a_user_of_the_contacts_instance(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    received = outpost.receive("Please call me")
    instance_arn = outpost.describe(received)["Arn"].split("/contact/")[0]
    other = make_outpost(shared_server.client())
    elsewhere = other.describe(other.receive())["Arn"]
    other_account = instance_arn.replace(f":{shared_server.account_id}:", ":999999999999:")
    for user in (
        f"{elsewhere.split('/contact/')[0]}/agent/agent-7",  # another instance's user
        f"{other_account}/agent/agent-7",  # another account's
        f"{instance_arn}/queue/queue-1",  # not a user at all
    ):
        with pytest.raises(ClientError) as exc:
            outpost.client.associate_contact_with_user(
                InstanceId=outpost.instance_id, ContactId=received, UserId=user
            )
        assert code(exc) == "ResourceNotFoundException"
        assert "AgentInfo" not in outpost.describe(received)


def test_create_and_update_contact_read_a_user_arn_alike(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    instance_arn = outpost.describe(outpost.receive())["Arn"].split("/contact/")[0]
    reply = outpost.contact(UserInfo={"UserId": f"{instance_arn}/agent/agent-3"})
    assert outpost.describe(reply)["AgentInfo"] == {"Id": "agent-3"}  # the ARN was stored
    voice = outpost.client.create_contact(
        InstanceId=outpost.instance_id, Channel="VOICE", InitiationMethod="TRANSFER"
    )["ContactId"]
    outpost.client.update_contact(
        InstanceId=outpost.instance_id,
        ContactId=voice,
        UserInfo={"UserId": f"{instance_arn}/agent/agent-4"},
    )
    assert outpost.describe(voice)["AgentInfo"] == {"Id": "agent-4"}
    with pytest.raises(ClientError) as exc:
        outpost.contact(UserInfo={"UserId": f"{instance_arn}/queue/q-1"})
    assert code(exc) == "ResourceNotFoundException"
