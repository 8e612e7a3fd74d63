"""Throttling: Amazon Connect's default rates under `--limits aws`, shared by every process."""

from __future__ import annotations

import math
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.connect import make_outpost
from tests.support.server import ServerProcess

SHARED_ROOT = {
    "CONNECTMAIL_ACCESS_KEY_ID": "AKIATHROTTLESHARED01",
    "CONNECTMAIL_SECRET_ACCESS_KEY": "throttle-test-secret",
    "CONNECTMAIL_ACCOUNT_ID": "111122223333",
}


def create_instance(client: Any) -> None:
    client.create_instance(
        IdentityManagementType="SAML",
        InstanceAlias=f"t-{uuid.uuid4().hex[:8]}",
        InboundCallsEnabled=True,
        OutboundCallsEnabled=True,
    )


def attempt(call: Any) -> bool:
    try:
        call()
        return True
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ThrottlingException"
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        return False


def burst(calls: list[Any]) -> tuple[list[bool], float]:
    """Make the calls at once; return which succeeded and how long they took in all."""
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, calls))
    return results, time.monotonic() - started


def test_aws_profile_bursts_then_throttles(start_server: Any) -> None:
    server: ServerProcess = start_server("--limits", "aws")
    client = server.client()
    results, elapsed = burst([lambda: create_instance(client)] * 30)
    # A burst of 5, then 2 a second.
    assert 5 <= results.count(True) <= 5 + math.ceil(elapsed * 2)
    assert False in results
    # Amazon Connect's quotas are per account and Region: another Region has its own burst.
    elsewhere = server.client(region="eu-west-1")
    assert [attempt(lambda: create_instance(elsewhere)) for _ in range(5)] == [True] * 5

    outpost = make_outpost(
        server.client(config=Config(retries={"max_attempts": 10, "mode": "standard"}))
    )
    contact_id = outpost.contact("FLOW")
    # DescribeContact has its own bucket: 10 per second with a burst of 15.
    described = [
        attempt(
            lambda: client.describe_contact(InstanceId=outpost.instance_id, ContactId=contact_id)
        )
        for _ in range(15)
    ]
    assert described == [True] * 15


def test_standard_retries_ride_out_throttling(start_server: Any) -> None:
    server: ServerProcess = start_server("--limits", "aws")
    client = server.client(config=Config(retries={"max_attempts": 10, "mode": "standard"}))
    for _ in range(9):
        create_instance(client)  # botocore backs off and retries ThrottlingException


def test_unlimited_by_default(shared_server: ServerProcess) -> None:
    client = shared_server.client()
    for _ in range(20):
        create_instance(client)


def test_two_processes_share_one_bucket(start_server: Any, postgres_url: str) -> None:
    args = ("--limits", "aws", "--database-url", postgres_url)
    first = start_server(*args, env=SHARED_ROOT)
    second = start_server(*args, env=SHARED_ROOT)
    clients = [first.client(), second.client()]
    results, elapsed = burst([lambda c=c: create_instance(c) for c in clients * 15])
    # One bucket for the account: 5 at once plus 2 a second, not that per process.
    assert 5 <= results.count(True) <= 5 + math.ceil(elapsed * 2)


def test_qconnect_throttles_with_its_own_status(start_server: Any) -> None:
    server: ServerProcess = start_server("--limits", "aws")
    qconnect = server.client("qconnect")
    results: list[bool] = []

    def list_kbs() -> bool:
        try:
            qconnect.list_knowledge_bases()
            return True
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ThrottlingException"
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            return False

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: list_kbs(), range(60)))
    elapsed = time.monotonic() - started
    assert 10 <= results.count(True) <= 10 + math.ceil(elapsed * 10)
    assert False in results
