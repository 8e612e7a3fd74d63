"""Handlers for changing a contact after it is made: UpdateContact, TagContact, UntagContact,
UpdateOutboundEmailContactMessage and AssociateContactWithUser."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from connectmail.aws import RequestContext, operation
from connectmail.connect.base import Handlers
from connectmail.domain import contact_updates, instances


class ContactUpdateHandlers(Handlers):
    @operation("UpdateContact")
    async def update_contact(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        def change(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            contact_updates.update_contact(
                c,
                instance,
                params,
                now,
                self.settings.expiry_policy(),
                max_cc=self.settings.outbound_policy().max_recipients - 1,
            )
            return {}

        return await self.write_once(ctx, params, change)

    @operation("TagContact")
    async def tag_contact(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        def tag(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            contact_updates.tag(c, instance, params["ContactId"], params["Tags"])
            return {}

        return await self.write_once(ctx, params, tag)

    @operation("UntagContact")
    async def untag_contact(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        def untag(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            contact_updates.untag(c, instance, params["ContactId"], params["TagKeys"])
            return {}

        return await self.write_once(ctx, params, untag)

    @operation("UpdateOutboundEmailContactMessage")
    async def update_outbound_email_contact_message(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        def save(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            return contact_updates.save_draft(c, instance, params, now)

        return await self.write_once(ctx, params, save)

    @operation("AssociateContactWithUser")
    async def associate_contact_with_user(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        def associate(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            contact_updates.associate_user(c, instance, params, now)
            return {}

        return await self.write_once(ctx, params, associate)
