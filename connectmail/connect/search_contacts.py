"""Handler for SearchContacts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from connectmail.aws import RequestContext, operation
from connectmail.connect.base import Handlers
from connectmail.domain import instances, search


class SearchContactsHandlers(Handlers):
    @operation("SearchContacts")
    async def search_contacts(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        def find(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            return search.search(c, instance, params, now)

        return await self.read(find)
