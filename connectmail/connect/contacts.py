"""Handlers for contacts: CreateContact, DescribeContact, StopContact, StartOutboundEmailContact."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection

from connectmail.aws import RequestContext, operation
from connectmail.connect.base import Deps, Handlers, client_token
from connectmail.domain import contacts, instances, outbound
from connectmail.domain.idempotency import StoredAnswer
from connectmail.domain.send_batch import SEND_BATCH, SendJob
from connectmail.templates import sending


class ContactHandlers(Handlers):
    def __init__(self, deps: Deps) -> None:
        super().__init__(deps)
        # Large message templates are rendered here, outside the write and off the event
        # loop (see sending.RenderOutside); not in the default executor, which others need.
        self._rendering = ThreadPoolExecutor(2, thread_name_prefix="template-render")

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
        )
        while True:
            try:
                result: dict[str, Any] = await self.store.write_batched(SEND_BATCH, job)
            except StoredAnswer as replay:
                return replay.answer
            except sending.RenderOutside as large:  # the write found a large template
                rendered = await asyncio.get_running_loop().run_in_executor(
                    self._rendering, large.render
                )
                # Sent again with it; a template that changed under the render is rendered
                # again, and if it changed under that one too, in the write.
                job = replace(job, rendered=rendered, outside=job.rendered is None)
                continue
            self.deps.notify_delivery()
            return result
