"""rest-json on our side of the wire, checked against botocore's side of it.

Requests are serialized by botocore's own serializer and parsed by ours; responses are
serialized by ours and parsed by botocore's own parser. What goes in must come out.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from connectmail.aws import ServiceModel, load_service_model
from connectmail.aws.restjson import RestJsonProtocol, error_response
from connectmail.aws.routing import Router
from connectmail.errors import ServiceError
from tests.aws.botocore_wire import WireRequest, parse_response, serialize

INSTANCE = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
INSTANCE_ARN = f"arn:aws:connect:eu-west-3:123456789012:instance/{INSTANCE}"
CONTACT_ARN = f"{INSTANCE_ARN}/contact/9e0f1a2b-3c4d-4a6b-8c7d-0a1b2c3d4e5f"


@pytest.fixture(scope="module")
def models() -> dict[str, ServiceModel]:
    names = ("connect", "qconnect", "mediaconvert", "signer", "bedrock-agentcore")
    return {name: load_service_model(name) for name in names}


@pytest.fixture(scope="module")
def router(models: dict[str, ServiceModel]) -> Router:
    return Router([models["connect"], models["qconnect"]])


def parse(models: dict[str, ServiceModel], service: str, wire: WireRequest) -> dict[str, Any]:
    """Route and parse a request as the server does (routing within the one service)."""
    model = models[service]
    match = Router([model]).match(wire.method, wire.raw_path, wire.query, model.signing_name)
    assert match is not None, f"{wire.method} {wire.raw_path} did not route"
    protocol = RestJsonProtocol(model)
    return protocol.parse(match.operation, match.uri_params, wire.query, wire.headers, wire.body)


def parse_error(models: dict[str, ServiceModel], service: str, wire: WireRequest) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        parse(models, service, wire)
    return caught.value


# -- requests: what botocore sends, we read -------------------------------------------------

ROUND_TRIPS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "connect",
        "CreateInstance",
        {
            "ClientToken": "token-1",
            "IdentityManagementType": "CONNECT_MANAGED",
            "InstanceAlias": "my-instance",
            "InboundCallsEnabled": True,
            "OutboundCallsEnabled": False,
            "Tags": {"Team": "Support", "Schlüssel": "値"},
        },
    ),
    ("connect", "DescribeContact", {"InstanceId": INSTANCE_ARN, "ContactId": CONTACT_ARN}),
    ("connect", "DescribeInstance", {"InstanceId": "a b ü ~ %2F"}),
    ("connect", "ListInstances", {"MaxResults": 7, "NextToken": "a+b/c=d&e f"}),
    (
        "connect",
        "SearchEmailAddresses",
        {
            "InstanceId": INSTANCE,
            "MaxResults": 100,
            "SearchCriteria": {
                "OrConditions": [
                    {"StringCondition": {"FieldName": "name", "Value": "x"}},
                    {
                        "AndConditions": [
                            {
                                "StringCondition": {
                                    "FieldName": "description",
                                    "Value": "y",
                                    "ComparisonType": "CONTAINS",
                                }
                            }
                        ]
                    },
                ]
            },
            "SearchFilter": {"TagFilter": {"OrConditions": [[{"TagKey": "a", "TagValue": "b"}]]}},
        },
    ),
    (
        "connect",
        "CreateContact",
        {
            "InstanceId": INSTANCE,
            "Channel": "EMAIL",
            "InitiationMethod": "OUTBOUND",
            "UserInfo": {"UserId": "agent-1"},
            "Attributes": {"order": "42"},
            "References": {"link": {"Value": "https://example.com", "Type": "URL"}},
            "SegmentAttributes": {
                "connect:ContactExpiry": {"ValueMap": {"ExpiryDuration": {"ValueInteger": 1440}}}
            },
            "ExpiryDurationInMinutes": 60,
            "Name": "Order 42",
        },
    ),
    (
        "connect",
        "StartOutboundEmailContact",
        {
            "InstanceId": INSTANCE,
            "ContactId": "c-1",
            "FromEmailAddress": {"EmailAddress": "support@example.com", "DisplayName": "Ünï"},
            "DestinationEmailAddress": {"EmailAddress": "jane@example.org"},
            "AdditionalRecipients": {
                "CcEmailAddresses": [{"EmailAddress": "boss@example.org", "DisplayName": "B"}]
            },
            "EmailMessage": {
                "MessageSourceType": "RAW",
                "RawMessage": {
                    "Subject": "Your order — shipped ✓",
                    "Body": "<p>Hi</p>\r\n",
                    "ContentType": "text/html",
                },
            },
            "ClientToken": "t",
        },
    ),
    (
        "connect",
        "UpdateTestCase",
        {
            "InstanceId": INSTANCE,
            "TestCaseId": "tc",
            "LastModifiedTime": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
            "LastModifiedRegion": "eu-west-3",
        },
    ),
    (
        "connect",
        "DeleteContactFlowVersion",
        {"InstanceId": INSTANCE, "ContactFlowId": "flow", "ContactFlowVersion": 3},
    ),
    (
        "connect",
        "ListContactFlows",
        {"InstanceId": INSTANCE, "ContactFlowTypes": ["CONTACT_FLOW", "AGENT_WHISPER"]},
    ),
    ("mediaconvert", "CreateQueue", {"Name": "q", "Description": "d", "Tags": {"a": "b"}}),
    (
        "signer",
        "SignPayload",
        {"profileName": "profile_1", "payload": b"\x00\xff", "payloadFormat": "f"},
    ),
]


@pytest.mark.parametrize(
    ("service", "operation", "params"), ROUND_TRIPS, ids=[f"{s}.{o}" for s, o, _ in ROUND_TRIPS]
)
def test_what_botocore_sends_we_read_back(
    models: dict[str, ServiceModel], service: str, operation: str, params: dict[str, Any]
) -> None:
    wire = serialize(service, operation, params)
    assert parse(models, service, wire) == params


def test_location_names_bind_body_members(models: dict[str, ServiceModel]) -> None:
    """mediaconvert names its JSON members in lowerCamelCase with locationName."""
    wire = serialize("mediaconvert", "CreateQueue", {"Name": "q"})
    assert orjson.loads(wire.body) == {"name": "q"}
    assert parse(models, "mediaconvert", wire) == {"Name": "q"}


def hand_made(
    method: str,
    path: str,
    query: str = "",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> WireRequest:
    return WireRequest(method, path, query, headers or {}, body)


@pytest.mark.parametrize("text", ["0", "-1", "abc", "1_0", " 5", "+5", "\u0663", "5.0", "1e3"])
def test_uri_integers_are_plain_decimal(models: dict[str, ServiceModel], text: str) -> None:
    wire = hand_made("DELETE", f"/contact-flows/{INSTANCE}/flow/version/{text}")
    error = parse_error(models, "connect", wire)
    assert error.code == "InvalidRequestException"
    assert error.message.startswith("1 validation error detected: ")
    assert "'ContactFlowVersion'" in error.message


@pytest.mark.parametrize(
    "text", ["", "nan", "inf", "\u0661", " 7", "7 ", "0x7", "99999999999999999999999"]
)
def test_query_integers_are_plain_decimal(models: dict[str, ServiceModel], text: str) -> None:
    error = parse_error(models, "connect", hand_made("GET", "/instance", f"maxResults={text}"))
    assert error.message.startswith("1 validation error detected: Value at 'MaxResults'")


def test_query_list_items_are_checked_one_by_one(models: dict[str, ServiceModel]) -> None:
    wire = serialize(
        "connect", "ListContactFlows", {"InstanceId": INSTANCE, "ContactFlowTypes": ["x"]}
    )
    error = parse_error(models, "connect", wire)
    assert "Value 'x' at 'ContactFlowTypes.1' failed to satisfy constraint" in error.message


def test_repeated_scalar_query_parameter_takes_the_last(models: dict[str, ServiceModel]) -> None:
    wire = hand_made("GET", "/instance", "maxResults=3&maxResults=4")
    assert parse(models, "connect", wire) == {"MaxResults": 4}


def test_header_timestamp_and_string(models: dict[str, ServiceModel]) -> None:
    wire = hand_made(
        "POST",
        f"/test-cases/{INSTANCE}/tc",
        body=b"{}",
        headers={
            "x-amz-last-modified-time": "Thu, 02 Jan 2025 03:04:05 GMT",
            "x-amz-last-modified-region": "us-east-1",
        },
    )
    assert parse(models, "connect", wire) == {
        "InstanceId": INSTANCE,
        "TestCaseId": "tc",
        "LastModifiedTime": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        "LastModifiedRegion": "us-east-1",
    }
    wire = hand_made(
        "POST", f"/test-cases/{INSTANCE}/tc", headers={"x-amz-last-modified-time": "yesterday"}
    )
    error = parse_error(models, "connect", wire)
    assert error.message == (
        "1 validation error detected: Value at 'LastModifiedTime' failed to satisfy "
        "constraint: Member must be a timestamp"
    )


def test_uri_labels_go_through_their_shape(models: dict[str, ServiceModel]) -> None:
    wire = serialize("connect", "DescribeContact", {"InstanceId": INSTANCE, "ContactId": "c" * 257})
    error = parse_error(models, "connect", wire)
    assert error.message == (
        "1 validation error detected: Value at 'ContactId' failed to satisfy constraint: "
        "Member must have length less than or equal to 256"
    )


def test_required_members_outside_the_body(models: dict[str, ServiceModel]) -> None:
    protocol = RestJsonProtocol(models["connect"])
    with pytest.raises(ServiceError) as caught:
        protocol.parse(models["connect"].operations["DescribeContact"], {}, {}, {}, b"")
    assert caught.value.message.endswith(
        "Value null at 'ContactId' failed to satisfy constraint: Member must not be null"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "The request body is not valid JSON"),
        (b'{"Channel": "EMAIL",}', "The request body is not valid JSON"),
        (b'{"Name": "\xff\xfe"}', "The request body is not valid JSON"),
        (b'{"Name": "\\ud800"}', "The request body is not valid JSON"),
        (b"[" * 2000 + b"]" * 2000, "The request body is not valid JSON"),
        (b"[]", "Member must be a structure"),
        (b'"text"', "Member must be a structure"),
        (b"null", "Member must be a structure"),
        (b"{}", "Value null at 'InstanceId' failed to satisfy constraint"),
        (b"", "Value null at 'InstanceId' failed to satisfy constraint"),
    ],
)
def test_malformed_bodies(models: dict[str, ServiceModel], body: bytes, message: str) -> None:
    error = parse_error(models, "connect", hand_made("PUT", "/contact/create-contact", body=body))
    assert error.code == "InvalidRequestException"
    assert message in error.message


def test_unknown_members_are_ignored(models: dict[str, ServiceModel]) -> None:
    body = {
        "InstanceId": INSTANCE,
        "Channel": "EMAIL",
        "InitiationMethod": "FLOW",
        "NotInTheModel": {"deep": [1, 2, {"x": None}]},
        "instanceid": "case matters",
    }
    wire = hand_made("PUT", "/contact/create-contact", body=orjson.dumps(body))
    assert parse(models, "connect", wire) == {
        "InstanceId": INSTANCE,
        "Channel": "EMAIL",
        "InitiationMethod": "FLOW",
    }


@pytest.mark.parametrize(
    ("service", "operation", "code"),
    [
        ("connect", "CreateContact", "InvalidRequestException"),
        ("connect", "ActivateEvaluationForm", "InvalidParameterException"),
        ("qconnect", "CreateMessageTemplate", "ValidationException"),
        ("qconnect", "GetKnowledgeBase", "ValidationException"),
    ],
)
def test_the_operations_own_validation_error(
    models: dict[str, ServiceModel], service: str, operation: str, code: str
) -> None:
    model = models[service]
    op = model.operations[operation]
    assert op.validation_error == code and code in op.errors
    with pytest.raises(ServiceError) as caught:
        RestJsonProtocol(model).parse(op, {}, {}, {}, b"[]")
    assert caught.value.code == code


# -- responses: what we send, botocore reads ------------------------------------------------


def test_timestamps_and_nested_output_round_trip(models: dict[str, ServiceModel]) -> None:
    output = {
        "Contact": {
            "Arn": CONTACT_ARN,
            "Id": "c",
            "Channel": "EMAIL",
            "InitiationTimestamp": datetime(2025, 1, 2, 3, 4, 5, 250000, tzinfo=UTC),
            "SegmentAttributes": {"connect:EmailSubject": {"ValueString": "Hi"}},
            "AdditionalEmailRecipients": {"CcList": [{"Address": "a@example.org"}]},
            "Attributes": {"k": "v"},
        }
    }
    response = RestJsonProtocol(models["connect"]).serialize(
        models["connect"].operations["DescribeContact"], output
    )
    assert response.status == 200
    assert orjson.loads(response.body)["Contact"]["InitiationTimestamp"] == 1735787045.25
    assert parse_response("connect", "DescribeContact", response) == output


def test_none_members_are_left_out(models: dict[str, ServiceModel]) -> None:
    op = models["connect"].operations["CreateContact"]
    response = RestJsonProtocol(models["connect"]).serialize(
        op, {"ContactId": "c", "ContactArn": None}
    )
    assert orjson.loads(response.body) == {"ContactId": "c"}


def test_iso8601_timestamps_where_the_shape_says(models: dict[str, ServiceModel]) -> None:
    """RFC 3339 in UTC with a Z, as AWS writes it: Smithy's date-time allows no offset."""
    uploaded = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    output = {
        "attachment": {
            "attachmentId": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            "contentDisposition": "ATTACHMENT",
            "name": "terms.pdf",
            "uploadedTime": uploaded,
            "url": "https://example.com/terms.pdf",
            "urlExpiry": uploaded,
        }
    }
    op = models["qconnect"].operations["CreateMessageTemplateAttachment"]
    response = RestJsonProtocol(models["qconnect"]).serialize(op, output)
    assert orjson.loads(response.body)["attachment"]["uploadedTime"] == "2025-01-02T03:04:05.678Z"
    parsed = parse_response("qconnect", "CreateMessageTemplateAttachment", response)
    assert parsed["attachment"]["uploadedTime"] == uploaded.replace(microsecond=678000)


