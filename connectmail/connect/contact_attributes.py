"""Handlers for a contact's user-defined attributes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from connectmail.aws import RequestContext, operation
from connectmail.connect.base import Handlers
from connectmail.domain import contact_attributes, instances


class ContactAttributeHandlers(Handlers):
    @operation("GetContactAttributes")
    async def get_contact_attributes(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        def get(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            return {"Attributes": contact_attributes.get(c, instance, params["InitialContactId"])}

        return await self.read(get)

    @operation("UpdateContactAttributes")
    async def update_contact_attributes(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        def update(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            contact_attributes.update_attributes(
                c, instance, params["InitialContactId"], params["Attributes"], now
            )
            return {}

        return await self.write_once(ctx, params, update)
