"""The errors of Amazon Q in Connect, as the template rules raise them."""

from __future__ import annotations

from connectmail.errors import ServiceError


def validation(message: str) -> ServiceError:
    return ServiceError("ValidationException", message)


def not_found(what: str, identifier: str) -> ServiceError:
    return ServiceError(
        "ResourceNotFoundException", f"{what} not found: {identifier}", resourceName=identifier
    )


def conflict(message: str) -> ServiceError:
    return ServiceError("ConflictException", message)


def quota_exceeded(message: str) -> ServiceError:
    return ServiceError("ServiceQuotaExceededException", message)
