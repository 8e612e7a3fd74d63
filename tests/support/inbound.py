"""Talking to connectmail's inbound side: its SMTP port, and the signed file URLs it hands out."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import aiosmtplib

from tests.support.server import ServerProcess


def received_search(instance_id: str) -> dict[str, Any]:
    """SearchContacts' arguments for the instance's received (INBOUND) contacts of the last
    hour."""
    return {
        "InstanceId": instance_id,
        "TimeRange": {
            "Type": "INITIATION_TIMESTAMP",
            "StartTime": datetime.now(UTC) - timedelta(hours=1),
            "EndTime": datetime.now(UTC) + timedelta(hours=1),
        },
        "SearchCriteria": {"InitiationMethods": ["INBOUND"]},
    }


def smtp_port(server: ServerProcess) -> int:
    listening = json.loads((server.data_dir / "server.json").read_text())
    return int(listening["smtp"].rsplit(":", 1)[1])


@dataclass
class SmtpReply:
    """What the server answered at each step of one SMTP transaction."""

    mail: tuple[int, str]
    rcpt: list[tuple[int, str]]
    data: tuple[int, str] | None

    @property
    def accepted(self) -> bool:
        return self.data is not None and self.data[0] == 250


def deliver(
    server: ServerProcess,
    message: EmailMessage | bytes,
    *,
    sender: str = "customer@example.org",
    recipients: list[str],
    mail_options: list[str] | None = None,
) -> SmtpReply:
    """Send one message to the server's SMTP port, step by step, keeping every reply."""
    data = message if isinstance(message, bytes) else message.as_bytes()
    return asyncio.run(_deliver(smtp_port(server), data, sender, recipients, mail_options or []))


async def _deliver(
    port: int, data: bytes, sender: str, recipients: list[str], mail_options: list[str]
) -> SmtpReply:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
    await client.connect()
    try:
        await client.ehlo()
        try:
            mail = await client.mail(sender, options=mail_options)
        except aiosmtplib.SMTPSenderRefused as refused:
            return SmtpReply((refused.code, refused.message), [], None)
        rcpt: list[tuple[int, str]] = []
        for recipient in recipients:
            try:
                answer = await client.rcpt(recipient)
                rcpt.append((answer.code, answer.message))
            except aiosmtplib.SMTPRecipientRefused as refused:
                rcpt.append((refused.code, refused.message))
        if not any(code == 250 for code, _ in rcpt):
            return SmtpReply((mail.code, mail.message), rcpt, None)
        try:
            answer = await client.data(data)
            reply = (answer.code, answer.message)
        except aiosmtplib.SMTPDataError as refused:
            reply = (refused.code, refused.message)
        return SmtpReply((mail.code, mail.message), rcpt, reply)
    finally:
        try:
            await client.quit()
        except aiosmtplib.SMTPException:
            client.close()


def download(url: str) -> tuple[int, bytes, dict[str, str]]:
    """GET a presigned URL with no credentials: (status, body, headers)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return (
                response.status,
                response.read(),
                {k.lower(): v for k, v in response.headers.items()},
            )
    except urllib.error.HTTPError as error:
        return error.code, error.read(), {k.lower(): v for k, v in error.headers.items()}


def upload(url: str, data: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, method="PUT", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def attach_file(client: Any, instance_id: str, contact_arn: str, name: str, data: bytes) -> str:
    """Upload `data` as an attachment of an unsent email contact; return the file id."""
    started = client.start_attached_file_upload(
        InstanceId=instance_id,
        FileName=name,
        FileSizeInBytes=len(data),
        FileUseCaseType="ATTACHMENT",
        AssociatedResourceArn=contact_arn,
    )
    status, _ = upload(
        started["UploadUrlMetadata"]["Url"], data, started["UploadUrlMetadata"]["HeadersToInclude"]
    )
    assert status == 200
    client.complete_attached_file_upload(
        InstanceId=instance_id, FileId=started["FileId"], AssociatedResourceArn=contact_arn
    )
    return str(started["FileId"])


def references(client: Any, instance_id: str, contact_id: str, *types: str) -> list[dict[str, Any]]:
    found = client.list_contact_references(
        InstanceId=instance_id,
        ContactId=contact_id,
        ReferenceTypes=list(types or ("EMAIL_MESSAGE", "EMAIL_MESSAGE_PLAIN_TEXT", "ATTACHMENT")),
    )
    return list(found["ReferenceSummaryList"])


def file_bytes(client: Any, instance_id: str, contact_arn: str, file_arn: str) -> bytes:
    """The bytes behind a file reference, fetched the Amazon Connect way (GetAttachedFile)."""
    described = client.get_attached_file(
        InstanceId=instance_id,
        FileId=file_arn.rsplit("/", 1)[1],
        AssociatedResourceArn=contact_arn,
    )
    status, body, _ = download(described["DownloadUrlMetadata"]["Url"])
    assert status == 200, body
    assert len(body) == described["FileSizeInBytes"]
    return body


def customer_email(to: str, subject: str, body: str, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Jane Doe <jane@example.org>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="mail.example.org")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message
