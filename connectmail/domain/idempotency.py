"""Client tokens: the same token with the same request answers the same, and does nothing again.

A token is scoped to an account and an operation and kept for a configurable time (24 hours
by default). The record is written in the same transaction as the operation's effects, so a
retry either finds the finished answer or runs the operation for the first time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert, select, update

from connectmail.errors import ServiceError
from connectmail.jsontext import dumps, loads
from connectmail.store.tables import idempotency_keys

DEFAULT_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class ClientToken:
    account_id: str
    operation: str
    token: str
    request_hash: str
    conflict_code: str = "IdempotencyException"


def request_fingerprint(params: dict[str, Any], token_member: str) -> str:
    """A hash of the request without its token: what must match for a replay."""
    material = {k: v for k, v in params.items() if k != token_member}
    encoded = orjson.dumps(
        material, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=_bytes_as_hex
    )
    return hashlib.sha256(encoded).hexdigest()


def _bytes_as_hex(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(type(value).__name__)


def run_once(
    connection: Connection,
    token: ClientToken | None,
    now: float,
    ttl_seconds: float,
    operation: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """Run `operation` unless this token already ran it; return the (stored) answer."""
    if token is None:
        return operation()
    key = (
        (idempotency_keys.c.account_id == token.account_id)
        & (idempotency_keys.c.operation == token.operation)
        & (idempotency_keys.c.token == token.token)
    )
    row = connection.execute(
        select(
            idempotency_keys.c.request_hash,
            idempotency_keys.c.response,
            idempotency_keys.c.expires_at,
        ).where(key)
    ).first()
    if row is not None and row.expires_at > now:
        if row.request_hash != token.request_hash:
            raise ServiceError(
                token.conflict_code,
                "The client token was already used with different request parameters.",
            )
        stored: dict[str, Any] = loads(row.response)
        return stored
    if row is not None:
        connection.execute(delete(idempotency_keys).where(key))
    # Claim the token before doing anything: a concurrent request with the same token (in
    # another transaction, on PostgreSQL) waits on this key, fails on it, and when the store
    # runs it again it finds the finished answer instead of half-seeing our effects.
    connection.execute(
        insert(idempotency_keys).values(
            account_id=token.account_id,
            operation=token.operation,
            token=token.token,
            request_hash=token.request_hash,
            response="null",
            created_at=now,
            expires_at=now + ttl_seconds,
        )
    )
    result = operation()
    connection.execute(update(idempotency_keys).where(key).values(response=dumps(result)))
    return result


def purge_expired(connection: Connection, now: float) -> int:
    result = connection.execute(
        delete(idempotency_keys).where(idempotency_keys.c.expires_at <= now)
    )
    return int(result.rowcount or 0)
