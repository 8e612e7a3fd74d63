"""What every handler needs: the store, the policies, and running a write exactly once."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from connectmail.aws.api import RequestContext
from connectmail.config import Settings
from connectmail.domain.idempotency import (
    ClientToken,
    StoredAnswer,
    request_fingerprint,
    run_once,
)
from connectmail.store.store import Store

Write = Callable[[Connection, float], dict[str, Any]]


@dataclass
class Deps:
    """Built once per app from settings and handed to every handler class."""

    store: Store
    settings: Settings
    notify_delivery: Callable[[], None] = lambda: None


def client_token(
    ctx: RequestContext,
    params: dict[str, Any],
    token_member: str = "ClientToken",
) -> ClientToken | None:
    """The request's client token, scoped to its account, region and operation, if it has
    one; reused with another request, it is the conflict error the operation models. (Each
    AWS region is a service of its own: the same token in another region is another request,
    where it replayed the first region's answer.)"""
    if not params.get(token_member):
        return None
    return ClientToken(
        account_id=ctx.account_id,
        operation=f"{ctx.region}:{ctx.service}:{ctx.operation}",
        token=params[token_member],
        request_hash=request_fingerprint(params, token_member),
        conflict_code=ctx.idempotency_conflict,
    )


class Handlers:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.store = deps.store
        self.settings = deps.settings

    async def write_once(
        self,
        ctx: RequestContext,
        params: dict[str, Any],
        write: Write,
        *,
        token_member: str = "ClientToken",
    ) -> dict[str, Any]:
        """Run `write` in one transaction, at most once per client token."""
        now = time.time()
        token = client_token(ctx, params, token_member)
        ttl = self.settings.idempotency_ttl_seconds
        try:
            return await self.store.write(
                lambda c: run_once(c, token, now, ttl, lambda: write(c, now))
            )
        except StoredAnswer as replay:
            return replay.answer

    async def read(self, read: Callable[[Connection, float], dict[str, Any]]) -> dict[str, Any]:
        now = time.time()
        return await self.store.read(lambda c: read(c, now))
