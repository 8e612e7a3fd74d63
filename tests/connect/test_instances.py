"""Instances: the container of everything, regional and per account, as in Amazon Connect."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.server import ServerProcess


def create(client: Any, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "IdentityManagementType": "CONNECT_MANAGED",
        "InstanceAlias": f"i-{uuid.uuid4().hex[:12]}",
        "InboundCallsEnabled": True,
        "OutboundCallsEnabled": False,
    }
    params.update(extra)
    result: dict[str, Any] = client.create_instance(**params)
    return result


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_create_describe_list_delete(shared_server: ServerProcess) -> None:
    client = shared_server.client(region="eu-west-2")
    created = create(client, Tags={"team": "support"})
    assert created["Arn"] == (
        f"arn:aws:connect:eu-west-2:{shared_server.account_id}:instance/{created['Id']}"
    )

    instance = client.describe_instance(InstanceId=created["Id"])["Instance"]
    assert instance["Id"] == created["Id"]
    assert instance["InstanceStatus"] == "ACTIVE"
    assert instance["IdentityManagementType"] == "CONNECT_MANAGED"
    assert instance["InboundCallsEnabled"] is True and instance["OutboundCallsEnabled"] is False
    assert instance["Tags"] == {"team": "support"}
    assert client.describe_instance(InstanceId=created["Arn"])["Instance"]["Id"] == created["Id"]

    listed = [i["Id"] for i in _list_all(client)]
    assert created["Id"] in listed

    client.delete_instance(InstanceId=created["Id"])
    with pytest.raises(ClientError) as exc:
        client.describe_instance(InstanceId=created["Id"])
    assert code(exc) == "ResourceNotFoundException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert created["Id"] not in [i["Id"] for i in _list_all(client)]


def _list_all(client: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in client.get_paginator("list_instances").paginate(PaginationConfig={"PageSize": 2}):
        found.extend(page["InstanceSummaryList"])
    return found


def test_list_pages_through_every_instance_once(shared_server: ServerProcess) -> None:
    client = shared_server.client(region="ap-south-1")
    made = {create(client)["Id"] for _ in range(5)}
    first = client.list_instances(MaxResults=2)
    assert len(first["InstanceSummaryList"]) == 2 and "NextToken" in first
    ids = [i["Id"] for i in _list_all(client)]
    assert len(ids) == len(set(ids))
    assert made <= set(ids)


def test_instances_are_regional(shared_server: ServerProcess) -> None:
    east = shared_server.client(region="us-east-2")
    west = shared_server.client(region="us-west-1")
    created = create(east)
    with pytest.raises(ClientError) as exc:
        west.describe_instance(InstanceId=created["Id"])
    assert code(exc) == "ResourceNotFoundException"
    assert created["Id"] not in [i["Id"] for i in _list_all(west)]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"IdentityManagementType": "EXISTING_DIRECTORY", "InstanceAlias": None},
            "DirectoryId is required",
        ),
        (
            {"IdentityManagementType": "CONNECT_MANAGED", "InstanceAlias": None},
            "InstanceAlias is required",
        ),
        ({"IdentityManagementType": "CONNECT_MANAGED", "InstanceAlias": "d-abc"}, "InstanceAlias"),
    ],
)
def test_invalid_instances_are_refused(
    shared_server: ServerProcess, params: dict[str, Any], message: str
) -> None:
    client = shared_server.client()
    request = {
        "InboundCallsEnabled": True,
        "OutboundCallsEnabled": True,
        **{k: v for k, v in params.items() if v is not None},
    }
    with pytest.raises(ClientError) as exc:
        client.create_instance(**request)
    assert code(exc) == "InvalidRequestException"
    assert message in exc.value.response["Error"]["Message"]


def test_alias_is_unique_in_the_account_and_region(shared_server: ServerProcess) -> None:
    client = shared_server.client()
    alias = f"dup-{uuid.uuid4().hex[:8]}"
    create(client, InstanceAlias=alias)
    for again in (alias, alias.upper()):  # one host name: ALIAS.my.connect.aws
        with pytest.raises(ClientError) as exc:
            create(client, InstanceAlias=again)
        assert code(exc) == "InvalidRequestException"


def test_an_arn_must_name_the_instance_itself(shared_server: ServerProcess) -> None:
    """An ARN is the whole name: one that ends in the instance's ID but names another region,
    account or service names nothing here."""
    client = shared_server.client()
    created = create(client, InstanceAlias=f"arn-{uuid.uuid4().hex[:8]}")
    arn = created["Arn"]
    assert client.describe_instance(InstanceId=arn)["Instance"]["Id"] == created["Id"]
    region, account = arn.split(":")[3:5]
    for wrong in (
        arn.replace(f":{region}:", ":eu-west-1:"),
        arn.replace(f":{account}:", ":111111111111:"),
        arn.replace(":connect:", ":wisdom:"),
    ):
        with pytest.raises(ClientError) as exc:
            client.describe_instance(InstanceId=wrong)
        assert code(exc) == "ResourceNotFoundException"


def test_client_token_makes_create_idempotent(shared_server: ServerProcess) -> None:
    client = shared_server.client()
    alias = f"idem-{uuid.uuid4().hex[:8]}"
    first = create(client, InstanceAlias=alias, ClientToken="instance-token-1")
    again = create(client, InstanceAlias=alias, ClientToken="instance-token-1")
    assert again["Id"] == first["Id"]
    with pytest.raises(ClientError) as exc:
        create(client, InstanceAlias=alias + "x", ClientToken="instance-token-1")
    # CreateInstance models no IdempotencyException (nor any conflict): its error for a bad
    # request is the one its SDKs know.
    assert code(exc) == "InvalidRequestException"
    assert "client token" in exc.value.response["Error"]["Message"]


def test_client_token_reused_to_delete_another_instance(shared_server: ServerProcess) -> None:
    client = shared_server.client()
    first = create(client, InstanceAlias=f"del-{uuid.uuid4().hex[:8]}")
    second = create(client, InstanceAlias=f"del-{uuid.uuid4().hex[:8]}")
    client.delete_instance(InstanceId=first["Id"], ClientToken="delete-token-1")
    with pytest.raises(ClientError) as exc:
        client.delete_instance(InstanceId=second["Id"], ClientToken="delete-token-1")
    assert code(exc) == "InvalidRequestException"
    assert client.describe_instance(InstanceId=second["Id"])["Instance"]["Id"] == second["Id"]
