"""Client tokens under concurrency: 50 identical calls at once do the work once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.cli import created
from tests.support.connect import Outpost, make_outpost, unique_address
from tests.support.server import ServerProcess
from tests.support.smtp import SmtpSink

CALLS = 50


def at_once(call: Callable[[], Any], count: int = CALLS) -> list[Any]:
    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(call) for _ in range(count)]
        return [f.result() for f in futures]


def strip(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


@pytest.fixture
def concurrent_client(server_and_relay: tuple[ServerProcess, SmtpSink]) -> Any:
    return server_and_relay[0].client(
        config=Config(max_pool_connections=CALLS, retries={"max_attempts": 1})
    )


@pytest.fixture
def server_and_relay(
    database_url: str, relay: SmtpSink, start_server: Any
) -> tuple[ServerProcess, SmtpSink]:
    return start_server("--relay", relay.url, "--database-url", database_url), relay


def test_start_outbound_email_contact_sends_once(
    server_and_relay: tuple[ServerProcess, SmtpSink], concurrent_client: Any
) -> None:
    _, relay = server_and_relay
    outpost = make_outpost(concurrent_client)
    contact_id = outpost.contact()
    to = unique_address("once")
    answers = at_once(lambda: outpost.send(contact_id, to=to, ClientToken="one-send"))
    assert {strip(a)["ContactId"] for a in answers} == {contact_id}
    relay.wait_for(1)
    time.sleep(1.0)
    assert len([r for r in relay.received if to in r.recipients]) == 1


def test_create_contact_creates_once(
    server_and_relay: tuple[ServerProcess, SmtpSink], concurrent_client: Any
) -> None:
    outpost = make_outpost(concurrent_client)
    answers = at_once(
        lambda: concurrent_client.create_contact(
            InstanceId=outpost.instance_id,
            Channel="EMAIL",
            InitiationMethod="FLOW",
            ClientToken="one-contact",
        )
    )
    assert len({strip(a)["ContactId"] for a in answers}) == 1


def test_create_email_address_creates_once(
    server_and_relay: tuple[ServerProcess, SmtpSink], concurrent_client: Any
) -> None:
    outpost = make_outpost(concurrent_client)
    address = unique_address("concurrent")
    answers = at_once(
        lambda: concurrent_client.create_email_address(
            InstanceId=outpost.instance_id, EmailAddress=address, ClientToken="one-address"
        )
    )
    assert len({strip(a)["EmailAddressId"] for a in answers}) == 1
    found = concurrent_client.search_email_addresses(InstanceId=outpost.instance_id)
    assert found["ApproximateTotalCount"] == 2


def test_create_instance_creates_once(
    server_and_relay: tuple[ServerProcess, SmtpSink], concurrent_client: Any
) -> None:
    alias = f"c-{uuid.uuid4().hex[:8]}"
    answers = at_once(
        lambda: concurrent_client.create_instance(
            IdentityManagementType="SAML",
            InstanceAlias=alias,
            InboundCallsEnabled=True,
            OutboundCallsEnabled=True,
            ClientToken="one-instance",
        )
    )
    assert len({strip(a)["Id"] for a in answers}) == 1


def test_tokens_are_scoped_by_operation_and_account(start_server: Any) -> None:
    server = start_server()
    client = server.client()
    outpost = make_outpost(client)
    contact_id = outpost.contact(ClientToken="shared-token")
    outpost.send(contact_id, ClientToken="shared-token")  # another operation: no clash

    other = created("accounts", "create", "--data-dir", str(server.data_dir))
    theirs = make_outpost(
        server.client(
            credentials={
                "aws_access_key_id": other["AccessKeyId"],
                "aws_secret_access_key": other["SecretAccessKey"],
            }
        )
    )
    their_contact = theirs.contact(ClientToken="shared-token")
    assert their_contact != contact_id


def test_tokens_expire_after_their_time(start_server: Any) -> None:
    server = start_server(env={"CONNECTMAIL_IDEMPOTENCY_TTL_SECONDS": "1"})
    outpost = make_outpost(server.client())
    first = outpost.contact("FLOW", ClientToken="short-lived")
    with pytest.raises(ClientError) as exc:
        outpost.contact("FLOW", ClientToken="short-lived", Name="different")
    assert exc.value.response["Error"]["Code"] == "IdempotencyException"
    time.sleep(1.2)
    second = outpost.contact("FLOW", ClientToken="short-lived", Name="different")
    assert second != first


def test_active_email_contacts_quota(start_server: Any) -> None:
    server = start_server(env={"CONNECTMAIL_ACTIVE_EMAIL_CONTACTS_PER_INSTANCE": "3"})
    outpost: Outpost = make_outpost(server.client())
    drafts = [outpost.contact() for _ in range(3)]
    with pytest.raises(ClientError) as exc:
        outpost.contact()
    assert exc.value.response["Error"]["Code"] == "ServiceQuotaExceededException"
    outpost.send(drafts[0])
    outpost.client.stop_contact(InstanceId=outpost.instance_id, ContactId=drafts[1])
    outpost.contact()
    outpost.contact()
    with pytest.raises(ClientError):
        outpost.contact()


def test_start_email_contact_creates_once(
    server_and_relay: tuple[ServerProcess, SmtpSink], concurrent_client: Any
) -> None:
    outpost = make_outpost(concurrent_client)
    answers = at_once(
        lambda: concurrent_client.start_email_contact(
            InstanceId=outpost.instance_id,
            ClientToken="one-inbound",
            FromEmailAddress={"EmailAddress": "jane@example.org"},
            DestinationEmailAddress=outpost.sender,
            EmailMessage={
                "MessageSourceType": "RAW",
                "RawMessage": {
                    "Subject": "Question",
                    "Body": "Hello?",
                    "ContentType": "text/plain",
                },
            },
        )
    )
    contact_ids = {strip(a)["ContactId"] for a in answers}
    assert len(contact_ids) == 1
    found = concurrent_client.search_contacts(
        InstanceId=outpost.instance_id,
        TimeRange={
            "Type": "INITIATION_TIMESTAMP",
            "StartTime": time.time() - 600,
            "EndTime": time.time() + 60,
        },
        SearchCriteria={"Channels": ["EMAIL"], "InitiationMethods": ["INBOUND"]},
    )
    assert [c["Id"] for c in found["Contacts"]] == list(contact_ids)


def test_start_attached_file_upload_once(
    server_and_relay: tuple[ServerProcess, SmtpSink], concurrent_client: Any
) -> None:
    outpost = make_outpost(concurrent_client)
    contact_id = outpost.contact()
    arn = concurrent_client.describe_contact(InstanceId=outpost.instance_id, ContactId=contact_id)[
        "Contact"
    ]["Arn"]
    answers = at_once(
        lambda: concurrent_client.start_attached_file_upload(
            InstanceId=outpost.instance_id,
            FileName="invoice.pdf",
            FileSizeInBytes=1024,
            FileUseCaseType="ATTACHMENT",
            AssociatedResourceArn=arn,
            ClientToken="one-upload",
        )
    )
    assert len({strip(a)["FileId"] for a in answers}) == 1


def test_delete_instance_once(
    server_and_relay: tuple[ServerProcess, SmtpSink], concurrent_client: Any
) -> None:
    outpost = make_outpost(concurrent_client)
    answers = at_once(
        lambda: concurrent_client.delete_instance(
            InstanceId=outpost.instance_id, ClientToken="one-delete"
        )
    )
    assert all(a["ResponseMetadata"]["HTTPStatusCode"] == 200 for a in answers)


def test_qconnect_creates_once(server_and_relay: tuple[ServerProcess, SmtpSink]) -> None:
    server = server_and_relay[0]
    qconnect = server.client(
        "qconnect", config=Config(max_pool_connections=CALLS, retries={"max_attempts": 1})
    )
    name = f"kb-{uuid.uuid4().hex[:8]}"
    answers = at_once(
        lambda: qconnect.create_knowledge_base(
            name=name, knowledgeBaseType="MESSAGE_TEMPLATES", clientToken="one-kb"
        )
    )
    kb_ids = {a["knowledgeBase"]["knowledgeBaseId"] for a in answers}
    assert len(kb_ids) == 1
    (kb_id,) = kb_ids
    answers = at_once(
        lambda: qconnect.create_message_template(
            knowledgeBaseId=kb_id,
            name="welcome",
            channelSubtype="EMAIL",
            clientToken="one-mt",
            content={"email": {"subject": "Hi", "body": {"plainText": {"content": "Hello"}}}},
        )
    )
    assert len({a["messageTemplate"]["messageTemplateId"] for a in answers}) == 1
    listed = qconnect.list_message_templates(knowledgeBaseId=kb_id)
    assert len(listed["messageTemplateSummaries"]) == 1


@pytest.mark.parametrize("region", ["eu-west-1", "xx-" + "a" * 29])  # the longest taken
def test_a_token_is_its_regions(shared_server: ServerProcess, region: str) -> None:
    """The same token in another region replayed the first region's answer: its knowledge
    base's ARN, and nothing was made where the request asked."""
    token = f"regional-{uuid.uuid4().hex[:8]}"
    made = {}
    for where in ("us-east-1", region):
        client = shared_server.client("qconnect", region=where)
        made[where] = client.create_knowledge_base(
            name="answers", knowledgeBaseType="MESSAGE_TEMPLATES", clientToken=token
        )["knowledgeBase"]
        # A retry in the same region is still the same request.
        again = client.create_knowledge_base(
            name="answers", knowledgeBaseType="MESSAGE_TEMPLATES", clientToken=token
        )["knowledgeBase"]
        assert again["knowledgeBaseId"] == made[where]["knowledgeBaseId"]
    assert made["us-east-1"]["knowledgeBaseId"] != made[region]["knowledgeBaseId"]
    assert f":wisdom:{region}:" in made[region]["knowledgeBaseArn"]
    # And a send, the longest operation name a token is kept under.
    sent = [
        make_outpost(shared_server.client(region=where)).send(ClientToken=token)["ContactId"]
        for where in ("us-east-1", region)
    ]
    assert len(set(sent)) == 2
