"""A botocore service model read as plain data: services, operations, shapes and error shapes.

Everything the protocol layer knows about a service comes from here; nothing is written by hand.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import botocore.loaders
import orjson

Shape = dict[str, Any]

# When an operation lists none of these, constraint failures use a generic ValidationException.
VALIDATION_ERROR_PREFERENCE = (
    "ValidationException",
    "InvalidRequestException",
    "InvalidParameterException",
    "BadRequestException",
)
# A client token reused with another request: the first of these the operation lists, else its
# validation error (CreateInstance, DeleteInstance list none of them).
IDEMPOTENCY_CONFLICT_PREFERENCE = (
    "IdempotencyException",
    "ConflictException",
    "ResourceConflictException",
)


@dataclass(frozen=True)
class ErrorShape:
    """An error the service can answer with: its code, HTTP status and message member name."""

    code: str
    status: int
    message_member: str
    members: frozenset[str]


@dataclass(frozen=True)
class Operation:
    """One operation of a service, as its model declares it."""

    name: str
    method: str
    request_uri: str
    input_shape: str | None
    output_shape: str | None
    errors: tuple[str, ...]
    success_status: int
    validation_error: str
    idempotency_member: str | None
    idempotency_conflict: str


@dataclass
class ServiceModel:
    """A loaded service model (`connect`, `qconnect`, ...)."""

    name: str
    signing_name: str
    protocol: str
    api_version: str
    shapes: dict[str, Shape]
    operations: dict[str, Operation] = field(default_factory=dict)
    error_shapes: dict[str, ErrorShape] = field(default_factory=dict)

    def shape(self, name: str) -> Shape:
        return self.shapes[name]

    def error(self, code: str) -> ErrorShape | None:
        return self.error_shapes.get(code)


def load_service_model(service_name: str) -> ServiceModel:
    """Load the model botocore ships for `service_name` and index it."""
    raw = _loader().load_service_model(service_name, "service-2")
    return build_service_model(service_name, raw)


class _OrjsonFileLoader:
    """botocore's `JSONFileLoader` (a file path without its `.json` or `.json.gz`) reading
    with orjson into plain dicts: its `json.loads` into OrderedDicts took 0.18 s of every
    start for the connect and qconnect models."""

    _SUFFIXES = ((".json", open), (".json.gz", gzip.open))

    def exists(self, file_path: str) -> bool:
        return any(os.path.isfile(file_path + suffix) for suffix, _ in self._SUFFIXES)

    def load_file(self, file_path: str) -> Any:
        for suffix, opener in self._SUFFIXES:
            if os.path.isfile(file_path + suffix):
                with opener(file_path + suffix, "rb") as file:
                    return orjson.loads(file.read())
        return None


@cache
def _loader() -> botocore.loaders.Loader:
    # One for every service: it lists the services botocore knows once, not once per model.
    return botocore.loaders.Loader(file_loader=_OrjsonFileLoader())


def build_service_model(service_name: str, raw: dict[str, Any]) -> ServiceModel:
    metadata = raw["metadata"]
    shapes: dict[str, Shape] = raw["shapes"]
    model = ServiceModel(
        name=service_name,
        signing_name=metadata.get("signingName", metadata["endpointPrefix"]),
        protocol=metadata["protocol"],
        api_version=metadata["apiVersion"],
        shapes=shapes,
    )
    for code, shape in shapes.items():
        if not shape.get("exception"):
            continue
        members = shape.get("members", {})
        message_member = next((m for m in members if m.lower() == "message"), "message")
        model.error_shapes[code] = ErrorShape(
            code=code,
            status=int(shape.get("error", {}).get("httpStatusCode", 400)),
            message_member=message_member,
            members=frozenset(members),
        )
    for name, op in raw["operations"].items():
        errors = tuple(e["shape"] for e in op.get("errors", []))
        input_shape = op.get("input", {}).get("shape")
        idempotency_member = None
        if input_shape:
            for member_name, member in shapes[input_shape].get("members", {}).items():
                if member.get("idempotencyToken") or member_name in ("ClientToken", "clientToken"):
                    idempotency_member = member_name
                    break
        validation_error = next(
            (e for e in VALIDATION_ERROR_PREFERENCE if e in errors), "ValidationException"
        )
        model.operations[name] = Operation(
            name=name,
            method=op["http"]["method"],
            request_uri=op["http"]["requestUri"],
            input_shape=input_shape,
            output_shape=op.get("output", {}).get("shape"),
            errors=errors,
            success_status=int(op["http"].get("responseCode", 200)),
            validation_error=validation_error,
            idempotency_member=idempotency_member,
            idempotency_conflict=next(
                (e for e in IDEMPOTENCY_CONFLICT_PREFERENCE if e in errors), validation_error
            ),
        )
    return model
