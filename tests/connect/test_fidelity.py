"""Contacts and attached files as Amazon Connect documents them, where connectmail had differed."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError

from tests.support.connect import Outpost, make_outpost
from tests.support.databases import sessions_waiting_on_a_lock
from tests.support.inbound import attach_file, file_bytes, references
from tests.support.server import ServerProcess


@pytest.fixture
def outpost(shared_server: ServerProcess) -> Outpost:
    return make_outpost(shared_server.client())


def code(raised: pytest.ExceptionInfo[ClientError]) -> str:
    return str(raised.value.response["Error"]["Code"])


def draft_arn(outpost: Outpost) -> str:
    created = outpost.client.create_contact(
        InstanceId=outpost.instance_id,
        Channel="EMAIL",
        InitiationMethod="OUTBOUND",
        UserInfo={"UserId": "agent-1"},
    )
    return str(created["ContactArn"])


def start_upload(outpost: Outpost, arn: str, **extra: Any) -> dict[str, Any]:
    started: dict[str, Any] = outpost.client.start_attached_file_upload(
        InstanceId=outpost.instance_id,
        FileName="notes.txt",
        FileSizeInBytes=5,
        FileUseCaseType="ATTACHMENT",
        AssociatedResourceArn=arn,
        **extra,
    )
    return started


def test_an_upload_says_who_made_it(outpost: Outpost, shared_server: ServerProcess) -> None:
    """CreatedByInfo.AWSIdentityArn: "SDK users cannot populate this and this value is
    calculated automatically if ConnectUserArn is not provided" (the model)."""
    arn = draft_arn(outpost)
    caller = {"AWSIdentityArn": f"arn:aws:iam::{shared_server.account_id}:root"}
    started = start_upload(outpost, arn)
    assert started["CreatedBy"] == caller
    described = outpost.client.get_attached_file(
        InstanceId=outpost.instance_id, FileId=started["FileId"], AssociatedResourceArn=arn
    )
    assert described["CreatedBy"] == caller

    claimed = start_upload(
        outpost, arn, CreatedBy={"AWSIdentityArn": "arn:aws:iam::999999999999:user/someone"}
    )
    assert claimed["CreatedBy"] == caller  # not who the request says it is
    (listed,) = outpost.client.batch_get_attached_file_metadata(
        InstanceId=outpost.instance_id, FileIds=[claimed["FileId"]], AssociatedResourceArn=arn
    )["Files"]
    assert listed["CreatedBy"] == caller

    agent = arn.split("/contact/")[0] + "/agent/7d2c3f0e-5b1a-4c1e-9a55-0f6f3b2f1a10"
    by_agent = start_upload(outpost, arn, CreatedBy={"ConnectUserArn": agent})
    assert by_agent["CreatedBy"] == {"ConnectUserArn": agent}


def test_stop_contact_does_not_end_transferred_voice_contacts(outpost: Outpost) -> None:
    """StopContact "does not work for voice contacts that use the following initiation
    methods: DISCONNECT, TRANSFER, QUEUE_TRANSFER, EXTERNAL_OUTBOUND, MONITOR" (API reference);
    the refused request leaves the contact as it was."""
    voice = outpost.client.create_contact(
        InstanceId=outpost.instance_id, Channel="VOICE", InitiationMethod="TRANSFER"
    )["ContactId"]
    with pytest.raises(ClientError) as raised:
        outpost.client.stop_contact(InstanceId=outpost.instance_id, ContactId=voice)
    assert code(raised) == "InvalidRequestException"
    assert "DisconnectTimestamp" not in outpost.describe(voice)

    task = outpost.client.create_contact(
        InstanceId=outpost.instance_id, Channel="TASK", InitiationMethod="API", Name="Call back"
    )["ContactId"]
    outpost.client.stop_contact(InstanceId=outpost.instance_id, ContactId=task)
    assert "DisconnectTimestamp" in outpost.describe(task)


