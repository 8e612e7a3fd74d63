"""A contact after it is made: UpdateContact, TagContact and UntagContact, seen through
DescribeContact and ListContactReferences as an Amazon Connect user would."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.connect import SEND_PATHS, Outpost, make_outpost
from tests.support.server import ServerProcess

EXPIRY = "connect:ContactExpiry"


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def ids(outpost: Outpost, contact: str) -> dict[str, str]:
    return {"InstanceId": outpost.instance_id, "ContactId": contact}


def test_name_description_references_and_attributes_are_updated(
    shared_server: ServerProcess,
) -> None:
    outpost = make_outpost(shared_server.client())
    contact = outpost.contact(
        Name="Refund",
        Description="Customer asks for a refund",
        References={"case": {"Value": "C-1", "Type": "STRING"}},
        SegmentAttributes={"team": {"ValueString": "billing"}},
    )
    before = outpost.describe(contact)

    outpost.client.update_contact(
        **ids(outpost, contact),
        Name="Refund (urgent)",
        References={
            "case": {"Value": "C-2", "Type": "STRING"},
            "order": {"Value": "https://shop.example/o/42", "Type": "URL"},
        },
        SegmentAttributes={"priority": {"ValueString": "high"}},
    )
    after = outpost.describe(contact)
    assert after["Name"] == "Refund (urgent)"
    assert after["Description"] == "Customer asks for a refund"  # not given: kept
    assert after["SegmentAttributes"]["team"] == {"ValueString": "billing"}
    assert after["SegmentAttributes"]["priority"] == {"ValueString": "high"}
    assert after["LastUpdateTimestamp"] > before["LastUpdateTimestamp"]
    references = outpost.client.list_contact_references(
        **ids(outpost, contact), ReferenceTypes=["STRING", "URL"]
    )["ReferenceSummaryList"]
    assert references == [
        {"String": {"Name": "case", "Value": "C-2"}},
        {"Url": {"Name": "order", "Value": "https://shop.example/o/42"}},
    ]


def test_a_sent_contact_can_still_be_updated(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    contact = outpost.contact()
    outpost.send(contact)
    outpost.client.update_contact(**ids(outpost, contact), Description="Answered the refund")
    assert outpost.describe(contact)["Description"] == "Answered the refund"


def test_cc_recipients_of_an_unsent_email_are_set_and_cleared(
    shared_server: ServerProcess,
) -> None:
    outpost = make_outpost(shared_server.client())
    contact = outpost.contact()
    outpost.client.update_contact(
        **ids(outpost, contact),
        AdditionalRecipients={
            "CcEmailAddresses": [
                {"EmailAddress": "boss@example.org", "DisplayName": "The Boss"},
                {"EmailAddress": "audit@example.org"},
            ]
        },
    )
    assert outpost.describe(contact)["AdditionalEmailRecipients"] == {
        "CcList": [
            {"Address": "boss@example.org", "DisplayName": "The Boss"},
            {"Address": "audit@example.org"},
        ]
    }
    outpost.client.update_contact(
        **ids(outpost, contact), AdditionalRecipients={"CcEmailAddresses": []}
    )
    assert "AdditionalEmailRecipients" not in outpost.describe(contact)


def test_the_recipients_of_a_sent_or_received_email_stay(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    sent = outpost.contact()
    outpost.send(
        sent, AdditionalRecipients={"CcEmailAddresses": [{"EmailAddress": "cc@example.org"}]}
    )
    received = outpost.receive()
    for contact in (sent, received):
        before = outpost.describe(contact)
        with pytest.raises(ClientError) as exc:
            outpost.client.update_contact(
                **ids(outpost, contact),
                Name="changed",
                AdditionalRecipients={"CcEmailAddresses": [{"EmailAddress": "x@example.org"}]},
            )
        assert code(exc) == "InvalidRequestException"
        assert "recipients are those it was sent to" in str(exc.value)
        after = outpost.describe(contact)  # the name did not change either
        for field in ("Name", "AdditionalEmailRecipients", "LastUpdateTimestamp"):
            assert after.get(field) == before.get(field)


def test_contact_expiry_is_updated_and_the_contact_still_sends(
    shared_server: ServerProcess,
) -> None:
    # When it then expires is tested at chosen moments in tests/domain/test_expiry.py.
    outpost = make_outpost(shared_server.client())
    contact = outpost.contact(ExpiryDurationInMinutes=5)
    expiry = {"ValueMap": {"ExpiryDuration": {"ValueInteger": 60 * 24}}}
    outpost.client.update_contact(
        **ids(outpost, contact), SegmentAttributes={"connect:ContactExpiry": expiry}
    )
    assert outpost.describe(contact)["SegmentAttributes"]["connect:ContactExpiry"] == expiry
    outpost.send(contact)
    assert "DisconnectReason" not in outpost.describe(contact)  # sent, not expired


def test_an_expiry_shortened_to_the_past_is_refused_as_out_of_range(
    shared_server: ServerProcess,
) -> None:
    outpost = make_outpost(shared_server.client())
    contact = outpost.contact()
    with pytest.raises(ClientError) as exc:
        outpost.client.update_contact(
            **ids(outpost, contact),
            SegmentAttributes={
                "connect:ContactExpiry": {"ValueMap": {"ExpiryDuration": {"ValueInteger": 0}}}
            },
        )
    assert code(exc) == "InvalidRequestException"


def test_an_ended_contacts_expiry_cannot_be_changed(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    contact = outpost.contact()
    outpost.client.stop_contact(**ids(outpost, contact))
    with pytest.raises(ClientError) as exc:
        outpost.client.update_contact(
            **ids(outpost, contact),
            SegmentAttributes={
                "connect:ContactExpiry": {"ValueMap": {"ExpiryDuration": {"ValueInteger": 60}}}
            },
        )
    assert code(exc) == "InvalidRequestException"
    assert "no longer active" in str(exc.value)


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({}, "at least one field"),
        ({"SegmentAttributes": {"connect:Subtype": {"ValueString": "x"}}}, "set by the system"),
        ({"SegmentAttributes": {"team name": {"ValueString": "x"}}}, "alphanumeric"),
        ({"SegmentAttributes": {"team": {"ValueInteger": 3}}}, "must be a string"),
        # The expiry is a ValueMap of ExpiryDuration minutes; anything else is no expiry.
        ({"SegmentAttributes": {EXPIRY: {"ValueString": "60"}}}, "ExpiryDuration"),
        ({"SegmentAttributes": {EXPIRY: {"ValueMap": {}}}}, "ExpiryDuration"),
        (
            {"SegmentAttributes": {EXPIRY: {"ValueMap": {"Duration": {"ValueInteger": 60}}}}},
            "ExpiryDuration",
        ),
        ({"References": {"mail": {"Value": "a@example.org", "Type": "EMAIL"}}}, "type EMAIL"),
        ({"References": {"big": {"Value": "x" * 4000, "Type": "STRING"}}}, "4096"),
        ({"QueueInfo": {"Id": "q-1"}}, "external audio"),
        ({"UserInfo": {"UserId": "agent-2"}}, "external audio"),
        (
            {"CustomerEndpoint": {"Type": "EMAIL_ADDRESS", "Address": "x@example.org"}},
            "external audio",
        ),
    ],
)
def test_what_cannot_be_updated_is_refused_and_nothing_changes(
    shared_server: ServerProcess, update: dict[str, Any], message: str
) -> None:
    outpost = make_outpost(shared_server.client())
    contact = outpost.contact(
        Name="kept", References={"case": {"Value": "x" * 90, "Type": "STRING"}}
    )
    before = outpost.describe(contact)
    with pytest.raises(ClientError) as exc:
        # Name rides along: a refused update changes nothing it names.
        outpost.client.update_contact(
            **ids(outpost, contact), **update, **({"Name": "new"} if update else {})
        )
    assert code(exc) == "InvalidRequestException"
    assert message in str(exc.value)
    assert outpost.describe(contact) == before


def test_an_external_audio_contact_takes_its_queue_agent_and_endpoints(
    shared_server: ServerProcess,
) -> None:
    outpost = make_outpost(shared_server.client())
    voice = outpost.client.create_contact(
        InstanceId=outpost.instance_id, Channel="VOICE", InitiationMethod="TRANSFER"
    )["ContactId"]
    outpost.client.update_contact(
        **ids(outpost, voice),
        QueueInfo={"Id": "queue-7"},
        UserInfo={"UserId": "agent-9"},
        CustomerEndpoint={"Type": "TELEPHONE_NUMBER", "Address": "+15550100"},
        SystemEndpoint={"Type": "TELEPHONE_NUMBER", "Address": "+15550199"},
    )
    contact = outpost.describe(voice)
    assert contact["QueueInfo"] == {"Id": "queue-7"}
    found = outpost.client.search_contacts(
        InstanceId=outpost.instance_id,
        TimeRange={
            "Type": "INITIATION_TIMESTAMP",
            "StartTime": contact["InitiationTimestamp"] - timedelta(minutes=1),
            "EndTime": contact["InitiationTimestamp"] + timedelta(minutes=1),
        },
        SearchCriteria={"QueueIds": ["queue-7", "queue-8"]},
    )["Contacts"]
    assert [(c["Id"], c["QueueInfo"]) for c in found] == [(voice, {"Id": "queue-7"})]
    assert contact["AgentInfo"] == {"Id": "agent-9"}
    assert contact["CustomerEndpoint"] == {"Type": "TELEPHONE_NUMBER", "Address": "+15550100"}
    assert contact["SystemEndpoint"] == {"Type": "TELEPHONE_NUMBER", "Address": "+15550199"}


def test_a_contact_that_is_not_there(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    other = make_outpost(shared_server.client()).contact()  # another instance's
    for contact in ("no-such-contact", other):
        for call, extra in (
            (outpost.client.update_contact, {"Name": "x"}),
            (outpost.client.tag_contact, {"Tags": {"team": "x"}}),
            (outpost.client.untag_contact, {"TagKeys": ["team"]}),
        ):
            with pytest.raises(ClientError) as exc:
                call(**ids(outpost, contact), **extra)
            assert code(exc) == "ResourceNotFoundException"


def test_tags_are_added_replaced_and_removed(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    contact = outpost.contact()
    outpost.send(contact)  # completed contacts are tagged too: billing comes after
    before = outpost.describe(contact)
    assert "Tags" not in before

    outpost.client.tag_contact(
        **ids(outpost, contact), Tags={"department": "sales", "cost-center": "cc-1"}
    )
    outpost.client.tag_contact(**ids(outpost, contact), Tags={"department": "support"})
    tagged = outpost.describe(contact)
    assert tagged["Tags"] == {"department": "support", "cost-center": "cc-1"}
    assert tagged["LastUpdateTimestamp"] == before["LastUpdateTimestamp"]

    # The keys travel in the query string (TagKeys=a&TagKeys=b); one not there is no error.
    outpost.client.untag_contact(**ids(outpost, contact), TagKeys=["cost-center", "absent"])
    assert outpost.describe(contact)["Tags"] == {"department": "support"}
    outpost.client.untag_contact(**ids(outpost, contact), TagKeys=["department"])
    assert "Tags" not in outpost.describe(contact)


def test_a_contact_keeps_at_most_six_tags(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    contact = outpost.contact()
    six = {f"tag-{n}": str(n) for n in range(6)}
    outpost.client.tag_contact(**ids(outpost, contact), Tags=six)
    outpost.client.tag_contact(**ids(outpost, contact), Tags={"tag-0": "again"})  # replaces
    with pytest.raises(ClientError) as exc:
        outpost.client.tag_contact(**ids(outpost, contact), Tags={"seventh": "x"})
    assert code(exc) == "InvalidParameterException"
    assert outpost.describe(contact)["Tags"] == {**six, "tag-0": "again"}


def test_system_tags_are_refused_by_the_model(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    contact = outpost.contact()
    client = shared_server.client(
        config=Config(parameter_validation=False, retries={"max_attempts": 1})
    )
    with pytest.raises(ClientError) as exc:
        client.tag_contact(**ids(outpost, contact), Tags={"aws:connect:instanceId": "x"})
    assert code(exc) == "InvalidRequestException"  # the first validation error it lists
    assert "Tags" not in outpost.describe(contact)


def test_an_update_after_a_restart_is_still_there(start_server: Any, database_url: str) -> None:
    server = start_server("--database-url", database_url)
    outpost = make_outpost(server.client())
    contact = outpost.contact()
    outpost.client.update_contact(**ids(outpost, contact), Name="kept over a restart")
    outpost.client.tag_contact(**ids(outpost, contact), Tags={"team": "a"})
    server = server.restart()
    outpost.client = server.client()
    found = outpost.describe(contact)
    assert found["Name"] == "kept over a restart"
    assert found["Tags"] == {"team": "a"}
    assert datetime.now(UTC) - found["LastUpdateTimestamp"] < timedelta(hours=1)


@SEND_PATHS
def test_a_send_naming_no_cc_goes_to_the_cc_the_contact_was_given(
    shared_server: ServerProcess, batched: bool
) -> None:
    outpost = make_outpost(shared_server.client())
    drafted = {"CcEmailAddresses": [{"EmailAddress": "boss@example.org", "DisplayName": "Boss"}]}
    given, overridden = outpost.contact(), outpost.contact()
    for contact in (given, overridden):
        outpost.client.update_contact(**ids(outpost, contact), AdditionalRecipients=drafted)

    outpost.send(given, **outpost.sent_from(batched))
    outpost.send(
        overridden,
        AdditionalRecipients={"CcEmailAddresses": [{"EmailAddress": "audit@example.org"}]},
        **outpost.sent_from(batched),
    )
    assert captured(shared_server, given)["Recipients"] == [
        "customer@example.org",
        "boss@example.org",
    ]
    assert outpost.describe(given)["AdditionalEmailRecipients"] == {
        "CcList": [{"Address": "boss@example.org", "DisplayName": "Boss"}]
    }
    # A send that names CC recipients goes to those alone.
    assert captured(shared_server, overridden)["Recipients"] == [
        "customer@example.org",
        "audit@example.org",
    ]


def captured(server: ServerProcess, contact_id: str) -> dict[str, Any]:
    """The contact's email in the captured mailbox, once delivered there."""
    deadline = time.monotonic() + 15
    while not (found := server.mailbox(contact_id=contact_id)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert found, f"no captured mail for contact {contact_id}"
    return found[0]


def test_no_more_cc_recipients_than_a_send_can_take(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    contact = outpost.contact()
    fifty = [{"EmailAddress": f"cc-{n}@example.org"} for n in range(50)]
    # The model takes 50; with the destination a send would have 51 recipients.
    with pytest.raises(ClientError) as exc:
        outpost.client.update_contact(
            **ids(outpost, contact), AdditionalRecipients={"CcEmailAddresses": fifty}
        )
    assert code(exc) == "InvalidRequestException"
    assert "AdditionalEmailRecipients" not in outpost.describe(contact)
    outpost.client.update_contact(
        **ids(outpost, contact), AdditionalRecipients={"CcEmailAddresses": fifty[:49]}
    )
    outpost.send(contact)
    assert len(captured(shared_server, contact)["Recipients"]) == 50
