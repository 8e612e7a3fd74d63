"""Email address aliases: AssociateEmailAddressAlias makes one address (the alias) forward its
mail to another of the instance (the primary); DisassociateEmailAddressAlias ends that."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.connect import Outpost, make_outpost, unique_address
from tests.support.inbound import received_search
from tests.support.server import ServerProcess


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def new_address(outpost: Outpost, prefix: str = "alias") -> str:
    created = outpost.client.create_email_address(
        InstanceId=outpost.instance_id, EmailAddress=unique_address(prefix)
    )
    return str(created["EmailAddressId"])


def alias_request(outpost: Outpost, primary: str, alias: str, **extra: Any) -> dict[str, Any]:
    """The parameters of AssociateEmailAddressAlias and DisassociateEmailAddressAlias alike."""
    return {
        "InstanceId": outpost.instance_id,
        "EmailAddressId": primary,
        "AliasConfiguration": {"EmailAddressId": alias},
        **extra,
    }


def associate(outpost: Outpost, primary: str, alias: str, **extra: Any) -> dict[str, Any]:
    return dict(
        outpost.client.associate_email_address_alias(
            **alias_request(outpost, primary, alias, **extra)
        )
    )


def disassociate(outpost: Outpost, primary: str, alias: str, **extra: Any) -> dict[str, Any]:
    return dict(
        outpost.client.disassociate_email_address_alias(
            **alias_request(outpost, primary, alias, **extra)
        )
    )


def describe(outpost: Outpost, address_id: str) -> dict[str, Any]:
    described: dict[str, Any] = outpost.client.describe_email_address(
        InstanceId=outpost.instance_id, EmailAddressId=address_id
    )
    return described


def aliases(outpost: Outpost, address_id: str) -> list[str]:
    """The ids DescribeEmailAddress lists as forwarding to the address."""
    return [
        a["EmailAddressId"] for a in describe(outpost, address_id).get("AliasConfigurations", [])
    ]


def aliased(server: ServerProcess) -> tuple[Outpost, str, str, str]:
    """An instance whose address has an alias: (outpost, primary, alias, a third address)."""
    outpost = make_outpost(server.client())
    primary, alias, other = outpost.sender_id, new_address(outpost), new_address(outpost)
    associate(outpost, primary, alias)
    return outpost, primary, alias, other


def test_the_primary_shows_its_alias_and_the_alias_shows_none(
    shared_server: ServerProcess,
) -> None:
    outpost = make_outpost(shared_server.client())
    primary, alias = outpost.sender_id, new_address(outpost)
    before = describe(outpost, primary)["ModifiedTimestamp"]
    time.sleep(0.01)

    assert associate(outpost, primary, alias)["ResponseMetadata"]["HTTPStatusCode"] == 200
    described = describe(outpost, primary)
    assert described["AliasConfigurations"] == [{"EmailAddressId": alias}]
    assert described["ModifiedTimestamp"] > before  # its configuration changed
    # "showing which email addresses forward to this primary address": none forward to it.
    assert "AliasConfigurations" not in describe(outpost, alias)

    found = outpost.client.search_email_addresses(InstanceId=outpost.instance_id)
    shown = {a["EmailAddressId"]: a.get("AliasConfigurations") for a in found["EmailAddresses"]}
    assert shown == {primary: [{"EmailAddressId": alias}], alias: None}

    time.sleep(0.01)
    disassociate(outpost, primary, alias)
    ended = describe(outpost, primary)
    assert "AliasConfigurations" not in ended
    assert ended["ModifiedTimestamp"] > described["ModifiedTimestamp"]
    found = outpost.client.search_email_addresses(InstanceId=outpost.instance_id)
    assert all("AliasConfigurations" not in a for a in found["EmailAddresses"])
    assert {a["EmailAddressId"] for a in found["EmailAddresses"]} == {primary, alias}


def test_addresses_may_be_named_by_arn(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    alias = new_address(outpost)
    primary_arn = describe(outpost, outpost.sender_id)["EmailAddressArn"]
    alias_arn = describe(outpost, alias)["EmailAddressArn"]
    associate(outpost, primary_arn, alias_arn)
    assert aliases(outpost, outpost.sender_id) == [alias]
    disassociate(outpost, primary_arn, alias_arn)
    assert aliases(outpost, outpost.sender_id) == []


def test_an_address_has_at_most_one_alias(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    primary, first, second = outpost.sender_id, new_address(outpost), new_address(outpost)
    associate(outpost, primary, first)
    for alias in (second, first):  # another alias, or the same one again
        with pytest.raises(ClientError) as exc:
            associate(outpost, primary, alias)
        assert code(exc) == "ResourceConflictException"
    assert aliases(outpost, primary) == [first]

    # After a disassociation the addresses can be associated again at once, either way.
    disassociate(outpost, primary, first)
    associate(outpost, primary, second)
    assert aliases(outpost, primary) == [second]


def test_an_alias_forwards_to_one_primary(shared_server: ServerProcess) -> None:
    outpost, primary, alias, other = aliased(shared_server)
    with pytest.raises(ClientError) as exc:
        associate(outpost, other, alias)
    assert code(exc) == "ResourceConflictException"
    assert aliases(outpost, other) == []
    assert aliases(outpost, primary) == [alias]


@pytest.mark.parametrize("link", ["alias-of-an-alias", "alias-with-an-alias"])
def test_aliases_cannot_be_chained(shared_server: ServerProcess, link: str) -> None:
    outpost, primary, alias, third = aliased(shared_server)
    with pytest.raises(ClientError) as exc:
        if link == "alias-of-an-alias":
            associate(outpost, alias, third)  # the alias would have an alias
        else:
            associate(outpost, third, primary)  # an address with an alias would become one
    assert code(exc) == "ResourceConflictException"
    assert aliases(outpost, primary) == [alias]
    assert aliases(outpost, alias) == aliases(outpost, third) == []


def test_an_address_cannot_be_its_own_alias(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    with pytest.raises(ClientError) as exc:
        associate(outpost, outpost.sender_id, outpost.sender_id)
    assert code(exc) == "InvalidParameterException"
    assert aliases(outpost, outpost.sender_id) == []


def test_unknown_addresses_and_other_instances_are_not_found(
    shared_server: ServerProcess,
) -> None:
    client = shared_server.client()
    outpost, elsewhere = make_outpost(client), make_outpost(client)
    missing = str(uuid.uuid4())
    for primary, alias in [
        (outpost.sender_id, missing),
        (missing, outpost.sender_id),
        (outpost.sender_id, elsewhere.sender_id),  # both must be of the instance
    ]:
        for change in (associate, disassociate):
            with pytest.raises(ClientError) as exc:
                change(outpost, primary, alias)
            assert code(exc) == "ResourceNotFoundException", (change, primary, alias)
    assert aliases(outpost, outpost.sender_id) == aliases(elsewhere, elsewhere.sender_id) == []


def test_disassociating_an_association_that_does_not_exist_is_not_found(
    shared_server: ServerProcess,
) -> None:
    """ "The alias association must currently exist between the primary email address and the
    specified alias email address." """
    outpost = make_outpost(shared_server.client())
    primary, alias, other = outpost.sender_id, new_address(outpost), new_address(outpost)
    with pytest.raises(ClientError) as exc:
        disassociate(outpost, primary, alias)  # never associated
    assert code(exc) == "ResourceNotFoundException"

    associate(outpost, primary, alias)
    for wrong_primary, wrong_alias in [(other, alias), (alias, primary), (primary, other)]:
        with pytest.raises(ClientError) as exc:
            disassociate(outpost, wrong_primary, wrong_alias)
        assert code(exc) == "ResourceNotFoundException"
    assert aliases(outpost, primary) == [alias]

    disassociate(outpost, primary, alias)
    with pytest.raises(ClientError) as exc:
        disassociate(outpost, primary, alias)  # already ended
    assert code(exc) == "ResourceNotFoundException"