@pytest.mark.parametrize(
    ("channel", "method", "subtype"),
    [("TASK", "API", "connect:ExternalTask"), ("VOICE", "TRANSFER", "connect:ExternalAudio")],
)
def test_created_contacts_have_the_documented_subtype(
    outpost: Outpost, channel: str, method: str, subtype: str
) -> None:
    """CreateContact: VOICE contacts "have a subtype connect:ExternalAudio", TASK contacts "a
    sub-type of connect:ExternalTask" (API reference), in the connect:Subtype segment attribute."""
    contact_id = outpost.client.create_contact(
        InstanceId=outpost.instance_id,
        Channel=channel,
        InitiationMethod=method,
        Name="Created",
    )["ContactId"]
    attributes = outpost.describe(contact_id)["SegmentAttributes"]
    assert attributes["connect:Subtype"] == {"ValueString": subtype}


@pytest.mark.parametrize("key", ['say "hi"', "{braced}", "a,b", "back\\slash"])
def test_segment_attributes_are_found_by_any_key(outpost: Outpost, key: str) -> None:
    """A segment attribute's name is any string of 1 to 128 characters (SegmentAttributeName),
    and SearchableSegmentAttributes finds it by that name: quotes, braces and commas were
    spliced into SQL's JSON paths, which then named another key or none (on PostgreSQL, an
    InternalServiceException)."""
    now = datetime.now(UTC)
    wanted = outpost.client.create_contact(
        InstanceId=outpost.instance_id,
        Channel="EMAIL",
        InitiationMethod="FLOW",
        SegmentAttributes={key: {"ValueString": "yes"}},
    )["ContactId"]
    outpost.client.create_contact(
        InstanceId=outpost.instance_id,
        Channel="EMAIL",
        InitiationMethod="FLOW",
        SegmentAttributes={key: {"ValueString": "no"}},
    )
    found = outpost.client.search_contacts(
        InstanceId=outpost.instance_id,
        TimeRange={
            "Type": "INITIATION_TIMESTAMP",
            "StartTime": now - timedelta(minutes=10),
            "EndTime": now + timedelta(minutes=10),
        },
        SearchCriteria={
            "SearchableSegmentAttributes": {
                "Criteria": [{"Key": key, "Values": ["yes"]}],
                "MatchType": "MATCH_ALL",
            }
        },
    )
    assert [c["Id"] for c in found["Contacts"]] == [wanted]


def _until_waiting(url: str, sessions: int, *pending: Future[Any]) -> None:
    deadline = time.monotonic() + 30
    while sessions_waiting_on_a_lock(url) < sessions:
        answered = [p.exception() or "OK" for p in pending if p.done()]
        assert not answered, f"answered without waiting: {answered}"
        assert time.monotonic() < deadline, f"fewer than {sessions} requests ever waited"
        time.sleep(0.05)


def test_an_attachment_deleted_while_its_email_is_sent(
    postgres_url: str, start_server: Any
) -> None:
    """DeleteAttachedFile and StartOutboundEmailContact of the same contact at once: the email
    goes out with the file and the delete is refused, or the file is deleted and the email goes
    out without it. The delete had removed the bytes of a file the send had already taken, so
    the accepted email could never be composed (its EMAIL_MESSAGE was an
    InternalServiceException). The file's row is held so that the send waits after reading it."""
    server = start_server(
        "--database-url", postgres_url, env={"CONNECTMAIL_LOCK_WAIT_SECONDS": "60"}
    )
    outpost = make_outpost(server.client())
    contact_id = outpost.contact()
    arn = outpost.describe(contact_id)["Arn"]
    data = b"%PDF-1.7 the terms"
    file_id = attach_file(outpost.client, outpost.instance_id, arn, "terms.pdf", data)
    # The holder goes first when something fails, so that the requests it holds finish.
    with ThreadPoolExecutor(2) as pool, psycopg.connect(postgres_url) as holder:
        holder.execute("SELECT id FROM attached_files WHERE id = %s FOR UPDATE", (file_id,))
        sent = pool.submit(outpost.send, contact_id, **outpost.sent_from())
        _until_waiting(postgres_url, 1, sent)
        deleted = pool.submit(
            outpost.client.delete_attached_file,
            InstanceId=outpost.instance_id,
            FileId=file_id,
            AssociatedResourceArn=arn,
        )
        _until_waiting(postgres_url, 2, sent, deleted)
        holder.rollback()
        assert sent.result(timeout=30)["ContactId"] == contact_id
        with pytest.raises(ClientError) as raised:
            deleted.result(timeout=30)
    assert code(raised) == "InvalidRequestException"  # the file went out with the email
    (message,) = references(outpost.client, outpost.instance_id, contact_id, "EMAIL_MESSAGE")
    raw = file_bytes(outpost.client, outpost.instance_id, arn, message["EmailMessage"]["Arn"])
    parsed = message_from_bytes(raw, policy=policy.default)
    assert [part.get_payload(decode=True) for part in parsed.iter_attachments()] == [data]


