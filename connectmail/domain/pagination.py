"""Keyset pagination with opaque next tokens, so a page costs the same however deep it is."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Select
from sqlalchemy.sql.elements import KeyedColumnElement

from connectmail.errors import ServiceError
from connectmail.store.tables import Record


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_token: str | None


def encode_token(position: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode()


# What a token holds: a type (str, int or float), a tuple for a list of fixed length with
# one kind per item, or a one-item list for a list of any length whose items are all that kind.
Kind = type | tuple["Kind", ...] | list["Kind"]
MAX_LIST = 100


def decode_token(
    token: str,
    error_code: str = "InvalidRequestException",
    kinds: tuple[Kind, Kind] | None = None,
) -> list[Any]:
    """The position a token holds; with `kinds`, it must hold one value of each, in range.

    A token is opaque to clients but not tamper-proof: whatever else it holds is refused
    here, before it reaches a query (PostgreSQL refuses to compare a float column with text).
    """
    try:
        position = orjson.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        position = None
    if (
        not isinstance(position, list)
        or len(position) != 2
        or (kinds is not None and not _fits(position, kinds))
    ):
        raise ServiceError(error_code, "The NextToken is not valid.")
    return position


def _fits(value: Any, kind: Kind) -> bool:
    if isinstance(kind, tuple):
        return isinstance(value, list) and len(value) == len(kind) and all(map(_fits, value, kind))
    if isinstance(kind, list):
        return (
            isinstance(value, list)
            and len(value) <= MAX_LIST
            and all(_fits(item, kind[0]) for item in value)
        )
    return _is_kind(value, kind)


def _is_kind(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return False
    if kind is str:
        return isinstance(value, str) and len(value) <= 1024 and "\x00" not in value
    if kind is int:
        return isinstance(value, int) and -(2**31) <= value < 2**31
    return isinstance(value, int | float) and abs(value) < 1e300


def _kind(column: KeyedColumnElement[Any]) -> type:
    kind = column.type.python_type
    return float if kind is float else int if kind is int else str


def page_after(
    connection: Connection,
    query: Select[Any],
    order: KeyedColumnElement[Any],
    tiebreak: KeyedColumnElement[Any],
    max_results: int,
    next_token: str | None,
    view: Callable[[Record], dict[str, Any]],
    *,
    descending: bool = False,
    error_code: str = "InvalidRequestException",
) -> Page:
    """Rows of `query` ordered by (order, tiebreak), starting after `next_token`."""
    if next_token is not None:
        after_order, after_tiebreak = decode_token(
            next_token, error_code, (_kind(order), _kind(tiebreak))
        )
        if descending:
            query = query.where(
                (order < after_order) | ((order == after_order) & (tiebreak < after_tiebreak))
            )
        else:
            query = query.where(
                (order > after_order) | ((order == after_order) & (tiebreak > after_tiebreak))
            )
    ordering = (order.desc(), tiebreak.desc()) if descending else (order, tiebreak)
    rows = connection.execute(query.order_by(*ordering).limit(max_results + 1)).all()
    more = len(rows) > max_results
    rows = rows[:max_results]
    token = None
    if more and rows:
        last = rows[-1]._mapping
        token = encode_token([last[order.name], last[tiebreak.name]])
    return Page([view(row) for row in rows], token)
