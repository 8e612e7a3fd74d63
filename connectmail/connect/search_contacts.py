"""Handlers finding contacts: SearchContacts, and ListAssociatedContacts (a contact's tree)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from connectmail.aws import RequestContext, operation
from connectmail.connect.base import Handlers
from connectmail.domain import contact_tree, instances, search


class SearchContactsHandlers(Handlers):
    @operation("SearchContacts")
    async def search_contacts(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        def find(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            return search.search(c, instance, params, now)

        return await self.read(find)

    @operation("ListAssociatedContacts")
    async def list_associated_contacts(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        def find(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            return contact_tree.associated(c, instance, params, now)

        return await self.read(find)
