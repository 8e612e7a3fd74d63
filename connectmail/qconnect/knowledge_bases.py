"""Handlers for knowledge bases, and for tags on knowledge bases and message templates."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from connectmail.aws import RequestContext, operation
from connectmail.connect.base import Handlers
from connectmail.templates import attachments, knowledge_bases, tags
from connectmail.templates.identifiers import Scope


def scope(ctx: RequestContext) -> Scope:
    return Scope(ctx.account_id, ctx.region)


class KnowledgeBaseHandlers(Handlers):
    @operation("CreateKnowledgeBase")
    async def create_knowledge_base(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        return await self.write_once(
            ctx,
            params,
            lambda c, now: knowledge_bases.create(c, scope(ctx), params, now),
            token_member="clientToken",
        )

    @operation("GetKnowledgeBase")
    async def get_knowledge_base(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        def get(c: Connection, now: float) -> dict[str, Any]:
            row = knowledge_bases.require(c, scope(ctx), params["knowledgeBaseId"])
            return {"knowledgeBase": knowledge_bases.describe(row)}

        return await self.read(get)

    @operation("ListKnowledgeBases")
    async def list_knowledge_bases(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        page = await self.store.read(
            lambda c: knowledge_bases.list_page(
                c, scope(ctx), params.get("maxResults", 100), params.get("nextToken")
            )
        )
        return {"knowledgeBaseSummaries": page.items, "nextToken": page.next_token}

    @operation("DeleteKnowledgeBase")
    async def delete_knowledge_base(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        def delete(c: Connection, now: float) -> dict[str, Any]:
            row = knowledge_bases.require(c, scope(ctx), params["knowledgeBaseId"])
            attachments.forget_knowledge_base(c, row.id)  # their bytes, which no row holds
            knowledge_bases.remove(c, row)
            return {}

        return await self.write_once(ctx, params, delete)

    @operation("TagResource")
    async def tag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        def tag(c: Connection, now: float) -> dict[str, Any]:
            tags.tag_resource(c, scope(ctx), params["resourceArn"], params["tags"])
            return {}

        return await self.write_once(ctx, params, tag)

    @operation("UntagResource")
    async def untag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        def untag(c: Connection, now: float) -> dict[str, Any]:
            tags.untag_resource(c, scope(ctx), params["resourceArn"], params["tagKeys"])
            return {}

        return await self.write_once(ctx, params, untag)

    @operation("ListTagsForResource")
    async def list_tags_for_resource(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        return await self.read(
            lambda c, now: {"tags": tags.list_tags(c, scope(ctx), params["resourceArn"])}
        )
