"""Handlers for attached files: upload, complete, delete, describe; URLs signed by our server."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from connectmail.aws import RequestContext, operation
from connectmail.connect.base import Deps, Handlers
from connectmail.domain import attached_files, instances
from connectmail.domain.file_urls import GET, PUT, FileGrant, FileUrls


class AttachedFileHandlers(Handlers):
    def __init__(self, deps: Deps, urls: FileUrls) -> None:
        super().__init__(deps)
        self.urls = urls

    @operation("StartAttachedFileUpload")
    async def start_attached_file_upload(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        signer = await self.urls.signer()
        expiry = params.get("UrlExpiryInSeconds") or attached_files.DEFAULT_URL_EXPIRY_SECONDS

        def start(c: Connection, now: float) -> dict[str, Any]:
            # StartAttachedFileUpload models no ResourceNotFoundException: an unknown instance
            # is a bad request, as an unknown contact is.
            instance = instances.require(
                c,
                ctx.account_id,
                ctx.region,
                params["InstanceId"],
                missing="InvalidRequestException",
            )
            row = attached_files.start_upload(c, instance, params, now)
            expires_at = int(now + expiry)
            grant = FileGrant(ctx.account_id, row.id, PUT, expires_at)
            view = attached_files.metadata(row)
            return {
                "FileArn": view["FileArn"],
                "FileId": view["FileId"],
                "CreationTime": view["CreationTime"],
                "FileStatus": view["FileStatus"],
                "CreatedBy": view["CreatedBy"],
                "UploadUrlMetadata": {
                    "Url": self.urls.url(signer, grant, ctx.host),
                    "UrlExpiry": attached_files.iso(expires_at),
                    "HeadersToInclude": {"Content-Type": row.content_type},
                },
            }

        return await self.write_once(ctx, params, start)

    @operation("CompleteAttachedFileUpload")
    async def complete_attached_file_upload(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        def complete(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            attached_files.complete_upload(c, instance, params, now)
            return {}

        return await self.write_once(ctx, params, complete)

    @operation("DeleteAttachedFile")
    async def delete_attached_file(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        def remove(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            attached_files.remove(c, instance, params, now)
            return {}

        return await self.write_once(ctx, params, remove)

    @operation("GetAttachedFile")
    async def get_attached_file(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        signer = await self.urls.signer()

        def get(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            contact = attached_files.contact_for(c, instance, params["AssociatedResourceArn"])
            return attached_files.metadata(attached_files.require(c, contact, params["FileId"]))

        view = await self.read(get)
        if view["FileStatus"] == attached_files.APPROVED:
            expiry = params.get("UrlExpiryInSeconds") or attached_files.DEFAULT_URL_EXPIRY_SECONDS
            expires_at = int(time.time() + expiry)
            disposition = params.get("UrlContentDisposition") or "ATTACHMENT"
            grant = FileGrant(ctx.account_id, view["FileId"], GET, expires_at, disposition)
            view["DownloadUrlMetadata"] = {
                "Url": self.urls.url(signer, grant, ctx.host),
                "UrlExpiry": datetime.fromtimestamp(expires_at, UTC)
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
            }
        return view

    @operation("BatchGetAttachedFileMetadata")
    async def batch_get_attached_file_metadata(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        def get(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            return attached_files.batch_metadata(c, instance, params)

        return await self.read(get)
