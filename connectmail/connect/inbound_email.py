"""Handlers for inbound email contacts made through the API, and the references of any contact."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import Connection

from connectmail.aws import RequestContext, operation
from connectmail.connect.base import Deps, Handlers
from connectmail.domain import attached_files, contacts, instances, references, start_email
from connectmail.domain.file_urls import GET, FileUrls, InvalidFileUrl
from connectmail.errors import invalid_request
from connectmail.inbound import fetch
from connectmail.mail.compose import Attachment


class InboundEmailHandlers(Handlers):
    def __init__(self, deps: Deps, urls: FileUrls) -> None:
        super().__init__(deps)
        self.urls = urls

    @operation("StartEmailContact")
    async def start_email_contact(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        request = start_email.prepare(params)
        files = [await self._attachment(ctx, source) for source in request.attachments]
        expiry = self.settings.expiry_policy()
        # The message is composed and parsed in a thread before the write, not by the
        # database's writer (on SQLite, every write waited for an HTML body's plain text).
        composed: start_email.Composed | None = None
        destination = await self.store.read(
            lambda c: start_email.read_destination(c, ctx.account_id, ctx.region, request)
        )
        if destination is not None:
            composed = await asyncio.to_thread(
                start_email.compose_for, request, destination, files, time.time()
            )

        def start(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            return start_email.start(c, instance, request, files, now, expiry, composed)

        return await self.write_once(ctx, params, start)

    async def _attachment(
        self, ctx: RequestContext, source: start_email.AttachmentSource
    ) -> Attachment:
        limit = attached_files.MAX_FILE_BYTES
        try:
            grant = await self.urls.grant_of(source.url, GET, time.time())
        except InvalidFileUrl as exc:
            raise invalid_request(f"Attachment {source.name!r}: {exc}") from None
        if grant is None:
            data = await fetch.fetch(source.url, self.settings.attachment_url_hosts, limit)
        else:
            found = None
            if grant.account_id == ctx.account_id:
                found = await self.store.read(
                    lambda c: attached_files.content(c, grant.account_id, grant.file_id)
                )
            if found is None:
                raise invalid_request(f"Attachment {source.name!r}: the file is not available.")
            data = found[1]
        if len(data) > limit:
            raise attached_files.too_large(source.name, len(data))
        content_type = attached_files.allowed_type(source.name)
        assert content_type is not None  # checked by start_email.prepare
        return Attachment(source.name, content_type, data)

    @operation("ListContactReferences")
    async def list_contact_references(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        def list_them(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            contact = contacts.require(c, instance, params["ContactId"])
            return references.list_references(
                c, contact, params["ReferenceTypes"], params.get("NextToken")
            )

        return await self.read(list_them)