def test_location_names_in_the_output(models: dict[str, ServiceModel]) -> None:
    output = {
        "Queue": {
            "Name": "q",
            "Arn": "arn:aws:mediaconvert:us-east-1:123456789012:queues/q",
            "CreatedAt": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
            "Status": "ACTIVE",
        }
    }
    op = models["mediaconvert"].operations["CreateQueue"]
    response = RestJsonProtocol(models["mediaconvert"]).serialize(op, output)
    assert response.status == 201  # the model's responseCode
    assert orjson.loads(response.body) == {
        "queue": {
            "name": "q",
            "arn": "arn:aws:mediaconvert:us-east-1:123456789012:queues/q",
            "createdAt": 1735787045.0,
            "status": "ACTIVE",
        }
    }
    assert parse_response("mediaconvert", "CreateQueue", response) == output


def test_blobs_are_base64(models: dict[str, ServiceModel]) -> None:
    signature = b"\x00\x01\xfe\xff"
    output = {"jobId": "j", "signature": signature}
    response = RestJsonProtocol(models["signer"]).serialize(
        models["signer"].operations["SignPayload"], output
    )
    encoded = base64.b64encode(signature).decode()
    assert orjson.loads(response.body)["signature"] == encoded
    assert parse_response("signer", "SignPayload", response) == output


