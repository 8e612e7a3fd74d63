"""Attached files of email contacts: upload, complete, describe, download, delete; the limits."""

from __future__ import annotations

import base64
import os
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.connect import Outpost, make_outpost
from tests.support.inbound import attach_file, download, references, upload
from tests.support.server import ServerProcess

MAX_FILE_BYTES = 20 * 1024 * 1024


@pytest.fixture
def outpost(shared_server: ServerProcess) -> Outpost:
    return make_outpost(shared_server.client())


def draft(outpost: Outpost) -> tuple[str, str]:
    created = outpost.client.create_contact(
        InstanceId=outpost.instance_id,
        Channel="EMAIL",
        InitiationMethod="OUTBOUND",
        UserInfo={"UserId": "agent-1"},
    )
    return created["ContactId"], created["ContactArn"]


def start(outpost: Outpost, arn: str, name: str = "notes.txt", size: int = 5, **extra: Any) -> Any:
    return outpost.client.start_attached_file_upload(
        InstanceId=outpost.instance_id,
        FileName=name,
        FileSizeInBytes=size,
        FileUseCaseType=extra.pop("FileUseCaseType", "ATTACHMENT"),
        AssociatedResourceArn=arn,
        **extra,
    )


def get(outpost: Outpost, arn: str, file_id: str, **extra: Any) -> Any:
    return outpost.client.get_attached_file(
        InstanceId=outpost.instance_id, FileId=file_id, AssociatedResourceArn=arn, **extra
    )


def code(raised: pytest.ExceptionInfo[ClientError]) -> str:
    return str(raised.value.response["Error"]["Code"])


def test_upload_complete_download(outpost: Outpost) -> None:
    _, arn = draft(outpost)
    data = os.urandom(4096)
    started = start(outpost, arn, "scan.pdf", len(data), Tags={"team": "billing"})
    file_id = started["FileId"]
    assert started["FileStatus"] == "PROCESSING"
    assert started["FileArn"] == arn.split("/contact/")[0] + f"/file/{file_id}"
    assert started["UploadUrlMetadata"]["HeadersToInclude"] == {"Content-Type": "application/pdf"}
    assert "DownloadUrlMetadata" not in get(outpost, arn, file_id)

    with pytest.raises(ClientError) as raised:
        outpost.client.complete_attached_file_upload(
            InstanceId=outpost.instance_id, FileId=file_id, AssociatedResourceArn=arn
        )
    assert code(raised) == "InvalidRequestException"  # nothing uploaded yet

    url = started["UploadUrlMetadata"]["Url"]
    assert upload(url, data[:-1])[0] == 400  # not the announced size
    assert upload(url, data + b"!")[0] == 413
    assert upload(url, data)[0] == 200
    outpost.client.complete_attached_file_upload(
        InstanceId=outpost.instance_id, FileId=file_id, AssociatedResourceArn=arn
    )
    described = get(outpost, arn, file_id, UrlExpiryInSeconds=60, UrlContentDisposition="INLINE")
    assert described["FileStatus"] == "APPROVED"
    assert described["FileName"] == "scan.pdf" and described["FileSizeInBytes"] == len(data)
    assert described["FileUseCaseType"] == "ATTACHMENT"
    assert described["AssociatedResourceArn"] == arn
    assert described["Tags"] == {"team": "billing"}
    status, body, headers = download(described["DownloadUrlMetadata"]["Url"])
    assert (status, body) == (200, data)
    assert headers["content-type"] == "application/pdf"
    assert headers["content-disposition"].startswith("inline;")
    assert upload(url, data)[0] == 409  # the upload URL is spent once completed


