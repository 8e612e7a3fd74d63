"""Handlers for contacts: CreateContact, DescribeContact, StopContact, StartOutboundEmailContact."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from sqlalchemy import Connection

from connectmail.aws import RequestContext, operation
from connectmail.connect.base import Handlers, client_token
from connectmail.domain import contacts, instances, outbound
from connectmail.domain.idempotency import StoredAnswer
from connectmail.domain.send_batch import SEND_BATCH, SendJob
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
        now = time.time()
        job = SendJob(
            account_id=ctx.account_id,
            region=ctx.region,
            request=request,
            policy=policy,
            token=client_token(ctx, params),
            ttl_seconds=self.settings.idempotency_ttl_seconds,
            now=now,
            render=None
            if request.content is not None
            else partial(self._render_template, ctx, request, now),
        )
        try:
            result: dict[str, Any] = await self.store.write_batched(SEND_BATCH, job)
        except StoredAnswer as replay:
            return replay.answer
        self.deps.notify_delivery()
        return result

    def _render_template(
        self,
        ctx: RequestContext,
        request: outbound.OutboundRequest,
        now: float,
        connection: Connection,
        found: outbound.Acceptance,
    ) -> outbound.Content:
        return self.render_template(connection, ctx, found, request, now)

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
