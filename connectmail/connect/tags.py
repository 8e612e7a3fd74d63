"""Handlers for the tags of instances and email addresses."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from connectmail.aws import RequestContext, operation
from connectmail.connect.base import Handlers
from connectmail.domain import tags


class TagHandlers(Handlers):
    @operation("TagResource")
    async def tag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        def tag(c: Connection, now: float) -> dict[str, Any]:
            tags.tag_resource(c, ctx.account_id, ctx.region, params["resourceArn"], params["tags"])
            return {}

        return await self.write_once(ctx, params, tag)

    @operation("UntagResource")
    async def untag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        def untag(c: Connection, now: float) -> dict[str, Any]:
            tags.untag_resource(
                c, ctx.account_id, ctx.region, params["resourceArn"], params["tagKeys"]
            )
            return {}

        return await self.write_once(ctx, params, untag)

    @operation("ListTagsForResource")
    async def list_tags_for_resource(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        return await self.read(
            lambda c, now: {
                "tags": tags.list_tags(c, ctx.account_id, ctx.region, params["resourceArn"])
            }
        )
