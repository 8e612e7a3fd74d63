"""Presigned URLs: SigV4 in the query string, as boto3's `generate_presigned_url` makes them.

The URL is fetched by a client that knows nothing of AWS (urllib), as a browser or curl would.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, NamedTuple
from urllib.error import HTTPError
from urllib.request import urlopen

import orjson
import pytest

from tests.support.server import ServerProcess


class Fetched(NamedTuple):
    status: int
    error_type: str | None
    document: Any


def fetch(url: str) -> Fetched:
    try:
        with urlopen(url, timeout=30) as response:
            return Fetched(response.status, None, orjson.loads(response.read()))
    except HTTPError as error:
        error_type = error.headers.get("x-amzn-errortype")
        return Fetched(error.code, error_type, orjson.loads(error.read()))


@pytest.fixture(scope="module")
def server(sqlite_server: ServerProcess) -> ServerProcess:
    return sqlite_server


@pytest.fixture(scope="module")
def instance_id(server: ServerProcess) -> str:
    connect = server.client()
    for _ in range(2):  # two at least, for a page of one to have a next
        created = connect.create_instance(
            IdentityManagementType="CONNECT_MANAGED",
            InstanceAlias=f"presigned-{uuid.uuid4().hex[:12]}",
            InboundCallsEnabled=True,
            OutboundCallsEnabled=True,
        )
    return str(created["Id"])


def presign(server: ServerProcess, operation: str, expires: int = 60, **params: Any) -> str:
    return str(server.client().generate_presigned_url(operation, Params=params, ExpiresIn=expires))


def assert_refused(fetched: Fetched, code: str, message: str) -> None:
    assert (fetched.status, fetched.error_type) == (403, code)
    assert message in fetched.document["message"]


def test_a_presigned_url_answers_like_the_call(server: ServerProcess, instance_id: str) -> None:
    fetched = fetch(presign(server, "describe_instance", InstanceId=instance_id))
    assert fetched.status == 200
    assert fetched.document["Instance"]["Id"] == instance_id
    arn = fetched.document["Instance"]["Arn"]
    assert arn.startswith(f"arn:aws:connect:us-east-1:{server.account_id}:instance/")


def test_the_operations_query_is_read_and_the_signatures_is_not(
    server: ServerProcess, instance_id: str
) -> None:
    first = fetch(presign(server, "list_instances", MaxResults=1))
    assert first.status == 200
    assert len(first.document["InstanceSummaryList"]) == 1
    following = fetch(
        presign(server, "list_instances", MaxResults=1, NextToken=first.document["NextToken"])
    )
    assert following.status == 200
    assert following.document["InstanceSummaryList"] != first.document["InstanceSummaryList"]


def test_a_url_lives_as_long_as_it_says(
    server: ServerProcess, instance_id: str, client_clock: Any
) -> None:
    """Older than the 15 minutes of skew a signed header may have, and still good."""
    client_clock(timedelta(minutes=-20))
    assert fetch(presign(server, "describe_instance", 3600, InstanceId=instance_id)).status == 200
    expired = fetch(presign(server, "describe_instance", 600, InstanceId=instance_id))
    assert_refused(expired, "InvalidSignatureException", "Signature expired: ")


def test_a_url_signed_in_the_future(
    server: ServerProcess, instance_id: str, client_clock: Any
) -> None:
    client_clock(timedelta(minutes=20))
    fetched = fetch(presign(server, "describe_instance", 3600, InstanceId=instance_id))
    assert_refused(fetched, "InvalidSignatureException", "Signature not yet current: ")


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        (
            lambda url: url.replace("MaxResults=1", "MaxResults=2").replace(
                "maxResults=1", "maxResults=2"
            ),
            "InvalidSignatureException",
            "does not match",
        ),
        (
            lambda url: url[:-1] + ("0" if url[-1] != "0" else "1"),
            "InvalidSignatureException",
            "does not match",
        ),
        (
            lambda url: url.replace("X-Amz-SignedHeaders=host&", ""),
            "IncompleteSignatureException",
            "'X-Amz-SignedHeaders'",
        ),
        (
            lambda url: url.replace("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4"),
            "IncompleteSignatureException",
            "AWS4-HMAC-SHA256",
        ),
    ],
    ids=["query-changed", "signature-changed", "no-signed-headers", "other-algorithm"],
)
def test_a_changed_url(
    server: ServerProcess, instance_id: str, change: Callable[[str], str], code: str, message: str
) -> None:
    url = presign(server, "list_instances", MaxResults=1)
    assert fetch(url).status == 200
    assert_refused(fetch(change(url)), code, message)


def test_a_url_may_live_seven_days_at_most(server: ServerProcess, instance_id: str) -> None:
    week = 7 * 24 * 3600
    assert fetch(presign(server, "describe_instance", week, InstanceId=instance_id)).status == 200
    fetched = fetch(presign(server, "describe_instance", week + 1, InstanceId=instance_id))
    assert_refused(fetched, "IncompleteSignatureException", "X-Amz-Expires")


def test_a_session_token_is_none_of_ours(server: ServerProcess, instance_id: str) -> None:
    client = server.client(aws_session_token="a-token-connectmail-never-issued")
    url = client.generate_presigned_url("describe_instance", Params={"InstanceId": instance_id})
    assert "X-Amz-Security-Token=" in url
    assert_refused(fetch(url), "UnrecognizedClientException", "security token")


def test_a_key_that_is_not_ours(server: ServerProcess, instance_id: str) -> None:
    client = server.client(
        credentials={"aws_access_key_id": "AKIANOTCONNECTMAILS1", "aws_secret_access_key": "x"}
    )
    url = client.generate_presigned_url("describe_instance", Params={"InstanceId": instance_id})
    assert_refused(fetch(url), "UnrecognizedClientException", "security token")