def test_signed_urls_cannot_be_bent(outpost: Outpost) -> None:
    _, arn = draft(outpost)
    file_id = attach_file(outpost.client, outpost.instance_id, arn, "a.txt", b"hello")
    url = get(outpost, arn, file_id)["DownloadUrlMetadata"]["Url"]
    token = url.split("token=", 1)[1]
    payload, _signature = token.split(".")
    claims = base64.urlsafe_b64decode(payload + "==").replace(b'"get"', b'"put"')
    forged = base64.urlsafe_b64encode(claims).rstrip(b"=").decode()
    assert download(url.replace(payload, forged))[0] == 403
    assert upload(url, b"hello")[0] == 403  # a download URL does not upload
    other_id = attach_file(outpost.client, outpost.instance_id, arn, "b.txt", b"other")
    assert download(url.replace(f"/files/{file_id}", f"/files/{other_id}"))[0] == 403
    assert download(url)[0] == 200


@pytest.mark.parametrize(
    ("name", "size", "expected", "reason"),
    [
        ("setup.exe", 10, "InvalidRequestException", "INVALID_FILE_TYPE"),
        ("page.html", 10, "InvalidRequestException", "INVALID_FILE_TYPE"),
        ("archive.zip", 10, "InvalidRequestException", "INVALID_FILE_TYPE"),
        ("noextension", 10, "InvalidRequestException", "INVALID_FILE_NAME"),
        (".pdf", 10, "InvalidRequestException", "INVALID_FILE_NAME"),
        ("huge.pdf", MAX_FILE_BYTES + 1, "InvalidRequestException", "INVALID_FILE_SIZE"),
    ],
)
def test_types_and_sizes_amazon_connect_refuses(
    outpost: Outpost, name: str, size: int, expected: str, reason: str
) -> None:
    """With the model's Reason, which SDKs expose (boto3's response["Reason"])."""
    _, arn = draft(outpost)
    with pytest.raises(ClientError) as raised:
        start(outpost, arn, name, size)
    assert code(raised) == expected
    assert raised.value.response["Reason"] == {"AttachedFileInvalidRequestExceptionReason": reason}


def test_at_most_ten_attachments_per_email(outpost: Outpost) -> None:
    _, arn = draft(outpost)
    for n in range(10):
        start(outpost, arn, f"page-{n}.png", 100)
    with pytest.raises(ClientError) as raised:
        start(outpost, arn, "page-10.png", 100)
    assert code(raised) == "ServiceQuotaExceededException"
    assert raised.value.response["Reason"] == {
        "AttachedFileServiceQuotaExceededExceptionReason": "TOTAL_FILE_COUNT_EXCEEDED"
    }


def test_a_reused_client_token_is_the_conflict_the_operation_models(outpost: Outpost) -> None:
    _, arn = draft(outpost)
    first = start(outpost, arn, "a.pdf", ClientToken="reused-upload-token")
    again = start(outpost, arn, "a.pdf", ClientToken="reused-upload-token")
    assert again["FileId"] == first["FileId"]
    with pytest.raises(ClientError) as raised:
        start(outpost, arn, "b.pdf", ClientToken="reused-upload-token")
    assert code(raised) == "ResourceConflictException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_an_unknown_instance_is_a_bad_request(outpost: Outpost) -> None:
    """StartAttachedFileUpload models no ResourceNotFoundException (an unknown contact is an
    InvalidRequestException too)."""
    _, arn = draft(outpost)
    with pytest.raises(ClientError) as raised:
        outpost.client.start_attached_file_upload(
            InstanceId="00000000-0000-4000-8000-000000000000",
            FileName="a.pdf",
            FileSizeInBytes=5,
            FileUseCaseType="ATTACHMENT",
            AssociatedResourceArn=arn,
        )
    assert code(raised) == "InvalidRequestException"


