"""Routing: every operation of both models is found from the request botocore makes for it."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.model import OperationModel, Shape

from connectmail.aws import load_service_model
from connectmail.aws.routing import Router
from tests.aws.botocore_wire import botocore_model, serialize

# Label values that test the encoding: ARNs (':' and '/'), spaces, non-ASCII, '~', dot
# segments, something that looks percent-encoded already, and query-like characters.
LABELS = [
    "plain-id",
    "arn:aws:connect:us-east-1:123456789012:instance/abc/contact/def",
    "a b ü ~",
    "..",
    ".",
    "%2F",
    "x?y=z&w#f",
]


@pytest.fixture(scope="module")
def router() -> Router:
    return Router([load_service_model("connect"), load_service_model("qconnect")])


def location_params(shape: Shape, label: str) -> dict[str, Any]:
    """Every member bound to the URI, query string or headers, with a value of its type."""
    params: dict[str, Any] = {}
    for name, member in shape.members.items():
        if member.serialization.get("location") not in ("uri", "querystring", "header"):
            continue
        kind = member.type_name
        if kind == "string":
            params[name] = member.enum[0] if member.enum else label
        elif kind in ("integer", "long"):
            params[name] = 7
        elif kind == "list":
            item = member.member
            params[name] = [item.enum[0] if item.enum else label]
        elif kind == "timestamp":
            params[name] = 1700000000
        elif kind == "boolean":
            params[name] = True
    return params


# Ours, plus rest-json models with what ours lack: static queries in the request URI that tell
# operations on one path apart (chime, lambda), greedy labels mid-path and at the root.
SERVICES = (
    "connect",
    "qconnect",
    "chime-sdk-messaging",
    "lambda",
    "workspaces-web",
    "mediastore-data",
)


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("label", LABELS)
def test_every_operation_routes_to_itself(service: str, label: str) -> None:
    router = Router([load_service_model(service)])
    signing_name = botocore_model(service).signing_name
    wrong = []
    for operation in botocore_model(service).operation_names:
        model: OperationModel = botocore_model(service).operation_model(operation)
        params = location_params(model.input_shape, label) if model.input_shape else {}
        wire = serialize(service, operation, params)
        match = router.match(wire.method, wire.raw_path, wire.query, signing_name)
        if match is None or match.operation.name != operation:
            wrong.append((operation, wire.method, wire.raw_path, match and match.operation.name))
            continue
        for name, member in (model.input_shape.members if model.input_shape else {}).items():
            if member.serialization.get("location") == "uri" and member.type_name == "string":
                assert match.uri_params[member.serialization["name"]] == params[name]
    assert wrong == []


def test_both_our_models_share_one_router(router: Router) -> None:
    """connect and qconnect on one endpoint: the credential scope keeps them apart."""
    for service in ("connect", "qconnect"):
        signing_name = botocore_model(service).signing_name
        for operation in botocore_model(service).operation_names:
            model = botocore_model(service).operation_model(operation)
            params = location_params(model.input_shape, "x") if model.input_shape else {}
            wire = serialize(service, operation, params)
            match = router.match(wire.method, wire.raw_path, wire.query, signing_name)
            assert match is not None and match.operation.name == operation
            assert match.service.name == service


def test_labels_are_decoded_once(router: Router) -> None:
    arn = "arn:aws:connect:us-east-1:123456789012:instance/abc"
    wire = serialize("connect", "DescribeContact", {"InstanceId": arn, "ContactId": "%41"})
    assert wire.raw_path.startswith("/contacts/arn%3Aaws%3Aconnect")
    match = router.match(wire.method, wire.raw_path, wire.query, "connect")
    assert match is not None
    assert match.uri_params == {"InstanceId": arn, "ContactId": "%41"}


def test_a_slash_in_a_label_stays_in_the_label(router: Router) -> None:
    match = router.match("GET", "/contacts/i/a%2F..%2Fb", {}, "connect")
    assert match is not None and match.operation.name == "DescribeContact"
    assert match.uri_params["ContactId"] == "a/../b"
    # An unencoded slash is another path, which no operation has.
    assert router.match("GET", "/contacts/i/a/b", {}, "connect") is None


@pytest.mark.parametrize(
    ("method", "path", "signing_name"),
    [
        ("POST", "/instance", "connect"),  # CreateInstance is PUT
        ("GET", "/no-such-thing", "connect"),
        ("GET", "/instance", "wisdom"),  # ListInstances is connect's, not Q in Connect's
        ("GET", "/knowledgeBases", "connect"),
        ("GET", "", "connect"),
        ("GET", "//instance", "connect"),
        ("GET", "/contacts//c", "connect"),
    ],
)
def test_no_route(router: Router, method: str, path: str, signing_name: str) -> None:
    assert router.match(method, path, {}, signing_name) is None


def test_trailing_slash_is_tolerated(router: Router) -> None:
    match = router.match("GET", "/instance/", {}, "connect")
    assert match is not None and match.operation.name == "ListInstances"
