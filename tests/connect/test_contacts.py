"""CreateContact, DescribeContact and StopContact for email contacts."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.connect import Outpost, make_outpost
from tests.support.server import ServerProcess


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@pytest.fixture
def outpost(shared_server: ServerProcess) -> Outpost:
    return make_outpost(shared_server.client())


def describe(outpost: Outpost, contact_id: str) -> dict[str, Any]:
    contact: dict[str, Any] = outpost.client.describe_contact(
        InstanceId=outpost.instance_id, ContactId=contact_id
    )["Contact"]
    return contact


def test_outbound_contact_is_a_draft_until_sent(outpost: Outpost) -> None:
    created = outpost.client.create_contact(
        InstanceId=outpost.instance_id,
        Channel="EMAIL",
        InitiationMethod="OUTBOUND",
        UserInfo={"UserId": "agent-7"},
        Name="Renewal",
        Description="Annual renewal",
        Attributes={"plan": "gold"},
        References={"order": {"Value": "https://example.com/o/1", "Type": "URL"}},
    )
    contact = describe(outpost, created["ContactId"])
    assert created["ContactArn"] == contact["Arn"]
    assert contact["Channel"] == "EMAIL" and contact["InitiationMethod"] == "OUTBOUND"
    assert contact["Name"] == "Renewal" and contact["Description"] == "Annual renewal"
    assert contact["AgentInfo"] == {"Id": "agent-7"}
    assert contact["Attributes"] == {"plan": "gold"}
    assert "InitiationTimestamp" in contact and "DisconnectTimestamp" not in contact

    outpost.send(created["ContactId"])
    assert "DisconnectTimestamp" in describe(outpost, created["ContactId"])


@pytest.mark.parametrize(
    ("params", "code_expected"),
    [
        ({"Channel": "EMAIL", "InitiationMethod": "OUTBOUND"}, "InvalidRequestException"),
        (
            {"Channel": "EMAIL", "InitiationMethod": "AGENT_REPLY", "UserInfo": {"UserId": "a"}},
            "InvalidRequestException",
        ),
        ({"Channel": "EMAIL", "InitiationMethod": "API"}, "InvalidRequestException"),
        ({"Channel": "CHAT", "InitiationMethod": "API"}, "InvalidRequestException"),
        (
            {"Channel": "EMAIL", "InitiationMethod": "FLOW", "InitiateAs": "COMPLETED"},
            "InvalidRequestException",
        ),
        (
            {"Channel": "EMAIL", "InitiationMethod": "FLOW", "ExpiryDurationInMinutes": 0},
            "InvalidRequestException",
        ),
        (
            {
                "Channel": "EMAIL",
                "InitiationMethod": "FLOW",
                "ExpiryDurationInMinutes": 90 * 1440 + 1,
            },
            "InvalidRequestException",
        ),
        (
            {"Channel": "EMAIL", "InitiationMethod": "FLOW", "Attributes": {"bad key": "x"}},
            "InvalidRequestException",
        ),
        (
            {
                "Channel": "EMAIL",
                "InitiationMethod": "FLOW",
                "References": {"m": {"Value": "x", "Type": "EMAIL_MESSAGE"}},
            },
            "InvalidRequestException",
        ),
        (
            {"Channel": "EMAIL", "InitiationMethod": "FLOW", "RelatedContactId": "no-such-contact"},
            "ResourceNotFoundException",
        ),
    ],
)
def test_create_contact_refuses_what_aws_refuses(
    outpost: Outpost, params: dict[str, Any], code_expected: str
) -> None:
    with pytest.raises(ClientError) as exc:
        outpost.client.create_contact(InstanceId=outpost.instance_id, **params)
    assert code(exc) == code_expected


def test_flow_contact_needs_no_user(outpost: Outpost) -> None:
    contact_id = outpost.contact("FLOW")
    assert "AgentInfo" not in describe(outpost, contact_id)
    outpost.send(contact_id)


def test_agent_reply_links_and_copies_attributes(outpost: Outpost) -> None:
    first = outpost.contact(Attributes={"tier": "gold", "lang": "en"})
    outpost.send(first)
    reply = outpost.contact("AGENT_REPLY", RelatedContactId=first, Attributes={"lang": "de"})
    contact = describe(outpost, reply)
    assert contact["RelatedContactId"] == first
    assert contact["InitialContactId"] == first
    assert contact["Attributes"] == {"tier": "gold", "lang": "de"}

    second_reply = outpost.contact("AGENT_REPLY", RelatedContactId=reply)
    assert describe(outpost, second_reply)["InitialContactId"] == first


def test_stop_ends_a_draft(outpost: Outpost) -> None:
    contact_id = outpost.contact()
    outpost.client.stop_contact(
        InstanceId=outpost.instance_id,
        ContactId=contact_id,
        DisconnectReason={"Code": "AGENT_DISCARDED"},
    )
    contact = describe(outpost, contact_id)
    assert "DisconnectTimestamp" in contact
    assert contact["DisconnectReason"] == "AGENT_DISCARDED"

    with pytest.raises(ClientError) as exc:
        outpost.client.stop_contact(InstanceId=outpost.instance_id, ContactId=contact_id)
    assert code(exc) == "ContactNotFoundException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410
    with pytest.raises(ClientError) as exc:
        outpost.send(contact_id)
    assert code(exc) == "InvalidRequestException"


def test_stop_unknown_contact(outpost: Outpost) -> None:
    with pytest.raises(ClientError) as exc:
        outpost.client.stop_contact(InstanceId=outpost.instance_id, ContactId="nope")
    assert code(exc) == "ContactNotFoundException"


def test_contacts_of_another_instance_are_not_found(shared_server: ServerProcess) -> None:
    client = shared_server.client()
    mine, other = make_outpost(client), make_outpost(client)
    contact_id = other.contact()
    with pytest.raises(ClientError) as exc:
        client.describe_contact(InstanceId=mine.instance_id, ContactId=contact_id)
    assert code(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        mine.send(contact_id)
    assert code(exc) == "ResourceNotFoundException"


def test_task_contacts_are_kept_but_not_sendable(outpost: Outpost) -> None:
    created = outpost.client.create_contact(
        InstanceId=outpost.instance_id, Channel="TASK", InitiationMethod="API", Name="Call back"
    )
    assert describe(outpost, created["ContactId"])["Channel"] == "TASK"
    with pytest.raises(ClientError) as exc:
        outpost.send(created["ContactId"])
    assert code(exc) == "InvalidRequestException"


def test_create_contact_is_idempotent_with_a_client_token(outpost: Outpost) -> None:
    params = {
        "InstanceId": outpost.instance_id,
        "Channel": "EMAIL",
        "InitiationMethod": "FLOW",
        "ClientToken": "contact-token",
    }
    first = outpost.client.create_contact(**params)
    again = outpost.client.create_contact(**params)
    assert first["ContactId"] == again["ContactId"]
    with pytest.raises(ClientError) as exc:
        outpost.client.create_contact(**{**params, "Name": "different"})
    assert code(exc) == "IdempotencyException"


def test_expiry_from_segment_attribute_is_accepted(outpost: Outpost) -> None:
    contact_id = outpost.contact(
        SegmentAttributes={
            "connect:ContactExpiry": {"ValueMap": {"ExpiryDuration": {"ValueInteger": 135}}}
        }
    )
    attributes = describe(outpost, contact_id)["SegmentAttributes"]
    assert attributes["connect:ContactExpiry"]["ValueMap"]["ExpiryDuration"] == {
        "ValueInteger": 135
    }


def test_an_expiry_attribute_without_a_duration_is_refused(outpost: Outpost) -> None:
    # It was taken as no expiry at all: the contact got the default 14 days.
    malformed: list[dict[str, Any]] = [{"ValueString": "135"}, {"ValueMap": {}}]
    for expiry in malformed:
        with pytest.raises(ClientError) as exc:
            outpost.contact(SegmentAttributes={"connect:ContactExpiry": expiry})
        assert code(exc) == "InvalidRequestException"
        assert "ExpiryDuration" in str(exc.value)
        with pytest.raises(ClientError) as exc:
            outpost.receive(SegmentAttributes={"connect:ContactExpiry": expiry})
        assert code(exc) == "InvalidRequestException"


def test_what_connectmail_says_about_an_email_cannot_be_given(outpost: Outpost) -> None:
    # A caller's connectmail:DeliveryStatus showed in DescribeContact as the delivery's.
    given = {"connectmail:DeliveryStatus": {"ValueString": "DELIVERED"}}
    with pytest.raises(ClientError) as exc:
        outpost.contact("FLOW", SegmentAttributes=given)
    assert code(exc) == "InvalidRequestException"
    with pytest.raises(ClientError) as exc:
        outpost.receive(SegmentAttributes={"connectmail:ForwardedFrom": {"ValueString": "x"}})
    assert code(exc) == "InvalidRequestException"
    assert "set by connectmail" in str(exc.value)