def test_files_attach_only_to_unsent_outgoing_email(
    outpost: Outpost, shared_server: ServerProcess
) -> None:
    inbound = outpost.receive()
    inbound_arn = outpost.client.describe_contact(
        InstanceId=outpost.instance_id, ContactId=inbound
    )["Contact"]["Arn"]
    sent = outpost.contact()
    outpost.send(sent)
    sent_arn = inbound_arn.replace(inbound, sent)
    elsewhere = make_outpost(shared_server.client())
    _, foreign_arn = draft(elsewhere)
    _, arn = draft(outpost)
    for target in (inbound_arn, sent_arn, foreign_arn, "arn:aws:connect:::nothing"):
        with pytest.raises(ClientError) as raised:
            start(outpost, target)
        assert code(raised) == "InvalidRequestException", target
    with pytest.raises(ClientError) as raised:
        start(outpost, arn, "message.txt", FileUseCaseType="EMAIL_MESSAGE")
    assert code(raised) == "InvalidRequestException"


def test_delete_keeps_a_deleted_reference(outpost: Outpost) -> None:
    contact_id, arn = draft(outpost)
    file_id = attach_file(outpost.client, outpost.instance_id, arn, "old.txt", b"old")
    outpost.client.delete_attached_file(
        InstanceId=outpost.instance_id, FileId=file_id, AssociatedResourceArn=arn
    )
    (reference,) = references(outpost.client, outpost.instance_id, contact_id, "ATTACHMENT")
    assert reference["Attachment"]["Status"] == "DELETED"
    with pytest.raises(ClientError) as raised:
        get(outpost, arn, file_id)
    assert code(raised) == "ResourceNotFoundException"
    outpost.send(contact_id)  # a deleted file does not go out, nor hold the email back
    captured = _captured(outpost, contact_id)
    assert not captured.is_multipart()


def test_attachments_go_out_with_the_email_and_stay(
    outpost: Outpost, shared_server: ServerProcess
) -> None:
    contact_id, arn = draft(outpost)
    pending = start(outpost, arn, "later.csv", 3)["FileId"]
    with pytest.raises(ClientError) as raised:
        outpost.send(contact_id)
    assert code(raised) == "InvalidRequestException"  # an upload was never completed
    outpost.client.delete_attached_file(
        InstanceId=outpost.instance_id, FileId=pending, AssociatedResourceArn=arn
    )
    photo, table = os.urandom(30_000), "naïve,ä\r\n1,2\r\n".encode()
    attach_file(outpost.client, outpost.instance_id, arn, "photo.jpg", photo)
    table_id = attach_file(outpost.client, outpost.instance_id, arn, "Überblick 2024.csv", table)
    outpost.send(
        contact_id, subject="Your files", body="<p>Attached.</p>", content_type="text/html"
    )

    message = _captured(outpost, contact_id)
    assert message.get_content_type() == "multipart/mixed"
    body, *files = message.iter_parts()
    assert body.get_content_type() == "multipart/alternative"
    assert [(f.get_filename(), f.get_content_type()) for f in files] == [
        ("photo.jpg", "image/jpeg"),
        ("Überblick 2024.csv", "text/csv"),
    ]
    assert [f.get_payload(decode=True) for f in files] == [photo, table]
    with pytest.raises(ClientError) as raised:
        outpost.client.delete_attached_file(
            InstanceId=outpost.instance_id, FileId=table_id, AssociatedResourceArn=arn
        )
    assert code(raised) == "InvalidRequestException"  # part of a sent email now
    with pytest.raises(ClientError) as raised:
        start(outpost, arn)
    assert code(raised) == "InvalidRequestException"


def _captured(outpost: Outpost, contact_id: str) -> EmailMessage:
    """The sent email, as the contact's EMAIL_MESSAGE file (what the recipients get)."""
    found = references(outpost.client, outpost.instance_id, contact_id, "EMAIL_MESSAGE")
    (reference,) = found
    arn = reference["EmailMessage"]["Arn"]
    contact_arn = arn.split("/file/")[0] + f"/contact/{contact_id}"
    url = get(outpost, contact_arn, arn.rsplit("/", 1)[1])["DownloadUrlMetadata"]["Url"]
    status, data, _ = download(url)
    assert status == 200
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message
