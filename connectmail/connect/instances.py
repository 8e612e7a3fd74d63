"""Handlers for Amazon Connect instances."""

from __future__ import annotations

from typing import Any

from connectmail.aws import RequestContext, operation
from connectmail.connect.base import Handlers
from connectmail.domain import instances


class InstanceHandlers(Handlers):
    @operation("CreateInstance")
    async def create_instance(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.write_once(
            ctx, params, lambda c, now: instances.create(c, ctx.account_id, ctx.region, params, now)
        )

    @operation("DescribeInstance")
    async def describe_instance(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        return await self.read(
            lambda c, now: {
                "Instance": instances.describe(
                    instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
                )
            }
        )

    @operation("ListInstances")
    async def list_instances(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        page = await self.store.read(
            lambda c: instances.list_page(
                c, ctx.account_id, ctx.region, params.get("MaxResults", 10), params.get("NextToken")
            )
        )
        return {"InstanceSummaryList": page.items, "NextToken": page.next_token}

    @operation("DeleteInstance")
    async def delete_instance(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        def delete(c: Any, now: float) -> dict[str, Any]:
            row = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            instances.delete(c, row, now)
            return {}

        return await self.write_once(ctx, params, delete)
