"""The one exception every layer raises to answer a request with an AWS error.

The tree, as clients see it:

    ServiceError                 an AWS error code plus a message (and the shape's extra members)
    ├── raised by aws/           signature, routing, validation and size problems
    └── raised by the domain     ResourceNotFoundException, InvalidRequestException, ...

The protocol layer looks the code up in the service model for its HTTP status and message
member name, so the domain names errors as AWS does and knows nothing of HTTP.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An error answered to the client under an AWS error code."""

    def __init__(
        self, code: str, message: str, *, status: int | None = None, **fields: Any
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.fields = fields


def not_found(what: str, identifier: str) -> ServiceError:
    return ServiceError("ResourceNotFoundException", f"{what} not found: {identifier}")


def invalid_request(message: str, **fields: Any) -> ServiceError:
    return ServiceError("InvalidRequestException", message, **fields)