def test_deleting_the_primary_ends_the_association(shared_server: ServerProcess) -> None:
    outpost, primary, alias, other = aliased(shared_server)
    outpost.client.delete_email_address(InstanceId=outpost.instance_id, EmailAddressId=primary)
    # The former alias is an address like any other: it may have an alias of its own.
    associate(outpost, alias, other)
    assert aliases(outpost, alias) == [other]


def test_deleting_the_alias_ends_the_association(shared_server: ServerProcess) -> None:
    outpost, primary, alias, other = aliased(shared_server)
    before = describe(outpost, primary)["ModifiedTimestamp"]
    time.sleep(0.01)
    outpost.client.delete_email_address(InstanceId=outpost.instance_id, EmailAddressId=alias)
    described = describe(outpost, primary)
    assert "AliasConfigurations" not in described
    assert described["ModifiedTimestamp"] > before  # what it shows changed
    associate(outpost, primary, other)  # room for another alias
    assert aliases(outpost, primary) == [other]


def test_metadata_updates_leave_the_association(shared_server: ServerProcess) -> None:
    outpost, primary, alias, _ = aliased(shared_server)
    for address_id in (primary, alias):
        outpost.client.update_email_address_metadata(
            InstanceId=outpost.instance_id, EmailAddressId=address_id, Description="renamed"
        )
    assert aliases(outpost, primary) == [alias]