def test_header_and_status_code_members(models: dict[str, ServiceModel]) -> None:
    output = {"runtimeSessionId": "session-1", "statusCode": 202}
    op = models["bedrock-agentcore"].operations["StopRuntimeSession"]
    response = RestJsonProtocol(models["bedrock-agentcore"]).serialize(op, output)
    assert response.status == 202
    assert (b"X-Amzn-Bedrock-AgentCore-Runtime-Session-Id", b"session-1") in response.headers
    assert orjson.loads(response.body) == {}
    assert parse_response("bedrock-agentcore", "StopRuntimeSession", response) == output


def test_documents_go_out_as_they_are(models: dict[str, ServiceModel]) -> None:
    protocol = RestJsonProtocol(models["qconnect"])
    document = {"type": "object", "properties": {"a": [1, "two", None, {"b": True}]}}
    serializer = protocol._build_serializer(models["qconnect"].shape("JSONDocument"), {})
    assert serializer(document) is document


# -- errors: the model's status, x-amzn-ErrorType, and the model's message member -----------


def test_error_shape_from_the_model(models: dict[str, ServiceModel]) -> None:
    error = ServiceError("ResourceNotFoundException", "Contact not found: c")
    response = error_response(models["connect"], error, "request-1")
    assert response.status == 404
    headers = dict(response.headers)
    assert headers[b"x-amzn-errortype"] == b"ResourceNotFoundException"
    assert headers[b"x-amzn-requestid"] == b"request-1"
    assert orjson.loads(response.body) == {"Message": "Contact not found: c"}
    parsed = parse_response("connect", "DescribeContact", response)
    assert parsed["Error"] == {
        "Code": "ResourceNotFoundException",
        "Message": "Contact not found: c",
    }


