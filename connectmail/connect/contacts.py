"""Handlers for contacts: CreateContact, DescribeContact, StopContact, StartOutboundEmailContact."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from connectmail.aws import RequestContext, operation
from connectmail.connect.base import Handlers
from connectmail.domain import contacts, instances, outbound
from connectmail.templates import sending
from connectmail.templates.identifiers import Scope


class ContactHandlers(Handlers):
    @operation("CreateContact")
    async def create_contact(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        def create(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            return contacts.create(
                c,
                instance,
                params,
                now,
                self.settings.expiry_policy(),
                active_quota=self.settings.active_email_contacts_per_instance,
            )

        return await self.write_once(ctx, params, create)

    @operation("DescribeContact")
    async def describe_contact(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        def describe(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            row = contacts.require(c, instance, params["ContactId"])
            return {"Contact": contacts.describe(c, row, now)}

        return await self.read(describe)

    @operation("StopContact")
    async def stop_contact(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        def stop(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            contacts.stop(c, instance, params, now)
            return {}

        return await self.write_once(ctx, params, stop)

    @operation("StartOutboundEmailContact")
    async def start_outbound_email_contact(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        policy = self.settings.outbound_policy()
        request = outbound.prepare(params, policy)

        def send(c: Connection, now: float) -> dict[str, Any]:
            found = outbound.resolve(c, ctx.account_id, ctx.region, request, policy, now)
            content = request.content or self.render_template(c, ctx, found, request, now)
            return outbound.accept(c, found, request, content, now)

        result = await self.write_once(ctx, params, send)
        self.deps.notify_delivery()
        return result

    def render_template(
        self,
        connection: Connection,
        ctx: RequestContext,
        found: outbound.Acceptance,
        request: outbound.OutboundRequest,
        now: float,
    ) -> outbound.Content:
        """The content of a TEMPLATE message (Amazon Q in Connect message templates)."""
        return sending.render_email(
            connection,
            Scope(ctx.account_id, ctx.region),
            request.message["TemplatedMessageConfig"],
            sending.Recipients(customer=request.to, system=found.sender),
        )