def test_a_client_token_makes_each_change_once(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    primary, alias, other = outpost.sender_id, new_address(outpost), new_address(outpost)
    token = str(uuid.uuid4())
    associate(outpost, primary, alias, ClientToken=token)
    associate(outpost, primary, alias, ClientToken=token)  # a retry: no conflict with itself
    with pytest.raises(ClientError) as exc:
        associate(outpost, primary, other, ClientToken=token)
    assert code(exc) == "IdempotencyException"
    assert aliases(outpost, primary) == [alias]

    token = str(uuid.uuid4())
    disassociate(outpost, primary, alias, ClientToken=token)
    disassociate(outpost, primary, alias, ClientToken=token)  # not "not found": the same answer
    assert aliases(outpost, primary) == []


def race(outpost: Outpost, *pairs: tuple[str, str]) -> list[str]:
    """Associate each (primary, alias) at the same moment: "ok" or the error code of each."""
    start = threading.Barrier(len(pairs))
    outcomes: list[str] = []

    def run(primary: str, alias: str) -> None:
        start.wait()
        try:
            associate(outpost, primary, alias)
            outcomes.append("ok")
        except ClientError as error:
            outcomes.append(str(error.response["Error"]["Code"]))

    threads = [threading.Thread(target=run, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


def test_racing_associations_never_make_a_chain(shared_server: ServerProcess) -> None:
    """A <- B and B <- C at once: each alone is allowed, together they would be a chain."""
    outpost = make_outpost(shared_server.client())
    for _ in range(8):
        a, b, c = new_address(outpost), new_address(outpost), new_address(outpost)
        assert race(outpost, (a, b), (b, c)) == ["ResourceConflictException", "ok"]
        assert len(aliases(outpost, a)) + len(aliases(outpost, b)) == 1


def test_start_email_contact_to_an_alias_makes_the_one_contact_it_names(
    shared_server: ServerProcess,
) -> None:
    """StartEmailContact makes the contact its DestinationEmailAddress names, and no other:
    forwarding is what mail to the alias gets (over SMTP)."""
    client = shared_server.client()
    outpost = make_outpost(client)
    alias_address = unique_address("help")
    alias = client.create_email_address(InstanceId=outpost.instance_id, EmailAddress=alias_address)[
        "EmailAddressId"
    ]
    associate(outpost, outpost.sender_id, alias)
    started = client.start_email_contact(
        InstanceId=outpost.instance_id,
        FromEmailAddress={"EmailAddress": "customer@example.org"},
        DestinationEmailAddress=alias_address,
        EmailMessage={
            "MessageSourceType": "RAW",
            "RawMessage": {"Subject": "Hi", "Body": "Hello", "ContentType": "text/plain"},
        },
    )
    found = client.search_contacts(**received_search(outpost.instance_id))["Contacts"]
    assert [c["Id"] for c in found] == [started["ContactId"]]
    contact = outpost.describe(started["ContactId"])
    assert contact["SystemEndpoint"]["Address"] == alias_address
    assert "connectmail:ForwardedFrom" not in contact["SegmentAttributes"]
