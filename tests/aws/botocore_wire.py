"""botocore's own serializer and parser, for checking our side of the wire against theirs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import botocore.parsers
import botocore.serialize
import botocore.session
from botocore.awsrequest import prepare_request_dict
from botocore.model import OperationModel
from botocore.model import ServiceModel as BotocoreServiceModel

from connectmail.aws.restjson import Response


@dataclass(frozen=True)
class WireRequest:
    """A request as it travels: raw (still percent-encoded) path and query, headers, body."""

    method: str
    raw_path: str
    query_string: str
    headers: dict[str, str]
    body: bytes

    @property
    def query(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for key, value in parse_qsl(self.query_string, keep_blank_values=True):
            found.setdefault(key, []).append(value)
        return found


@cache
def botocore_model(service: str) -> BotocoreServiceModel:
    return botocore.session.get_session().get_service_model(service)


def operation_model(service: str, operation: str) -> OperationModel:
    return botocore_model(service).operation_model(operation)


def serialize(service: str, operation: str, params: dict[str, Any]) -> WireRequest:
    """What boto3 would send for `params` (without client-side validation)."""
    model = operation_model(service, operation)
    serializer = botocore.serialize.create_serializer(
        botocore_model(service).metadata["protocol"], include_validation=False
    )
    request = serializer.serialize_to_request(params, model)
    prepare_request_dict(request, endpoint_url="http://127.0.0.1:4566")
    url = urlsplit(request["url"])
    body = request["body"]
    if isinstance(body, str):
        body = body.encode()
    headers = {k.lower(): str(v) for k, v in request["headers"].items()}
    return WireRequest(request["method"], url.path, url.query, headers, body or b"")


def parse_response(service: str, operation: str, response: Response) -> dict[str, Any]:
    """What boto3 would return for our response (raising nothing: errors come back parsed)."""
    model = operation_model(service, operation)
    parser = botocore.parsers.create_parser(botocore_model(service).metadata["protocol"])
    parsed: dict[str, Any] = parser.parse(
        {
            "status_code": response.status,
            "headers": {k.decode(): v.decode() for k, v in response.headers},
            "body": response.body,
        },
        model.output_shape,
    )
    parsed.pop("ResponseMetadata", None)
    return parsed