def test_error_extra_members_only_when_the_shape_has_them(models: dict[str, ServiceModel]) -> None:
    error = ServiceError("ServiceQuotaExceededException", "too many", Reason={"x": 1}, Secret="no")
    response = error_response(models["connect"], error, "r")
    assert response.status == 402  # as connect's model says
    assert orjson.loads(response.body) == {"Message": "too many", "Reason": {"x": 1}}


def test_error_not_in_the_model(models: dict[str, ServiceModel]) -> None:
    response = error_response(models["qconnect"], ServiceError("Whatever", "m"), "r")
    assert response.status == 400
    assert orjson.loads(response.body) == {"message": "m"}
    teapot = error_response(None, ServiceError("Teapot", "m", status=418), "r")
    assert teapot.status == 418
    assert dict(teapot.headers)[b"x-amzn-errortype"] == b"Teapot"


def test_validation_error_parses_as_a_client_error_in_botocore(
    models: dict[str, ServiceModel],
) -> None:
    wire = serialize("qconnect", "GetKnowledgeBase", {"knowledgeBaseId": "not-a-uuid"})
    error = parse_error(models, "qconnect", wire)
    response = error_response(models["qconnect"], error, "r")
    parsed = parse_response("qconnect", "GetKnowledgeBase", response)
    assert parsed["Error"]["Code"] == "ValidationException"
    assert "knowledgeBaseId" in parsed["Error"]["Message"]
