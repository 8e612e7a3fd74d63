"""connectmail's own endpoints under /_connectmail/: health and the captured mailbox.

On a loopback listener they answer without credentials; elsewhere they take HTTP Basic with an
access key id and its secret, and then show only that key's account, as far as its policy allows.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Connection, delete, false, literal, select
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectmail.access.policy import Policy
from connectmail.aws.api import KeyStore
from connectmail.errors import ServiceError
from connectmail.jsontext import loads
from connectmail.store.groups import StoreUnavailable
from connectmail.store.store import Store
from connectmail.store.tables import mailbox

log = logging.getLogger(__name__)

PREFIX = "/_connectmail"
MAX_PAGE = 1000
# The largest `after`: the largest id SQLite can give (PostgreSQL's ids are INTEGER).
MAX_ID = 2**63 - 1
# How long health waits for the database before it says the server is unavailable.
HEALTH_SECONDS = 2.0
# The IAM-style actions a key's policy must allow, on resource `*`, to use the mailbox.
LIST_MAILBOX = "connectmail:ListMailbox"
CLEAR_MAILBOX = "connectmail:ClearMailbox"


class Refused(Exception):
    """A request answered with an error before it reaches the database."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


class AdminApi:
    def __init__(self, store: Store, keys: KeyStore, *, open_on_loopback: bool) -> None:
        self._store = store
        self._keys = keys
        self._open = open_on_loopback
        self.app = Starlette(
            routes=[
                Route(f"{PREFIX}/health", self.health, methods=["GET"]),
                Route(f"{PREFIX}/mailbox", self.list_mailbox, methods=["GET"]),
                Route(f"{PREFIX}/mailbox", self.clear_mailbox, methods=["DELETE"]),
            ],
            exception_handlers={
                Refused: _refused,
                StoreUnavailable: _store_unavailable,
                HTTPException: _http_error,
            },
        )

    async def _account(self, request: Request, action: str | None) -> str | None:
        """The account the caller may see (None: every account, on loopback without a key),
        once its key's policy allows `action` (None: any valid key will do)."""
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            if not self._open:
                raise _unauthorized()
            return None
        try:
            key_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8
            raise _unauthorized() from None
        principal = await self._keys.principal(key_id)
        if principal is None or not hmac.compare_digest(principal.secret_access_key, secret):
            raise _unauthorized()
        if action is not None and isinstance(principal.policy, Policy):
            try:
                principal.policy.check(action, "*")
            except ServiceError as denied:
                raise Refused(403, denied.message) from None
        return principal.account_id

    async def health(self, request: Request) -> Response:
        try:
            # The key's lookup counts too (it reads the database unless the key is cached).
            # Giving up on a read is safe: one not yet started is dropped, one running ends in
            # its reader thread, during an outage once the store's outage deadline has passed.
            async with asyncio.timeout(HEALTH_SECONDS):
                await self._account(request, None)
                await self._store.read(lambda c: c.execute(select(1)).scalar())
        except Refused:
            raise
        except TimeoutError:
            return _unavailable(f"The database did not answer within {HEALTH_SECONDS:g} s.")
        except Exception as exc:  # any failure of the database is the server's unavailability
            log.warning("health check failed: %r", exc)
            return _unavailable("The database is unavailable.")
        return JSONResponse({"status": "ok"})

    async def list_mailbox(self, request: Request) -> Response:
        account = await self._account(request, LIST_MAILBOX)
        filters = request.query_params
        limit, after = _page(filters)
        conditions: list[ColumnElement[bool]] = []
        if account is not None:
            conditions.append(mailbox.c.account_id == account)
        for name, column in (
            ("contact_id", mailbox.c.contact_id),
            ("message_id", mailbox.c.rfc_message_id),
        ):
            if name in filters:
                value = filters[name]
                # No id holds a NUL, which PostgreSQL refuses in a parameter: none matches.
                conditions.append(column == value if "\x00" not in value else false())
        to = filters.get("to")

        def query(c: Connection) -> list[dict[str, Any]]:
            if to is None:
                chosen = [*conditions, _after(after)]
            else:
                chosen = [mailbox.c.id.in_(_sent_to(c, conditions, to, after, limit))]
            statement = select(mailbox).where(*chosen).order_by(mailbox.c.id).limit(limit)
            return [_captured(row) for row in c.execute(statement)]

        return JSONResponse({"Messages": await self._store.read(query)})

    async def clear_mailbox(self, request: Request) -> Response:
        account = await self._account(request, CLEAR_MAILBOX)

        def clear(c: Connection) -> int:
            statement = delete(mailbox)
            if account is not None:
                statement = statement.where(mailbox.c.account_id == account)
            return int(c.execute(statement).rowcount or 0)

        return JSONResponse({"Deleted": await self._store.write(clear)})


