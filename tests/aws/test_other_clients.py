"""The other AWS clients work unchanged: the JavaScript SDK v3 and the AWS CLI.

They sign, encode labels and queries, and parse errors with their own code, so they check the
protocol layer against an implementation that is not botocore's. Every operation, compared
with boto3 field by field: test_other_clients_walk.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import ServerProcess

JS_DIR = Path(__file__).parent / "js"
JS_CLIENTS = ("client-connect", "client-qconnect")


@pytest.fixture(scope="module")
def server(sqlite_server: ServerProcess) -> ServerProcess:
    return sqlite_server


# -- the AWS SDK for JavaScript v3 ---------------------------------------------------------


@pytest.fixture(scope="module")
def js_sdk(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/aws/js installed once into pytest's cache (npm install from the npm registry)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to run the JavaScript SDK")
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    directory = Path(
        cache.mkdir("connectmail-js-sdk") if cache else tmp_path_factory.mktemp("js-sdk")
    )
    wanted = (JS_DIR / "package.json").read_text()
    manifest = directory / "package.json"
    if not manifest.exists() or manifest.read_text() != wanted:
        manifest.write_text(wanted)
        shutil.rmtree(directory / "node_modules", ignore_errors=True)
    installed_clients = (directory / "node_modules" / "@aws-sdk" / name for name in JS_CLIENTS)
    if not all(client.exists() for client in installed_clients):
        installed = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if installed.returncode != 0:
            pytest.skip(f"npm install failed (is the npm registry reachable?): {installed.stderr}")
    for script in JS_DIR.glob("*.mjs"):
        shutil.copy(script, directory / script.name)
    return directory


def run_js(
    js_sdk: Path, server: ServerProcess, calls: list[dict[str, Any]], **options: Any
) -> list[dict[str, Any]]:
    credentials = {**server.credentials, **options.get("credentials", {})}
    spec = {
        "endpoint": server.endpoint,
        "region": options.get("region", "us-east-1"),
        "credentials": {
            "accessKeyId": credentials["aws_access_key_id"],
            "secretAccessKey": credentials["aws_secret_access_key"],
        },
        "calls": calls,
    }
    done = subprocess.run(
        ["node", str(js_sdk / "connect.mjs")],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def test_js_sdk_sends_an_email_end_to_end(js_sdk: Path, server: ServerProcess) -> None:
    alias = f"js{uuid.uuid4().hex[:12]}"
    sender = f"js-{uuid.uuid4().hex[:8]}@example.com"
    calls = [
        {
            "command": "CreateInstanceCommand",
            "input": {
                "IdentityManagementType": "CONNECT_MANAGED",
                "InstanceAlias": alias,
                "InboundCallsEnabled": True,
                "OutboundCallsEnabled": True,
                "Tags": {"Schlüssel": "値 with spaces"},
            },
        },
        {
            "command": "CreateEmailAddressCommand",
            "input": {"InstanceId": "$0.Arn", "EmailAddress": sender, "DisplayName": "JS Ünï"},
        },
        {
            "command": "CreateContactCommand",
            "input": {
                "InstanceId": "$0.Id",
                "Channel": "EMAIL",
                "InitiationMethod": "OUTBOUND",
                "UserInfo": {"UserId": "agent-1"},
            },
        },
        {
            "command": "StartOutboundEmailContactCommand",
            "input": {
                "InstanceId": "$0.Id",
                "ContactId": "$2.ContactId",
                "DestinationEmailAddress": {"EmailAddress": "jane@example.org"},
                "EmailMessage": {
                    "MessageSourceType": "RAW",
                    "RawMessage": {
                        "Subject": "Your order — shipped ✓",
                        "Body": "Hello from JavaScript",
                        "ContentType": "text/plain",
                    },
                },
            },
        },
        # ARNs as labels: ':' and '/' percent-encoded by the SDK, signed double-encoded.
        {
            "command": "DescribeContactCommand",
            "input": {"InstanceId": "$0.Arn", "ContactId": "$2.ContactArn"},
        },
        {"command": "ListInstancesCommand", "input": {"MaxResults": 10}},
        {
            "command": "SearchEmailAddressesCommand",
            "input": {
                "InstanceId": "$0.Id",
                "SearchCriteria": {
                    "StringCondition": {
                        "FieldName": "EmailAddress",
                        "Value": sender,
                        "ComparisonType": "EXACT",
                    }
                },
            },
        },
        {"command": "DescribeInstanceCommand", "input": {"InstanceId": "$0.Id"}},
    ]
    results = run_js(js_sdk, server, calls, region="eu-west-3")
    failed = [r for r in results if not r["ok"]]
    assert failed == []
    instance, _, contact, sent, described, listed, found, instance_view = (
        r["output"] for r in results
    )
    assert instance["Arn"].startswith("arn:aws:connect:eu-west-3:")
    assert sent["ContactId"] == contact["ContactId"]
    assert described["Contact"]["Id"] == contact["ContactId"]
    assert described["Contact"]["SegmentAttributes"]["connect:EmailSubject"] == {
        "ValueString": "Your order — shipped ✓"
    }
    assert instance["Id"] in [i["Id"] for i in listed["InstanceSummaryList"]]
    assert [a["EmailAddress"] for a in found["EmailAddresses"]] == [sender]
    assert instance_view["Instance"]["Tags"] == {"Schlüssel": "値 with spaces"}


def test_js_sdk_sees_aws_errors(js_sdk: Path, server: ServerProcess) -> None:
    missing = str(uuid.uuid4())
    results = run_js(
        js_sdk,
        server,
        [
            {"command": "DescribeInstanceCommand", "input": {"InstanceId": missing}},
            {
                "command": "CreateContactCommand",
                "input": {"InstanceId": missing, "Channel": "EMAIL", "InitiationMethod": "NOPE"},
            },
        ],
    )
    assert results[0] == {
        "ok": False,
        "name": "ResourceNotFoundException",
        "status": 404,
        "message": f"Instance not found: {missing}",
        "fields": {},
    }
    assert results[1]["name"] == "InvalidRequestException" and results[1]["status"] == 400
    assert "'InitiationMethod'" in results[1]["message"]
    wrong = run_js(
        js_sdk,
        server,
        [{"command": "ListInstancesCommand", "input": {}}],
        credentials={"aws_secret_access_key": "wrong"},
    )
    assert wrong[0]["name"] == "InvalidSignatureException" and wrong[0]["status"] == 403


# -- the AWS CLI ---------------------------------------------------------------------------


def aws(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": server.credentials["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": server.credentials["aws_secret_access_key"],
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_PAGER": "",
        "AWS_MAX_ATTEMPTS": "1",
    }
    options = ["--endpoint-url", server.endpoint, "--region", "us-east-1", "--output", "json"]
    return subprocess.run(
        [sys.executable, "-m", "awscli", "connect", *args, *options],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_aws_cli(server: ServerProcess) -> None:
    created = aws(
        server,
        "create-instance",
        "--identity-management-type",
        "CONNECT_MANAGED",
        "--instance-alias",
        f"cli{uuid.uuid4().hex[:12]}",
        "--inbound-calls-enabled",
        "--outbound-calls-enabled",
    )
    assert created.returncode == 0, created.stderr
    instance = json.loads(created.stdout)
    listed = aws(server, "list-instances")
    assert listed.returncode == 0, listed.stderr
    assert instance["Id"] in [i["Id"] for i in json.loads(listed.stdout)["InstanceSummaryList"]]
    described = aws(server, "describe-instance", "--instance-id", instance["Arn"])
    assert json.loads(described.stdout)["Instance"]["Id"] == instance["Id"]

    missing = aws(server, "describe-instance", "--instance-id", "no-such-instance")
    assert missing.returncode == 255  # the CLI v1's code for a service error
    assert (
        "An error occurred (ResourceNotFoundException) when calling the DescribeInstance "
        "operation: Instance not found: no-such-instance" in missing.stderr
    )
