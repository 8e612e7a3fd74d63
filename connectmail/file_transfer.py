"""The presigned file URLs under /_connectmail/files/: download (GET) and upload (PUT) of
attached files, and download of message template attachments.

Like Amazon S3 presigned URLs they need no credentials: the signed token in the URL names one
file of one account, what kind of file it is, one action and an expiry time.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import Connection
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectmail.domain import attached_files
from connectmail.domain.file_urls import (
    GET,
    PATH_PREFIX,
    PUT,
    TEMPLATE_ATTACHMENT,
    FileGrant,
    FileUrls,
    InvalidFileUrl,
)
from connectmail.store.store import Store
from connectmail.templates import attachments


class FileTransferApi:
    def __init__(self, store: Store, urls: FileUrls) -> None:
        self._store = store
        self._urls = urls
        path = PATH_PREFIX + "{file_id}"
        self.app = Starlette(
            routes=[
                Route(path, self.download, methods=["GET", "HEAD"]),
                Route(path, self.upload, methods=["PUT"]),
            ]
        )

    async def _grant(self, request: Request, action: str) -> FileGrant | Response:
        try:
            grant = await self._urls.grant_of(str(request.url), action, time.time())
        except InvalidFileUrl as exc:
            return _error(403, "AccessDenied", str(exc))
        if grant is None or grant.file_id != request.path_params["file_id"]:
            return _error(403, "AccessDenied", "The URL is not signed for this file.")
        return grant

    async def download(self, request: Request) -> Response:
        grant = await self._grant(request, GET)
        if isinstance(grant, Response):
            return grant
        found = await self._store.read(lambda c: _file(c, grant))
        if found is None:
            return _error(404, "NoSuchKey", "The file does not exist or is not available.")
        disposition = "inline" if grant.disposition == "INLINE" else "attachment"
        headers = {
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(found.name)}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
            "ETag": f'"{found.sha256}"',
        }
        return Response(found.data, media_type=found.content_type, headers=headers)

    async def upload(self, request: Request) -> Response:
        grant = await self._grant(request, PUT)
        if isinstance(grant, Response):
            return grant
        try:
            expected = await self._store.read(
                lambda c: attached_files.expected_upload(c, grant.account_id, grant.file_id)
            )
        except attached_files.UploadRefused as refused:
            return _error(refused.status, "InvalidRequest", refused.message)
        limit = int(expected.size_bytes)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return _too_large(limit)  # refused as soon as it is known, not after
            chunks.append(chunk)
        data = b"".join(chunks)
        try:
            await self._store.write(
                lambda c: attached_files.store_upload(
                    c, grant.account_id, grant.file_id, data, time.time()
                )
            )
        except attached_files.UploadRefused as refused:
            return _error(refused.status, "InvalidRequest", refused.message)
        return Response(status_code=200, headers={"ETag": f'"{_sha256(data)}"'})


@dataclass(frozen=True)
class _Served:
    """What a download answers: the file's name, type and checksum, and its bytes."""

    name: str
    content_type: str
    sha256: str
    data: bytes


def _file(connection: Connection, grant: FileGrant) -> _Served | None:
    if grant.kind == TEMPLATE_ATTACHMENT:
        template_file = attachments.download(connection, grant.account_id, grant.file_id)
        if template_file is None:
            return None
        row, data = template_file
        return _Served(row.name, row.content_type, row.sha256, data)
    found = attached_files.content(connection, grant.account_id, grant.file_id)
    if found is None:
        return None
    attached, data = found
    return _Served(attached.file_name, attached.content_type, attached.sha256, data)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _too_large(limit: int) -> Response:
    return _error(413, "EntityTooLarge", f"The upload is larger than FileSizeInBytes ({limit}).")


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"Code": code, "Message": message}, status)
