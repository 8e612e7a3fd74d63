"""A contact's user-defined attributes after it is made: GetContactAttributes and
UpdateContactAttributes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from tests.support.connect import make_outpost
from tests.support.server import ServerProcess


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_attributes_are_read_and_merged(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    client = outpost.client
    contact = outpost.contact(Attributes={"customer": "Jane", "tier": "silver"})
    ids = {"InstanceId": outpost.instance_id, "InitialContactId": contact}
    assert client.get_contact_attributes(**ids)["Attributes"] == {
        "customer": "Jane",
        "tier": "silver",
    }

    client.update_contact_attributes(**ids, Attributes={"tier": "gold", "case-id": "C-42"})
    merged = {"customer": "Jane", "tier": "gold", "case-id": "C-42"}
    assert client.get_contact_attributes(**ids)["Attributes"] == merged
    described = client.describe_contact(InstanceId=outpost.instance_id, ContactId=contact)
    assert described["Contact"]["Attributes"] == merged


def test_a_completed_contacts_attributes_can_be_updated(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    contact = outpost.contact()
    outpost.send(contact)
    ids = {"InstanceId": outpost.instance_id, "InitialContactId": contact}
    outpost.client.update_contact_attributes(**ids, Attributes={"review": "legal"})
    assert outpost.client.get_contact_attributes(**ids)["Attributes"] == {"review": "legal"}


@pytest.mark.parametrize(
    ("attributes", "error"),
    [
        ({"bad key!": "x"}, "InvalidRequestException"),
        ({"big": "x" * 32_767, "more": "y" * 100}, "InvalidRequestException"),
    ],
)
def test_attributes_beyond_the_limits_are_refused_and_nothing_changes(
    shared_server: ServerProcess, attributes: dict[str, str], error: str
) -> None:
    outpost = make_outpost(shared_server.client())
    contact = outpost.contact(Attributes={"kept": "yes"})
    ids = {"InstanceId": outpost.instance_id, "InitialContactId": contact}
    with pytest.raises(ClientError) as exc:
        outpost.client.update_contact_attributes(**ids, Attributes=attributes)
    assert code(exc) == error
    assert outpost.client.get_contact_attributes(**ids)["Attributes"] == {"kept": "yes"}


def test_a_contact_that_is_not_there(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    other = make_outpost(shared_server.client())
    elsewhere = other.contact()  # a contact of another instance is not found in this one
    for contact in ("no-such-contact", elsewhere):
        ids = {"InstanceId": outpost.instance_id, "InitialContactId": contact}
        with pytest.raises(ClientError) as exc:
            outpost.client.get_contact_attributes(**ids)
        assert code(exc) == "ResourceNotFoundException"
        with pytest.raises(ClientError) as exc:
            outpost.client.update_contact_attributes(**ids, Attributes={"a": "b"})
        assert code(exc) == "ResourceNotFoundException"
    assert (
        other.client.get_contact_attributes(
            InstanceId=other.instance_id, InitialContactId=elsewhere
        )["Attributes"]
        == {}
    )


def test_updates_at_the_same_moment_keep_each_others_attributes(
    shared_server: ServerProcess,
) -> None:
    outpost = make_outpost(shared_server.client())
    contact = outpost.contact()
    ids = {"InstanceId": outpost.instance_id, "InitialContactId": contact}

    def add(n: int) -> None:
        outpost.client.update_contact_attributes(**ids, Attributes={f"step-{n}": str(n)})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(add, range(24)))
    assert outpost.client.get_contact_attributes(**ids)["Attributes"] == {
        f"step-{n}": str(n) for n in range(24)
    }
