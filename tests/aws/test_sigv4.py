"""SigV4: our canonical request is botocore's, and every way a signature fails is AWS's 403.

The server is real; the clients are boto3 (for what botocore must raise) and botocore's own
signer over raw HTTP (for requests no SDK would send).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from connectmail.aws import sigv4
from tests.support.server import ServerProcess
from tests.support.wire import Answer, send, sign, signed

# -- the canonical request, ours against botocore's ----------------------------------------

TARGETS = [
    "/instance",
    "/instance/",
    "/contacts/arn%3Aaws%3Aconnect%3Aus-east-1%3A123456789012%3Ainstance%2Fabc/c-1",
    "/instance/a%20b",
    "/instance/%C3%BC%E2%82%AC",
    "/instance/~tilde~",
    "/instance/%7E",
    "/instance//double//slash",
    "/instance/./dot/../segments",
    "/instance/..",
    "/a%2Fb%252F",
    "/",
    "/instance?maxResults=5&nextToken=a%2Bb%2Fc%3D",
    "/instance?b=2&a=1&a=0&A=3",
    "/instance?empty=&flag",
    "/instance?k=%20space%20&u=%C3%BC&t=~",
    "/instance?x=a-b_c.d~e",
    "/instance?latin1=%FF&utf8=%E2%82%AC",
]


def botocore_canonical(target: str, body: bytes, headers: dict[str, str]) -> tuple[str, Any]:
    request = AWSRequest(
        method="POST", url="http://127.0.0.1:4566" + target, data=body, headers=headers
    )
    auth = SigV4Auth(Credentials("AKIDEXAMPLE", "secret"), "connect", "us-east-1")
    auth.add_auth(request)
    return auth.canonical_request(request), (auth, request)


@pytest.mark.parametrize("target", TARGETS)
def test_canonical_request_is_botocores(target: str) -> None:
    body = b'{"Name": "x"}'
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Custom": "  a   b\tc  "}
    expected, (auth, request) = botocore_canonical(target, body, headers)
    signed_headers = tuple(auth.signed_headers(auth.headers_to_sign(request)).split(";"))
    received = {k.lower(): str(v) for k, v in request.headers.items()}
    received["host"] = "127.0.0.1:4566"
    url = urlsplit(request.url)
    ours = sigv4.canonical_request(
        signed_headers,
        method="POST",
        raw_path=url.path,
        query_string=url.query,
        headers=received,
        payload_sha256=hashlib.sha256(body).hexdigest(),
    )
    assert ours == expected


# -- end to end: what boto3 raises ---------------------------------------------------------


@pytest.fixture(scope="module")
def server(sqlite_server: ServerProcess) -> ServerProcess:
    return sqlite_server


def raises(call: Callable[[], Any]) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value


def assert_403(error: ClientError, code: str) -> None:
    assert error.response["Error"]["Code"] == code
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == code
    assert error.response["Error"]["Message"]


def test_a_correctly_signed_request_works(server: ServerProcess) -> None:
    assert "InstanceSummaryList" in server.client().list_instances()


def test_bad_secret(server: ServerProcess) -> None:
    client = server.client(credentials={"aws_secret_access_key": "not-the-secret"})
    error = raises(client.list_instances)
    assert_403(error, "InvalidSignatureException")
    assert error.response["Error"]["Message"].startswith(
        "The request signature we calculated does not match the signature you provided."
    )


def test_unknown_access_key(server: ServerProcess) -> None:
    client = server.client(credentials={"aws_access_key_id": "AKIANOSUCHKEY0000000"})
    error = raises(client.list_instances)
    assert_403(error, "UnrecognizedClientException")
    assert error.response["Error"]["Message"] == (
        "The security token included in the request is invalid."
    )


def test_no_authorization(server: ServerProcess) -> None:
    client = server.client(config=Config(signature_version=UNSIGNED))
    error = raises(client.list_instances)
    assert_403(error, "MissingAuthenticationTokenException")


def test_signed_twenty_minutes_ago(server: ServerProcess, client_clock: Any) -> None:
    client_clock(timedelta(minutes=-20))
    error = raises(server.client().list_instances)
    assert_403(error, "InvalidSignatureException")
    message = error.response["Error"]["Message"]
    assert message.startswith("Signature expired: ")
    assert " is now earlier than " in message and message.endswith(" - 15 min.)")


def test_signed_twenty_minutes_ahead(server: ServerProcess, client_clock: Any) -> None:
    client_clock(timedelta(minutes=20))
    error = raises(server.client().list_instances)
    assert_403(error, "InvalidSignatureException")
    assert error.response["Error"]["Message"].startswith("Signature not yet current: ")


def test_ten_minutes_of_skew_is_fine(server: ServerProcess, client_clock: Any) -> None:
    client_clock(timedelta(minutes=-10))
    server.client().list_instances()
    client_clock(timedelta(minutes=10))
    server.client().list_instances()


def tamper(client: Any, change: Callable[[Any], None]) -> Any:
    """Change every request after botocore signed it, just before it goes out."""
    client.meta.events.register("before-send.connect.*", lambda request, **_: change(request))
    return client


def swap_one_character(request: Any) -> None:
    body = request.body if isinstance(request.body, bytes) else request.body.encode()
    request.body = body.replace(b"EMAIL", b"EMAIM")


def change_path(request: Any) -> None:
    request.url = request.url.replace("/contact/create-contact", "/contact/create-contacT")


def add_query(request: Any) -> None:
    request.url += "?extra=1"


def change_signed_header(request: Any) -> None:
    request.headers["Content-Type"] = "text/plain"


def change_date(request: Any) -> None:
    stamp = (
        request.headers["X-Amz-Date"].decode()
        if isinstance(request.headers["X-Amz-Date"], bytes)
        else request.headers["X-Amz-Date"]
    )
    request.headers["X-Amz-Date"] = stamp[:-3] + ("00Z" if stamp[-3:] != "00Z" else "01Z")


@pytest.mark.parametrize(
    "change", [swap_one_character, change_path, add_query, change_signed_header, change_date]
)
def test_tampered_after_signing(server: ServerProcess, change: Callable[[Any], None]) -> None:
    client = tamper(server.client(), change)
    error = raises(
        lambda: client.create_contact(
            InstanceId=str(uuid.uuid4()), Channel="EMAIL", InitiationMethod="FLOW"
        )
    )
    assert_403(error, "InvalidSignatureException")


def test_signed_for_another_service(server: ServerProcess) -> None:
    """An SES client at our endpoint signs for `ses`, which this endpoint does not serve."""
    client = boto3.client(
        "sesv2",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}),
        **server.credentials,
    )
    error = raises(client.list_email_identities)
    assert_403(error, "InvalidSignatureException")
    assert error.response["Error"]["Message"].startswith(
        "Credential should be scoped to correct service"
    )


@pytest.mark.parametrize("region", ["eu-west-3", "ap-southeast-5", "local", "xx-test-9"])
def test_any_region_works_and_arns_carry_it(server: ServerProcess, region: str) -> None:
    client = server.client(region=region)
    instance = client.create_instance(
        IdentityManagementType="CONNECT_MANAGED",
        InstanceAlias=f"r{uuid.uuid4().hex[:12]}",
        InboundCallsEnabled=True,
        OutboundCallsEnabled=True,
    )
    assert instance["Arn"] == (
        f"arn:aws:connect:{region}:{server.account_id}:instance/{instance['Id']}"
    )
    contact = client.create_contact(
        InstanceId=instance["Id"], Channel="EMAIL", InitiationMethod="FLOW"
    )
    assert contact["ContactArn"].startswith(f"arn:aws:connect:{region}:")
    # Instances are regional: another region does not see it.
    other = server.client(region="us-west-2")
    error = raises(lambda: other.describe_instance(InstanceId=instance["Id"]))
    assert error.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_scope_that_is_no_region(server: ServerProcess) -> None:
    error = raises(server.client(region="Us-East-1").list_instances)
    assert_403(error, "InvalidSignatureException")
    assert error.response["Error"]["Message"] == "Credential should be scoped to a valid region."
    for region in ("us_east_1", "a" * 33, "-us", "us-", "us--east", "a:b"):
        answer = signed(server.endpoint, "GET", "/instance", server.credentials, region=region)
        assert answer.status == 403 and answer.error_type == "InvalidSignatureException", region


# -- malformed signatures, over raw HTTP ---------------------------------------------------


def assert_aws_403(answer: Answer, code: str) -> None:
    assert answer.status == 403
    assert answer.error_type == code
    assert answer.headers["content-type"] == "application/json"
    assert answer.message


def signed_headers_for(server: ServerProcess, **options: Any) -> list[tuple[str, str]]:
    return sign(server.endpoint, "GET", "/instance", server.credentials, **options)


def replace(headers: list[tuple[str, str]], name: str, value: str | None) -> list[tuple[str, str]]:
    kept = [(n, v) for n, v in headers if n.lower() != name.lower()]
    return kept if value is None else [*kept, (name, value)]


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        ("Basic dXNlcjpwYXNz", "IncompleteSignatureException"),
        ("AWS4-HMAC-SHA256", "IncompleteSignatureException"),
        (
            "AWS4-HMAC-SHA256 Credential={key}/20250101/us-east-1/connect, Signature=00",
            "IncompleteSignatureException",
        ),
        (
            "AWS4-HMAC-SHA256 Credential={key}/20250101/us-east-1/connect/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
            "InvalidSignatureException",
        ),
    ],
)
def test_malformed_authorization(server: ServerProcess, authorization: str, code: str) -> None:
    forged = authorization.format(key=server.credentials["aws_access_key_id"])
    headers = replace(signed_headers_for(server), "Authorization", forged)
    assert_aws_403(send(server.endpoint, "GET", "/instance", headers), code)


def test_no_date(server: ServerProcess) -> None:
    headers = replace(signed_headers_for(server), "X-Amz-Date", None)
    answer = send(server.endpoint, "GET", "/instance", headers)
    assert_aws_403(answer, "IncompleteSignatureException")


@pytest.mark.parametrize(
    "stamp",
    ["20261129T120000", "2026-11-29T12:00:00Z", "20261329T120000Z", "20261129T126000Z", "x" * 16],
)
def test_malformed_date(server: ServerProcess, stamp: str) -> None:
    headers = replace(signed_headers_for(server), "X-Amz-Date", stamp)
    answer = send(server.endpoint, "GET", "/instance", headers)
    assert_aws_403(answer, "IncompleteSignatureException")


def test_host_must_be_signed(server: ServerProcess) -> None:
    headers = signed_headers_for(server)
    authorization = dict(headers)["Authorization"]
    forged = authorization.replace("SignedHeaders=host;", "SignedHeaders=")
    answer = send(server.endpoint, "GET", "/instance", replace(headers, "Authorization", forged))
    assert_aws_403(answer, "InvalidSignatureException")


def test_no_host_header(server: ServerProcess) -> None:
    headers = replace(signed_headers_for(server), "Host", None)
    assert_aws_403(send(server.endpoint, "GET", "/instance", headers), "InvalidSignatureException")


def test_payload_hash_header_must_match_the_body(server: ServerProcess) -> None:
    headers = sign(
        server.endpoint,
        "PUT",
        "/contact/create-contact",
        server.credentials,
        body=b"{}",
        headers={"X-Amz-Content-SHA256": hashlib.sha256(b"other").hexdigest()},
    )
    answer = send(server.endpoint, "PUT", "/contact/create-contact", headers, b"{}")
    assert_aws_403(answer, "InvalidSignatureException")


def test_scope_date_must_be_the_request_date(server: ServerProcess) -> None:
    headers = signed_headers_for(server)
    authorization = dict(headers)["Authorization"]
    stamp = dict(headers)["X-Amz-Date"][:8]
    forged = authorization.replace(f"/{stamp}/", "/20000101/")
    answer = send(server.endpoint, "GET", "/instance", replace(headers, "Authorization", forged))
    assert_aws_403(answer, "InvalidSignatureException")
    assert "Credential should be scoped to a valid date" in answer.message


def test_signed_with_botocores_signer_over_raw_http(server: ServerProcess) -> None:
    """The helper the hostile-input tests use signs as boto3 does."""
    answer = signed(server.endpoint, "GET", "/instance?maxResults=2", server.credentials)
    assert answer.status == 200 and "InstanceSummaryList" in answer.json
