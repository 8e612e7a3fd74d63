"""Handlers for message templates: the draft, its attachments, versions, activation, search and
rendering."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Connection

from connectmail.aws import RequestContext, operation
from connectmail.connect.base import Deps, Handlers
from connectmail.domain.file_urls import FileUrls
from connectmail.errors import ServiceError
from connectmail.qconnect.knowledge_bases import scope
from connectmail.store.tables import Record
from connectmail.templates import (
    attachments,
    attributes,
    content,
    knowledge_bases,
    message_templates,
    search,
    versions,
)
from connectmail.templates.content import Limits
from connectmail.templates.errors import quota_exceeded, validation
from connectmail.templates.rendering import render_content

Step = Callable[[Connection, Record, float], dict[str, Any]]


class MessageTemplateHandlers(Handlers):
    def __init__(self, deps: Deps, urls: FileUrls) -> None:
        super().__init__(deps)
        self.urls = urls
        # Reading a large template (or decoding an attachment) is seconds (or tens of
        # milliseconds) of CPU: it runs in threads of its own, not on the event loop, nor in
        # the default executor, which others need (DNS lookups...).
        self._reading = ThreadPoolExecutor(2, thread_name_prefix="template-read")

    async def _links(self, ctx: RequestContext) -> attachments.Links:
        """What signs the download URLs of attachments in this request's answer."""
        return attachments.Links(self.urls, await self.urls.signer(), ctx.account_id, ctx.host)

    async def _check_content(
        self,
        channel_subtype: str | None,
        body: dict[str, Any],
        limits: Limits,
        *,
        over_quota: Callable[[str], ServiceError] = quota_exceeded,
    ) -> None:
        """The checks of content that need no state: the cheap ones first, so that content
        over the quota is refused unread, then its syntax, while the loop serves others."""
        content.check_fits(channel_subtype, body, limits, over_quota=over_quota)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._reading, content.check_syntax, body)

    def _in_knowledge_base(
        self, ctx: RequestContext, params: dict[str, Any], step: Step
    ) -> Callable[[Connection, float], dict[str, Any]]:
        """Run `step` with the request's knowledge base (as a function for read or write)."""

        def run(c: Connection, now: float) -> dict[str, Any]:
            knowledge_base = knowledge_bases.require(c, scope(ctx), params["knowledgeBaseId"])
            return step(c, knowledge_base, now)

        return run

    @operation("CreateMessageTemplate")
    async def create_message_template(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        limits = self.settings.template_limits()
        await self._check_content(params["channelSubtype"], params.get("content") or {}, limits)
        run = self._in_knowledge_base(
            ctx,
            params,
            lambda c, kb, now: message_templates.create(c, scope(ctx), kb, params, now, limits),
        )
        return await self.write_once(ctx, params, run, token_member="clientToken")

    @operation("GetMessageTemplate")
    async def get_message_template(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        links = await self._links(ctx)
        return await self.read(
            self._in_knowledge_base(
                ctx,
                params,
                lambda c, kb, now: message_templates.get(
                    c, scope(ctx), kb, params["messageTemplateId"], links, now
                ),
            )
        )

    @operation("UpdateMessageTemplate")
    async def update_message_template(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        limits = self.settings.template_limits()
        if "content" in params:
            # The channel is the template's, checked in the write; the model of this
            # operation has no ServiceQuotaExceededException.
            await self._check_content(None, params["content"], limits, over_quota=validation)
        return await self.write_once(
            ctx,
            params,
            self._in_knowledge_base(
                ctx,
                params,
                lambda c, kb, now: message_templates.update_draft(
                    c, scope(ctx), kb, params, now, limits
                ),
            ),
        )

    @operation("UpdateMessageTemplateMetadata")
    async def update_message_template_metadata(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        return await self.write_once(
            ctx,
            params,
            self._in_knowledge_base(
                ctx,
                params,
                lambda c, kb, now: message_templates.update_metadata(
                    c, scope(ctx), kb, params, now
                ),
            ),
        )

    @operation("DeleteMessageTemplate")
    async def delete_message_template(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        def delete(c: Connection, kb: Record, now: float) -> dict[str, Any]:
            message_templates.remove(c, scope(ctx), kb, params["messageTemplateId"])
            return {}

        return await self.write_once(ctx, params, self._in_knowledge_base(ctx, params, delete))

    @operation("ListMessageTemplates")
    async def list_message_templates(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        def list_page(c: Connection, kb: Record, now: float) -> dict[str, Any]:
            page = message_templates.list_page(
                c, kb, params.get("maxResults", 100), params.get("nextToken")
            )
            return {"messageTemplateSummaries": page.items, "nextToken": page.next_token}

        return await self.read(self._in_knowledge_base(ctx, params, list_page))

    @operation("SearchMessageTemplates")
    async def search_message_templates(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        return await self.read(
            self._in_knowledge_base(
                ctx,
                params,
                lambda c, kb, now: search.search(
                    c,
                    kb,
                    params["searchExpression"],
                    params.get("maxResults", 100),
                    params.get("nextToken"),
                ),
            )
        )

    @operation("CreateMessageTemplateVersion")
    async def create_message_template_version(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        limits = self.settings.template_limits()
        links = await self._links(ctx)
        return await self.write_once(
            ctx,
            params,
            self._in_knowledge_base(
                ctx,
                params,
                lambda c, kb, now: versions.create(c, scope(ctx), kb, params, now, limits, links),
            ),
        )

    @operation("ListMessageTemplateVersions")
    async def list_message_template_versions(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        def list_page(c: Connection, kb: Record, now: float) -> dict[str, Any]:
            page = versions.list_page(
                c,
                scope(ctx),
                kb,
                params["messageTemplateId"],
                params.get("maxResults", 100),
                params.get("nextToken"),
            )
            return {"messageTemplateVersionSummaries": page.items, "nextToken": page.next_token}

        return await self.read(self._in_knowledge_base(ctx, params, list_page))

    @operation("ActivateMessageTemplate")
    async def activate_message_template(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        return await self.write_once(
            ctx,
            params,
            self._in_knowledge_base(
                ctx, params, lambda c, kb, now: versions.activate(c, scope(ctx), kb, params)
            ),
        )

    @operation("DeactivateMessageTemplate")
    async def deactivate_message_template(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        return await self.write_once(
            ctx,
            params,
            self._in_knowledge_base(
                ctx, params, lambda c, kb, now: versions.deactivate(c, scope(ctx), kb, params)
            ),
        )

    @operation("CreateMessageTemplateAttachment")
    async def create_message_template_attachment(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        upload = await loop.run_in_executor(self._reading, attachments.prepare, params)
        links = await self._links(ctx)

        def create(c: Connection, kb: Record, now: float) -> dict[str, Any]:
            template, _ = message_templates.require(c, scope(ctx), kb, params["messageTemplateId"])
            return attachments.create(c, scope(ctx), kb, template, upload, now, links)

        answer = await self.write_once(
            ctx, params, self._in_knowledge_base(ctx, params, create), token_member="clientToken"
        )
        # A replay of the token answers what the first call did, but for its URL, which had
        # five minutes to live: one signed now.
        answer["attachment"] = links.fresh(answer["attachment"], time.time())
        return answer

    @operation("DeleteMessageTemplateAttachment")
    async def delete_message_template_attachment(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        def delete(c: Connection, kb: Record, now: float) -> dict[str, Any]:
            template, _ = message_templates.require(c, scope(ctx), kb, params["messageTemplateId"])
            attachments.remove(c, scope(ctx), kb, template, params["attachmentId"], now)
            return {}

        return await self.write_once(ctx, params, self._in_knowledge_base(ctx, params, delete))

    @operation("RenderMessageTemplate")
    async def render_message_template(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        links = await self._links(ctx)

        def render(c: Connection, kb: Record, now: float) -> dict[str, Any]:
            template, ref = message_templates.require(
                c, scope(ctx), kb, params["messageTemplateId"], qualified=True
            )
            selected = message_templates.select_qualifier(c, template, ref.qualifier)
            context = attributes.merge(
                attributes.from_message_template_attributes(selected.default_attributes),
                attributes.from_message_template_attributes(params["attributes"]),
            )
            rendered = render_content(selected.content, context)
            return {
                "content": rendered.content or None,
                "sourceConfigurationSummary": message_templates.source_summary(selected),
                "attributesNotInterpolated": rendered.missing,
                "attachments": attachments.views(c, selected, links, now),
            }

        return await self.read(self._in_knowledge_base(ctx, params, render))
