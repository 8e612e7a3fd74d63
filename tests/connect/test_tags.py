"""Tags of instances and email addresses by ARN: TagResource, UntagResource,
ListTagsForResource."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.connect import Outpost, make_outpost, unique_address
from tests.support.mail import from_header
from tests.support.server import ServerProcess


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def address_arn(outpost: Outpost) -> str:
    described = outpost.client.describe_email_address(
        InstanceId=outpost.instance_id, EmailAddressId=outpost.sender_id
    )
    return str(described["EmailAddressArn"])


def test_an_email_addresss_tags_are_added_listed_and_removed(shared_server: ServerProcess) -> None:
    client = shared_server.client()
    outpost = make_outpost(client)
    arn = address_arn(outpost)
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {}

    client.tag_resource(resourceArn=arn, tags={"team": "sales", "tier": "gold"})
    client.tag_resource(resourceArn=arn, tags={"tier": "platinum"})
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {
        "team": "sales",
        "tier": "platinum",
    }
    described = client.describe_email_address(
        InstanceId=outpost.instance_id, EmailAddressId=outpost.sender_id
    )
    assert described["Tags"] == {"team": "sales", "tier": "platinum"}

    client.untag_resource(resourceArn=arn, tagKeys=["team", "never-set"])
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"tier": "platinum"}


def test_an_instances_tags(shared_server: ServerProcess) -> None:
    client = shared_server.client()
    outpost = make_outpost(client)
    arn = client.describe_instance(InstanceId=outpost.instance_id)["Instance"]["Arn"]
    client.tag_resource(resourceArn=arn, tags={"env": "ci"})
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"env": "ci"}
    assert client.describe_instance(InstanceId=outpost.instance_id)["Instance"]["Tags"] == {
        "env": "ci"
    }
    client.untag_resource(resourceArn=arn, tagKeys=["env"])
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {}


def test_tagging_an_address_makes_it_the_instances_default_sender(
    shared_server: ServerProcess,
) -> None:
    client = shared_server.client()
    outpost = make_outpost(client)
    later = unique_address("later")
    created = client.create_email_address(InstanceId=outpost.instance_id, EmailAddress=later)
    client.tag_resource(
        resourceArn=created["EmailAddressArn"], tags={"connectmail:default-outbound": "true"}
    )
    to = unique_address("customer")
    outpost.send(to=to)  # no FromEmailAddress: the instance's default sender
    deadline = time.monotonic() + 30
    while not (kept := shared_server.mailbox(to=to)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [from_header(m) for m in kept] == [later]


@pytest.mark.parametrize(
    ("arn", "error"),
    [
        ("not-an-arn", "InvalidParameterException"),
        ("arn:aws:connect:us-east-1:{account}:instance/{instance}/queue/q-1", None),
        ("arn:aws:connect:us-east-1:{account}:instance/{instance}/email-address/nope", None),
        ("arn:aws:connect:us-east-1:{account}:instance/no-such-instance", None),
        ("arn:aws:connect:us-east-1:111122223333:instance/{instance}", None),
        ("arn:aws:connect:eu-west-1:{account}:instance/{instance}", None),
    ],
)
def test_a_resource_that_is_not_there_is_refused_and_nothing_changes(
    shared_server: ServerProcess, arn: str, error: str | None
) -> None:
    client = shared_server.client()
    outpost = make_outpost(client)
    named = arn.format(account=shared_server.account_id, instance=outpost.instance_id)
    calls: list[Any] = [
        lambda: client.tag_resource(resourceArn=named, tags={"a": "b"}),
        lambda: client.untag_resource(resourceArn=named, tagKeys=["a"]),
        lambda: client.list_tags_for_resource(resourceArn=named),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == (error or "ResourceNotFoundException")
    instance_arn = client.describe_instance(InstanceId=outpost.instance_id)["Instance"]["Arn"]
    assert client.list_tags_for_resource(resourceArn=instance_arn)["tags"] == {}


def test_at_most_fifty_tags_and_none_of_aws_own(shared_server: ServerProcess) -> None:
    client = shared_server.client()
    arn = address_arn(make_outpost(client))
    client.tag_resource(resourceArn=arn, tags={f"k{n}": "v" for n in range(50)})
    with pytest.raises(ClientError) as exc:
        client.tag_resource(resourceArn=arn, tags={"one-more": "v"})
    assert code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        client.tag_resource(resourceArn=arn, tags={"aws:reserved": "v"})
    assert code(exc) == "InvalidRequestException"
    tags = client.list_tags_for_resource(resourceArn=arn)["tags"]
    assert len(tags) == 50 and "one-more" not in tags
