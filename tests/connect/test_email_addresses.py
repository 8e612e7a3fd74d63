"""The email addresses of an instance: create, describe, search, delete, and their limits."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.connect import make_outpost, unique_address
from tests.support.mail import from_header
from tests.support.server import ServerProcess


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_create_describe_delete(shared_server: ServerProcess) -> None:
    client = shared_server.client()
    outpost = make_outpost(client)
    address = unique_address("Sales")
    created = client.create_email_address(
        InstanceId=outpost.instance_id,
        EmailAddress=address,
        DisplayName="Sales Team",
        Description="where deals happen",
        Tags={"dept": "sales"},
    )
    assert created["EmailAddressArn"].endswith(f"/email-address/{created['EmailAddressId']}")
    assert f"instance/{outpost.instance_id}/" in created["EmailAddressArn"]

    described = client.describe_email_address(
        InstanceId=outpost.instance_id, EmailAddressId=created["EmailAddressId"]
    )
    assert described["EmailAddress"] == address.lower()
    assert described["DisplayName"] == "Sales Team"
    assert described["Description"] == "where deals happen"
    assert described["Tags"] == {"dept": "sales"}
    assert described["CreateTimestamp"].endswith("Z")

    client.delete_email_address(
        InstanceId=outpost.instance_id, EmailAddressId=created["EmailAddressId"]
    )
    with pytest.raises(ClientError) as exc:
        client.describe_email_address(
            InstanceId=outpost.instance_id, EmailAddressId=created["EmailAddressId"]
        )
    assert code(exc) == "ResourceNotFoundException"


def test_an_address_belongs_to_one_instance(shared_server: ServerProcess) -> None:
    client = shared_server.client()
    first, second = make_outpost(client), make_outpost(client)
    with pytest.raises(ClientError) as exc:
        client.create_email_address(
            InstanceId=second.instance_id, EmailAddress=first.sender.upper()
        )
    assert code(exc) == "DuplicateResourceException"


def test_deleting_an_instance_releases_its_addresses(shared_server: ServerProcess) -> None:
    """An instance deleted and built again gets its address back."""
    client = shared_server.client()
    old, new = make_outpost(client), make_outpost(client)
    client.delete_instance(InstanceId=old.instance_id)
    created = client.create_email_address(InstanceId=new.instance_id, EmailAddress=old.sender)
    found = client.search_email_addresses(InstanceId=new.instance_id)["EmailAddresses"]
    assert created["EmailAddressId"] in {a["EmailAddressId"] for a in found}
    to = unique_address("released")
    new.send(to=to, FromEmailAddress={"EmailAddress": old.sender})
    deadline = time.monotonic() + 10
    while not (captured := shared_server.mailbox(to=to)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [m["From"].lower() for m in captured] == [old.sender.lower()]


@pytest.mark.parametrize("name", ["Support\r\nBcc: evil@example.com", "Line\nbreak", "Null\x00"])
def test_display_name_with_control_characters_is_refused(
    shared_server: ServerProcess, name: str
) -> None:
    client = shared_server.client()
    outpost = make_outpost(client)
    address = unique_address("named")
    with pytest.raises(ClientError) as exc:
        client.create_email_address(
            InstanceId=outpost.instance_id, EmailAddress=address, DisplayName=name
        )
    assert code(exc) == "InvalidRequestException"
    searched = client.search_email_addresses(InstanceId=outpost.instance_id)["EmailAddresses"]
    assert address.lower() not in {a["EmailAddress"] for a in searched}


@pytest.mark.parametrize(
    "address",
    [
        "not-an-address",
        "a@b",
        "two@@example.com",
        "sp ace@example.com",
        "x@example.com>, y@example.com",
        "line\r\nbreak@example.com",
        "é@example.com",
    ],
)
def test_invalid_addresses_are_refused(shared_server: ServerProcess, address: str) -> None:
    client = shared_server.client()
    outpost = make_outpost(client)
    with pytest.raises(ClientError) as exc:
        client.create_email_address(InstanceId=outpost.instance_id, EmailAddress=address)
    assert code(exc) == "InvalidRequestException"


def test_search_by_condition_and_tags(shared_server: ServerProcess) -> None:
    client = shared_server.client()
    outpost = make_outpost(client, display_name="Main Desk")
    billing = unique_address("billing")
    client.create_email_address(
        InstanceId=outpost.instance_id,
        EmailAddress=billing,
        DisplayName="Billing",
        Tags={"dept": "finance"},
    )

    everything = client.search_email_addresses(InstanceId=outpost.instance_id)
    assert everything["ApproximateTotalCount"] == 2

    found = client.search_email_addresses(
        InstanceId=outpost.instance_id,
        SearchCriteria={
            "StringCondition": {
                "FieldName": "EmailAddress",
                "Value": "billing",
                "ComparisonType": "STARTS_WITH",
            }
        },
    )
    assert [a["EmailAddress"] for a in found["EmailAddresses"]] == [billing]

    tagged = client.search_email_addresses(
        InstanceId=outpost.instance_id,
        SearchFilter={"TagFilter": {"TagCondition": {"TagKey": "dept", "TagValue": "finance"}}},
    )
    assert [a["DisplayName"] for a in tagged["EmailAddresses"]] == ["Billing"]

    either = client.search_email_addresses(
        InstanceId=outpost.instance_id,
        SearchCriteria={
            "OrConditions": [
                {
                    "StringCondition": {
                        "FieldName": "DisplayName",
                        "Value": "desk",
                        "ComparisonType": "CONTAINS",
                    }
                },
                {
                    "StringCondition": {
                        "FieldName": "DisplayName",
                        "Value": "Billing",
                        "ComparisonType": "EXACT",
                    }
                },
            ]
        },
    )
    assert either["ApproximateTotalCount"] == 2


@pytest.mark.parametrize("deleting", [False, True])
def test_search_pages(shared_server: ServerProcess, deleting: bool) -> None:
    """Every address once, page by page; also for a cleanup loop that deletes each page it
    reads (pages start after the last address shown, not at an offset)."""
    client = shared_server.client()
    outpost = make_outpost(client)
    for _ in range(4):
        client.create_email_address(InstanceId=outpost.instance_id, EmailAddress=unique_address())
    seen: list[str] = []
    token: dict[str, Any] = {}
    while True:
        page = client.search_email_addresses(InstanceId=outpost.instance_id, MaxResults=2, **token)
        for found in page["EmailAddresses"]:
            seen.append(found["EmailAddressId"])
            if deleting:
                client.delete_email_address(
                    InstanceId=outpost.instance_id, EmailAddressId=found["EmailAddressId"]
                )
        if "NextToken" not in page:
            break
        token = {"NextToken": page["NextToken"]}
    assert len(seen) == 5 == len(set(seen))
    left = client.search_email_addresses(InstanceId=outpost.instance_id)
    assert left["ApproximateTotalCount"] == (0 if deleting else 5)


def test_quota_of_addresses_per_instance(start_server: Any) -> None:
    server = start_server(env={"CONNECTMAIL_EMAIL_ADDRESSES_PER_INSTANCE": "2"})
    client = server.client()
    outpost = make_outpost(client)
    client.create_email_address(InstanceId=outpost.instance_id, EmailAddress=unique_address())
    with pytest.raises(ClientError) as exc:
        client.create_email_address(InstanceId=outpost.instance_id, EmailAddress=unique_address())
    assert code(exc) == "ServiceQuotaExceededException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 402


def test_arns_must_name_the_instance_they_are_used_in(shared_server: ServerProcess) -> None:
    """An email address's or a contact's ARN names its instance too: used with another
    instance it names nothing there, and a send with it changes nothing."""
    client = shared_server.client()
    mine, other = make_outpost(client), make_outpost(client)
    address_arn = client.describe_email_address(
        InstanceId=mine.instance_id, EmailAddressId=mine.sender_id
    )["EmailAddressArn"]
    # Other's address ID under my instance's ARN.
    moved = address_arn.replace(mine.sender_id, other.sender_id)
    with pytest.raises(ClientError) as exc:
        client.describe_email_address(InstanceId=other.instance_id, EmailAddressId=moved)
    assert code(exc) == "ResourceNotFoundException"

    contact_id = other.contact()
    contact_arn = client.describe_contact(InstanceId=other.instance_id, ContactId=contact_id)[
        "Contact"
    ]["Arn"]
    wrong = contact_arn.replace(other.instance_id, mine.instance_id, 1)
    with pytest.raises(ClientError) as exc:
        client.describe_contact(InstanceId=other.instance_id, ContactId=wrong)
    assert code(exc) == "ResourceNotFoundException"
    to = unique_address("arn")
    with pytest.raises(ClientError) as exc:
        other.send(contact_id=wrong, to=to, **other.sent_from())
    assert code(exc) == "ResourceNotFoundException"
    # The contact's own ARN, and the instance's, send as its ID does.
    instance_arn = client.describe_instance(InstanceId=other.instance_id)["Instance"]["Arn"]
    sent = other.send(contact_id=contact_arn, to=to, InstanceId=instance_arn)
    assert sent["ContactId"] == contact_id


def test_update_email_address_metadata(shared_server: ServerProcess) -> None:
    client = shared_server.client()
    outpost = make_outpost(client)
    ids = {"InstanceId": outpost.instance_id, "EmailAddressId": outpost.sender_id}
    client.update_email_address_metadata(**ids, Description="first line support")
    before = client.describe_email_address(**ids)
    time.sleep(0.01)
    answer = client.update_email_address_metadata(
        **ids, DisplayName="Example Care", ClientToken="rename-1"
    )
    assert answer["EmailAddressId"] == outpost.sender_id
    assert answer["EmailAddressArn"] == before["EmailAddressArn"]
    after = client.describe_email_address(**ids)
    assert (after["DisplayName"], after["Description"]) == ("Example Care", "first line support")
    assert after["ModifiedTimestamp"] > before["ModifiedTimestamp"]

    # The new name is the From name of the mail sent next.
    to = unique_address("renamed")
    outpost.send(to=to)
    deadline = time.monotonic() + 30
    while not (kept := shared_server.mailbox(to=to)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [from_header(m) for m in kept] == [f"Example Care <{outpost.sender}>"]

    # The same token with another request is refused; nothing changes.
    with pytest.raises(ClientError) as exc:
        client.update_email_address_metadata(
            **ids, DisplayName="Someone Else", ClientToken="rename-1"
        )
    assert code(exc) == "IdempotencyException"
    with pytest.raises(ClientError) as exc:
        client.update_email_address_metadata(
            InstanceId=outpost.instance_id, EmailAddressId="no-such-address", DisplayName="x"
        )
    assert code(exc) == "ResourceNotFoundException"
    assert client.describe_email_address(**ids)["DisplayName"] == "Example Care"
