"""The rest-json protocol, server side: requests in, responses and errors out, driven by the model.

Input members are bound from the URI, the query string, headers or the JSON body as their
`location` says; output members go to headers, the status code or the JSON body.
"""

from __future__ import annotations

import base64
import contextlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import orjson

from connectmail.aws.model import Operation, ServiceModel, Shape
from connectmail.aws.validate import Checker, InputValidator, Problems, parse_timestamp, summarize
from connectmail.errors import ServiceError

Serializer = Callable[[Any], Any]

# Numbers in the URI, query string and headers as the SDKs write them, and nothing looser
# (Python's int() and float() also take spaces, underscores, other scripts' digits, "nan").
_INTEGER_TEXT = re.compile(r"-?[0-9]{1,20}\Z")
_NUMBER_TEXT = re.compile(r"-?[0-9]{1,310}(\.[0-9]+)?([eE][-+]?[0-9]{1,3})?\Z")


@dataclass(frozen=True)
class BoundMember:
    name: str
    wire_name: str
    shape_name: str
    shape_type: str
    jsonvalue: bool


@dataclass
class InputBinding:
    """Where each input member of an operation comes from."""

    uri: list[BoundMember]
    query: list[BoundMember]
    header: list[BoundMember]
    body: Checker | None
    required_outside_body: tuple[str, ...]


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class RestJsonProtocol:
    """Parses requests and serializes responses for one rest-json service model."""

    def __init__(self, model: ServiceModel) -> None:
        self.model = model
        self._validator = InputValidator(model)
        self._inputs: dict[str, InputBinding] = {}
        self._outputs: dict[str, tuple[Serializer, list[BoundMember], str | None]] = {}

    # -- requests ----------------------------------------------------------------------------

    def parse(
        self,
        operation: Operation,
        uri_params: dict[str, str],
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> dict[str, Any]:
        """The operation's input as a dict of member names; raise its validation error."""
        if operation.input_shape is None:
            return {}
        binding = self._input_binding(operation)
        problems: Problems = []
        params: dict[str, Any] = {}
        if binding.body is not None:
            document = _decode_json(body, operation)
            params = binding.body(document, "", problems)
            if not isinstance(params, dict):
                params = {}
        for member in binding.uri:
            if member.wire_name in uri_params:
                params[member.name] = self._scalar(member, uri_params[member.wire_name], problems)
        for member in binding.query:
            values = query.get(member.wire_name)
            if values is None:
                continue
            if member.shape_type == "list":
                item_shape = self.model.shape(member.shape_name)["member"]["shape"]
                item = BoundMember(
                    member.name,
                    member.wire_name,
                    item_shape,
                    self.model.shape(item_shape)["type"],
                    False,
                )
                params[member.name] = [self._scalar(item, v, problems) for v in values]
            else:
                params[member.name] = self._scalar(member, values[-1], problems)
        for member in binding.header:
            value = headers.get(member.wire_name.lower())
            if value is not None:
                params[member.name] = self._scalar(member, value, problems, header=True)
        # Non-body members still go through the shape's constraints (length, pattern, ...).
        shape = self.model.shape(operation.input_shape)
        members = shape.get("members", {})
        for member in (*binding.uri, *binding.query, *binding.header):
            if member.name in params and not member.jsonvalue:
                check = self._validator.checker(members[member.name]["shape"])
                params[member.name] = check(params[member.name], member.name, problems)
        for name in binding.required_outside_body:
            if name not in params:
                problems.append(
                    f"Value null at '{name}' failed to satisfy constraint: Member must not be null"
                )
        if problems:
            raise ServiceError(operation.validation_error, summarize(problems))
        return params

    def _input_binding(self, operation: Operation) -> InputBinding:
        binding = self._inputs.get(operation.name)
        if binding is not None:
            return binding
        assert operation.input_shape is not None
        shape = self.model.shape(operation.input_shape)
        located: dict[str, list[BoundMember]] = {"uri": [], "querystring": [], "header": []}
        body_members: dict[str, Any] = {}
        for name, member in shape.get("members", {}).items():
            location = member.get("location")
            if location is None:
                body_members[name] = member
                continue
            target = self.model.shape(member["shape"])
            located.setdefault(location, []).append(
                BoundMember(
                    name,
                    member.get("locationName", name),
                    member["shape"],
                    target["type"],
                    bool(member.get("jsonvalue")),
                )
            )
        body_checker = None
        required = tuple(shape.get("required", ()))
        if body_members:
            body_shape = {
                "type": "structure",
                "members": body_members,
                "required": [r for r in required if r in body_members],
            }
            body_checker = self._validator.compile_shape(body_shape)
        binding = InputBinding(
            uri=located["uri"],
            query=located["querystring"],
            header=located["header"],
            body=body_checker,
            required_outside_body=tuple(r for r in required if r not in body_members),
        )
        self._inputs[operation.name] = binding
        return binding

    def _scalar(
        self, member: BoundMember, raw: str, problems: Problems, header: bool = False
    ) -> Any:
        """Convert a string from the URI, query or a header to the member's type."""
        kind = member.shape_type
        try:
            if kind in ("integer", "long"):
                if not _INTEGER_TEXT.match(raw):
                    raise ValueError(raw)
                return int(raw)
            if kind in ("float", "double"):
                number = float(raw) if _NUMBER_TEXT.match(raw) else math.inf
                if math.isinf(number):
                    raise ValueError(raw)
                return number
            if kind == "boolean":
                if raw not in ("true", "false"):
                    raise ValueError(raw)
                return raw == "true"
            if kind == "timestamp":
                if header:
                    return parsedate_to_datetime(raw)
                return parse_timestamp(raw)
            if kind == "blob":
                return base64.b64encode(raw.encode()).decode()
            if member.jsonvalue:
                return orjson.loads(base64.b64decode(raw))
        except (ValueError, TypeError, OverflowError, OSError):
            # The text stays text, and the shape's checker reports it as the wrong type.
            if member.jsonvalue:
                problems.append(
                    f"Value at '{member.name}' failed to satisfy constraint: "
                    "Member must be base64-encoded JSON"
                )
        return raw

    # -- responses ---------------------------------------------------------------------------

    def serialize(self, operation: Operation, output: dict[str, Any]) -> Response:
        headers = [(b"content-type", b"application/json")]
        if operation.output_shape is None:
            return Response(operation.success_status, headers, _body(operation.success_status))
        serializer, header_members, status_member = self._output_binding(operation)
        status = operation.success_status
        for member in header_members:
            value = output.get(member.name)
            if value is not None:
                headers.append((member.wire_name.encode(), _header_value(value)))
        if status_member is not None and output.get(status_member) is not None:
            status = int(output[status_member])
        return Response(status, headers, _body(status, serializer(output)))

    def _output_binding(
        self, operation: Operation
    ) -> tuple[Serializer, list[BoundMember], str | None]:
        found = self._outputs.get(operation.name)
        if found is not None:
            return found
        assert operation.output_shape is not None
        shape = self.model.shape(operation.output_shape)
        body_members: dict[str, Any] = {}
        header_members: list[BoundMember] = []
        status_member = None
        for name, member in shape.get("members", {}).items():
            location = member.get("location")
            if location == "header":
                header_members.append(
                    BoundMember(
                        name, member.get("locationName", name), member["shape"], "string", False
                    )
                )
            elif location == "statusCode":
                status_member = name
            elif location is None:
                body_members[name] = member
        serializer = self._structure_serializer({"type": "structure", "members": body_members})
        found = (serializer, header_members, status_member)
        self._outputs[operation.name] = found
        return found

    def _serializer(self, shape_name: str, seen: dict[str, Serializer]) -> Serializer:
        if shape_name in seen:
            return seen[shape_name]
        slot: list[Serializer] = []
        seen[shape_name] = lambda v: slot[0](v)
        shape = self.model.shape(shape_name)
        built = self._build_serializer(shape, seen)
        slot.append(built)
        seen[shape_name] = built
        return built

    def _build_serializer(self, shape: Shape, seen: dict[str, Serializer]) -> Serializer:
        kind = shape["type"]
        if shape.get("document"):
            return _identity
        if kind == "structure":
            return self._structure_serializer(shape, seen)
        if kind == "list":
            item = self._serializer(shape["member"]["shape"], seen)
            return lambda v: [item(x) for x in v]
        if kind == "map":
            value = self._serializer(shape["value"]["shape"], seen)
            return lambda v: {k: value(x) for k, x in v.items()}
        if kind == "timestamp":
            iso = shape.get("timestampFormat") == "iso8601"
            return lambda v: _timestamp(v, iso)
        if kind == "blob":
            return lambda v: base64.b64encode(v).decode() if isinstance(v, bytes) else v
        return _identity

    def _structure_serializer(
        self, shape: Shape, seen: dict[str, Serializer] | None = None
    ) -> Serializer:
        seen = {} if seen is None else seen
        members = [
            (name, member.get("locationName", name), self._serializer(member["shape"], seen))
            for name, member in shape.get("members", {}).items()
        ]

        def serialize(value: Any) -> Any:
            out = {}
            for name, wire_name, convert in members:
                item = value.get(name)
                if item is not None:
                    out[wire_name] = convert(item)
            return out

        return serialize

    def error_response(self, error: ServiceError, request_id: str) -> Response:
        return error_response(self.model, error, request_id)


def error_response(model: ServiceModel | None, error: ServiceError, request_id: str) -> Response:
    """The error as rest-json: the model's status, `x-amzn-ErrorType` and a JSON message."""
    shape = model.error(error.code) if model is not None else None
    status = error.status or (shape.status if shape else 400)
    message_member = shape.message_member if shape else "message"
    body: dict[str, Any] = {message_member: error.message}
    for name, value in error.fields.items():
        if shape is None or name in shape.members:
            body[name] = value
    headers = [
        (b"content-type", b"application/json"),
        (b"x-amzn-errortype", error.code.encode()),
        (b"x-amzn-requestid", request_id.encode()),
    ]
    return Response(status, headers, orjson.dumps(body))


def _body(status: int, document: Any = None) -> bytes:
    """The JSON body; none for 204 and 304, whose responses cannot carry one (RFC 9110)."""
    if status in (204, 304):
        return b""
    return orjson.dumps(document if document is not None else {})


def _decode_json(body: bytes, operation: Operation) -> Any:
    if not body.strip():
        return {}
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ServiceError(
            operation.validation_error, f"The request body is not valid JSON: {exc.msg}"
        ) from None


def _timestamp(value: Any, iso: bool) -> Any:
    """Epoch seconds, or for an `iso8601` member RFC 3339 in UTC with milliseconds and a `Z`,
    as AWS writes it (Smithy's date-time takes no offset: strict parsers refuse `+00:00`).

    A client token's stored answer comes back as JSON, its times as text: they are written
    in the member's format too, so a replay answers what the first request did."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = parse_timestamp(value)
    if isinstance(value, datetime):
        if not iso:
            return value.timestamp()
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value


def _identity(value: Any) -> Any:
    return value


def _header_value(value: Any) -> bytes:
    if isinstance(value, datetime):
        return format_datetime(value, usegmt=True).encode()
    if isinstance(value, bool):
        return b"true" if value else b"false"
    return str(value).encode()
