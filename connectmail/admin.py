"""connectmail's own endpoints under /_connectmail/: health and the captured mailbox.

On a loopback listener they answer without credentials; elsewhere they take HTTP Basic with an
access key id and its secret, and then show only that key's account.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

from sqlalchemy import Connection, delete, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectmail.aws.api import KeyStore
from connectmail.jsontext import loads
from connectmail.store.store import Store
from connectmail.store.tables import mailbox

PREFIX = "/_connectmail"
MAX_PAGE = 1000


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
            ]
        )

    async def _account(self, request: Request) -> tuple[bool, str | None]:
        """(allowed, account scope); scope None means every account (loopback, no key)."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                key_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False, None
            principal = await self._keys.principal(key_id)
            if principal is None or not hmac.compare_digest(principal.secret_access_key, secret):
                return False, None
            return True, principal.account_id
        return self._open, None

    async def health(self, request: Request) -> Response:
        allowed, _ = await self._account(request)
        if not allowed:
            return _unauthorized()
        await self._store.read(lambda c: c.execute(select(1)).scalar())
        return JSONResponse({"status": "ok"})

    async def list_mailbox(self, request: Request) -> Response:
        allowed, account = await self._account(request)
        if not allowed:
            return _unauthorized()
        filters = request.query_params
        try:
            limit = min(int(filters.get("limit", MAX_PAGE)), MAX_PAGE)
            after = int(filters.get("after", 0))
        except ValueError:
            return JSONResponse({"message": "limit and after must be integers"}, 400)

        def query(c: Connection) -> list[dict[str, Any]]:
            statement = select(mailbox).where(mailbox.c.id > after)
            if account is not None:
                statement = statement.where(mailbox.c.account_id == account)
            if "contact_id" in filters:
                statement = statement.where(mailbox.c.contact_id == filters["contact_id"])
            if "message_id" in filters:
                statement = statement.where(mailbox.c.rfc_message_id == filters["message_id"])
            rows = c.execute(statement.order_by(mailbox.c.id).limit(limit)).all()
            return [_captured(row) for row in rows]

        found = await self._store.read(query)
        if "to" in filters:
            wanted = filters["to"].lower()
            found = [m for m in found if wanted in (r.lower() for r in m["Recipients"])]
        return JSONResponse({"Messages": found})

    async def clear_mailbox(self, request: Request) -> Response:
        allowed, account = await self._account(request)
        if not allowed:
            return _unauthorized()

        def clear(c: Connection) -> int:
            statement = delete(mailbox)
            if account is not None:
                statement = statement.where(mailbox.c.account_id == account)
            return int(c.execute(statement).rowcount or 0)

        return JSONResponse({"Deleted": await self._store.write(clear)})


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


def _unauthorized() -> Response:
    return JSONResponse(
        {"message": "Credentials required (HTTP Basic: access key id and secret access key)."},
        401,
        headers={"WWW-Authenticate": 'Basic realm="connectmail"'},
    )
