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
from sqlalchemy import Connection, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from connectmail.errors import ServiceError
from connectmail.jsontext import dumps, loads
from connectmail.store.prepared import Prepared
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


_KEY = (
    (idempotency_keys.c.account_id == bindparam("account_id"))
    & (idempotency_keys.c.operation == bindparam("operation"))
    & (idempotency_keys.c.token == bindparam("token"))
)
_RECORD = Prepared(
    sqlite.insert(idempotency_keys).on_conflict_do_nothing().returning(idempotency_keys.c.token)
)
_RECORD_PG = Prepared(
    postgresql.insert(idempotency_keys).on_conflict_do_nothing().returning(idempotency_keys.c.token)
)
_FOUND = Prepared(
    select(
        idempotency_keys.c.request_hash, idempotency_keys.c.response, idempotency_keys.c.expires_at
    ).where(_KEY)
)
_TAKE_OVER = Prepared(
    update(idempotency_keys)
    .where(_KEY)
    .values(
        request_hash=bindparam("request_hash"),
        response=bindparam("response"),
        created_at=bindparam("created_at"),
        expires_at=bindparam("expires_at"),
    )
)


class StoredAnswer(Exception):
    """The request replays a token: its effects are undone and this answer is given."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__("replayed client token")
        self.answer = answer


def run_once(
    connection: Connection,
    token: ClientToken | None,
    now: float,
    ttl_seconds: float,
    operation: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """Run `operation` unless this token already ran it; return the answer, or raise
    StoredAnswer with the stored one (the store then rolls the operation back).

    The operation runs first and its token is recorded after, in the same transaction: one
    statement in the common case. A replay shows either as the operation failing (the contact
    is already sent) or as the token's row already being there; either way the stored answer
    wins. On PostgreSQL a concurrent replay waits on the first request's row lock or token
    row, and then sees its outcome.
    """
    if token is None:
        return operation()
    try:
        result = operation()
    except ServiceError:
        _known_answer(connection, token, now)
        raise
    row = {
        "account_id": token.account_id,
        "operation": token.operation,
        "token": token.token,
        "request_hash": token.request_hash,
        "response": dumps(result),
        "created_at": now,
        "expires_at": now + ttl_seconds,
    }
    record = _RECORD_PG if connection.dialect.name == "postgresql" else _RECORD
    if record.first(connection, row) is None:  # the token is taken
        _known_answer(connection, token, now)
        _TAKE_OVER.run(connection, row)  # it had expired: it is ours now
    return result


def _known_answer(connection: Connection, token: ClientToken, now: float) -> None:
    """Raise the stored answer (or the conflict) if the token is known and alive."""
    found = _FOUND.first(
        connection,
        {"account_id": token.account_id, "operation": token.operation, "token": token.token},
    )
    if found is None or found[2] <= now:
        return
    if found[0] != token.request_hash:
        raise ServiceError(
            token.conflict_code,
            "The client token was already used with different request parameters.",
        )
    raise StoredAnswer(loads(found[1]))


def purge_expired(connection: Connection, now: float) -> int:
    result = connection.execute(
        delete(idempotency_keys).where(idempotency_keys.c.expires_at <= now)
    )
    return int(result.rowcount or 0)