def _page(filters: Mapping[str, str]) -> tuple[int, int]:
    """`limit` (at most MAX_PAGE) and `after`, or a 400 for values no page can have."""
    try:
        limit = int(filters.get("limit", MAX_PAGE))
        after = int(filters.get("after", 0))
    except ValueError:
        raise Refused(400, "limit and after must be integers") from None
    if limit < 1:
        raise Refused(400, f"limit must be at least 1 (a page holds at most {MAX_PAGE})")
    if not 0 <= after <= MAX_ID:
        raise Refused(400, f"after must be from 0 to {MAX_ID}")
    return min(limit, MAX_PAGE), after


def _after(after: int) -> ColumnElement[bool]:
    # A BIGINT parameter: PostgreSQL's ids are INTEGER, and a parameter of the column's type
    # cannot hold an `after` beyond 2**31 - 1.
    return mailbox.c.id > literal(after, BigInteger)


def _sent_to(
    c: Connection, conditions: list[ColumnElement[bool]], to: str, after: int, limit: int
) -> list[int]:
    """The ids of the first `limit` messages after `after` with `to` among their recipients.

    Recipients are a JSON list, compared as Python compares strings ignoring case (SQLite's
    and PostgreSQL's lower() differ beyond ASCII), so the rows are scanned here a page at a
    time, reading only their ids and recipients, until `limit` match or none are left.
    """
    wanted = to.lower()
    found: list[int] = []
    while len(found) < limit:
        page = c.execute(
            select(mailbox.c.id, mailbox.c.recipients)
            .where(*conditions, _after(after))
            .order_by(mailbox.c.id)
            .limit(MAX_PAGE)
        ).all()
        found += [row.id for row in page if any(r.lower() == wanted for r in loads(row.recipients))]
        if len(page) < MAX_PAGE:
            break
        after = page[-1].id
    return found[:limit]


def _captured(row: Any) -> dict[str, Any]:
    return {
        "Id": row.id,
        "AccountId": row.account_id,
        "ContactId": row.contact_id,
        "MessageId": row.rfc_message_id,
        "From": row.mail_from,
        "Recipients": loads(row.recipients),
        "Subject": row.subject,
        "CapturedAt": row.captured_at,
        "Raw": row.raw.decode("utf-8", errors="replace"),
        "RawBase64": base64.b64encode(row.raw).decode(),
    }


def _unauthorized() -> Refused:
    return Refused(
        401,
        "Credentials required (HTTP Basic: access key id and secret access key).",
        headers={"WWW-Authenticate": 'Basic realm="connectmail"'},
    )


# The error type of each status, in the `x-amzn-ErrorType` header as the API's errors have it.
ERROR_TYPES = {
    400: "BadRequestException",
    401: "UnauthorizedException",
    403: "AccessDeniedException",
    404: "NotFoundException",
    405: "MethodNotAllowedException",
    503: "ServiceUnavailableException",
}


def _error(
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    fields: Mapping[str, str] | None = None,
) -> Response:
    """An error as the API answers one: a JSON `message`, its type and a request id."""
    return JSONResponse(
        {**(fields or {}), "message": message},
        status,
        headers={
            "x-amzn-ErrorType": ERROR_TYPES.get(status, "InternalFailure"),
            "x-amzn-RequestId": str(uuid.uuid4()),
            **(headers or {}),
        },
    )


def _unavailable(message: str) -> Response:
    return _error(503, message, fields={"status": "unavailable"})


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return _error(exc.status, exc.message, exc.headers)


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    # The store waited out its outage deadline: a 503 the client may retry, not a bare 500.
    assert isinstance(exc, StoreUnavailable)
    return _error(503, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 (no such endpoint) and 405 (not that method), in the same shape."""
    assert isinstance(exc, HTTPException)
    return _error(
        exc.status_code, f"{request.method} {request.url.path}: {exc.detail}", exc.headers
    )