def test_references_hold_at_most_4096_bytes_in_all(outpost: Outpost) -> None:
    """Reference: "You can have up to 4,096 UTF-8 bytes across all references for a contact"
    (API reference); each value alone may be 4,096 characters long, which the model checks."""
    over = {
        "first": {"Type": "STRING", "Value": "x" * 3000},
        "second": {"Type": "STRING", "Value": "ü" * 1000},
    }
    with pytest.raises(ClientError) as raised:
        outpost.client.create_contact(
            InstanceId=outpost.instance_id,
            Channel="EMAIL",
            InitiationMethod="FLOW",
            References=over,
        )
    assert code(raised) == "InvalidRequestException"
    with pytest.raises(ClientError) as raised:
        outpost.receive(References=over)
    assert code(raised) == "InvalidRequestException"

    within = {
        "first": {"Type": "STRING", "Value": "x" * 3000},
        "second": {"Type": "URL", "Value": "https://example.com/" + "a" * 500},
    }
    contact_id = outpost.client.create_contact(
        InstanceId=outpost.instance_id, Channel="EMAIL", InitiationMethod="FLOW", References=within
    )["ContactId"]
    found = outpost.client.list_contact_references(
        InstanceId=outpost.instance_id, ContactId=contact_id, ReferenceTypes=["STRING", "URL"]
    )["ReferenceSummaryList"]
    assert len(found) == 2


def test_an_upload_started_while_its_email_is_sent(postgres_url: str, start_server: Any) -> None:
    """StartAttachedFileUpload while the contact's email is being accepted: the upload waits
    for the send and is then refused, as for any sent email, instead of adding a file to an
    email that has already gone. The outbox is held so that the send waits after taking the
    contact (no delivery worker here, which would wait on it too)."""
    server = start_server(
        "--database-url",
        postgres_url,
        "--no-deliver",
        # Nor ANALYZE, which the held outbox would keep waiting.
        env={"CONNECTMAIL_LOCK_WAIT_SECONDS": "60", "CONNECTMAIL_ANALYZE_INTERVAL_SECONDS": "0"},
    )
    outpost = make_outpost(server.client())
    contact_id = outpost.contact()
    arn = outpost.describe(contact_id)["Arn"]
    # The holder goes first when something fails, so that the requests it holds finish.
    with ThreadPoolExecutor(2) as pool, psycopg.connect(postgres_url) as holder:
        holder.execute("LOCK TABLE outbox IN SHARE MODE")
        sent = pool.submit(outpost.send, contact_id)
        _until_waiting(postgres_url, 1, sent)
        started = pool.submit(start_upload, outpost, arn)
        _until_waiting(postgres_url, 2, sent, started)
        holder.rollback()
        assert sent.result(timeout=30)["ContactId"] == contact_id
        with pytest.raises(ClientError) as raised:
            started.result(timeout=30)
    assert code(raised) == "InvalidRequestException"
    assert references(outpost.client, outpost.instance_id, contact_id, "ATTACHMENT") == []
