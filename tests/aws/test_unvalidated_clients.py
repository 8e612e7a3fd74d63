"""Clients that skip validation (`parameter_validation=False`) get the server's instead.

Every bad value is refused with the operation's validation error (InvalidRequestException for
Amazon Connect), a 400, and a message that names the member by its path.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.connect import Outpost, make_outpost
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def client(shared_server: ServerProcess) -> Any:
    return shared_server.client(
        config=Config(parameter_validation=False, retries={"max_attempts": 1})
    )


@pytest.fixture(scope="module")
def outpost(shared_server: ServerProcess) -> Outpost:
    return make_outpost(shared_server.client())


def refused(call: Any, **params: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response
    assert error["Error"]["Code"] == "InvalidRequestException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(error["Error"]["Message"])


def instance_params(**changes: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "IdentityManagementType": "CONNECT_MANAGED",
        "InstanceAlias": f"u{uuid.uuid4().hex[:12]}",
        "InboundCallsEnabled": True,
        "OutboundCallsEnabled": True,
    }
    params.update(changes)
    return {k: v for k, v in params.items() if v is not None}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"IdentityManagementType": None},
            "Value null at 'IdentityManagementType' failed to satisfy constraint: "
            "Member must not be null",
        ),
        (
            {"IdentityManagementType": "LDAP"},
            "Value 'LDAP' at 'IdentityManagementType' failed to satisfy constraint: Member must "
            "satisfy enum value set: [SAML, CONNECT_MANAGED, EXISTING_DIRECTORY]",
        ),
        (
            {"InstanceAlias": "a" * 46},
            "Value at 'InstanceAlias' failed to satisfy constraint: "
            "Member must have length less than or equal to 45",
        ),
        (
            {"InstanceAlias": "bad alias!"},
            "Value at 'InstanceAlias' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern",
        ),
        ({"InstanceAlias": "d-reserved"}, "Value at 'InstanceAlias'"),
        ({"InstanceAlias": "alias\n"}, "Value at 'InstanceAlias'"),
        (
            {"InstanceAlias": 12345},
            "Value at 'InstanceAlias' failed to satisfy constraint: Member must be of type string",
        ),
        (
            {"InboundCallsEnabled": "true"},
            "Value at 'InboundCallsEnabled' failed to satisfy constraint: "
            "Member must be of type boolean",
        ),
        ({"Tags": {"aws:reserved": "v"}}, "Value at 'Tags.key'"),
        ({"Tags": {"Team": "v" * 257}}, "Value at 'Tags.Team'"),
        ({"Tags": {}}, "Value at 'Tags' failed to satisfy constraint: Member must have size"),
        ({"ClientToken": "t" * 501}, "Value at 'ClientToken'"),
        ({"DirectoryId": "d-123"}, "2 validation errors detected: Value at 'DirectoryId'"),
    ],
)
def test_create_instance(
    client: Any, shared_server: ServerProcess, changes: dict[str, Any], expected: str
) -> None:
    before = len(shared_server.client().list_instances(MaxResults=10)["InstanceSummaryList"])
    assert expected in refused(client.create_instance, **instance_params(**changes))
    after = len(shared_server.client().list_instances(MaxResults=10)["InstanceSummaryList"])
    assert after == before


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"Channel": "FAX"}, "Value 'FAX' at 'Channel' failed to satisfy constraint"),
        ({"InitiationMethod": None}, "Value null at 'InitiationMethod'"),
        ({"InstanceId": "i" * 101}, "Value at 'InstanceId'"),
        (
            {"ExpiryDurationInMinutes": "60"},
            "Value at 'ExpiryDurationInMinutes' failed to "
            "satisfy constraint: Member must be of type integer",
        ),
        (
            {"ExpiryDurationInMinutes": 2**31},
            "Value at 'ExpiryDurationInMinutes' failed to "
            "satisfy constraint: Member must have value less than or equal to 2147483647",
        ),
        ({"ExpiryDurationInMinutes": 1.5}, "Value at 'ExpiryDurationInMinutes'"),
        ({"Name": "n" * 1025}, "Value at 'Name'"),
        (
            {"Description": "d\x00"},
            "Value at 'Description' failed to satisfy constraint: "
            "Member must not contain NUL characters",
        ),
        (
            {"References": {"link": {"Value": "v", "Type": "BOGUS"}}},
            "Value 'BOGUS' at 'References.link.Type' failed to satisfy constraint",
        ),
        ({"References": {"link": {"Value": "v"}}}, "Value null at 'References.link.Type'"),
        (
            {"Attributes": {"k": 5}},
            "Value at 'Attributes.k' failed to satisfy constraint: Member must be of type string",
        ),
        ({"UserInfo": {"UserId": ""}}, "Value at 'UserInfo.UserId'"),
        ({"RelatedContactId": "r" * 257}, "Value at 'RelatedContactId'"),
        (
            {"SegmentAttributes": {"connect:ContactExpiry": {"ValueInteger": "1"}}},
            "Value at 'SegmentAttributes.connect:ContactExpiry.ValueInteger'",
        ),
        ({"InitiateAs": "LATER"}, "Value 'LATER' at 'InitiateAs'"),
    ],
)
def test_create_contact(
    client: Any, outpost: Outpost, changes: dict[str, Any], expected: str
) -> None:
    params: dict[str, Any] = {
        "InstanceId": outpost.instance_id,
        "Channel": "EMAIL",
        "InitiationMethod": "FLOW",
    }
    params.update(changes)
    assert expected in refused(
        client.create_contact, **{k: v for k, v in params.items() if v is not None}
    )


def email(**changes: Any) -> dict[str, Any]:
    raw = {"Subject": "Hello", "Body": "Hi", "ContentType": "text/plain"}
    raw.update(changes)
    return {"MessageSourceType": "RAW", "RawMessage": raw}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"DestinationEmailAddress": {"EmailAddress": "not-an-address"}},
            "Value at 'DestinationEmailAddress.EmailAddress' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern",
        ),
        ({"DestinationEmailAddress": {}}, "Value null at 'DestinationEmailAddress.EmailAddress'"),
        ({"EmailMessage": None}, "Value null at 'EmailMessage'"),
        (
            {"EmailMessage": {"MessageSourceType": "HTML"}},
            "Value 'HTML' at 'EmailMessage.MessageSourceType' failed to satisfy constraint",
        ),
        (
            {"EmailMessage": email(Subject="")},
            "Value at 'EmailMessage.RawMessage.Subject' "
            "failed to satisfy constraint: Member must have length greater than or equal to 1",
        ),
        ({"EmailMessage": email(Subject="s" * 999)}, "Value at 'EmailMessage.RawMessage.Subject'"),
        (
            {"EmailMessage": email(Body=42)},
            "Value at 'EmailMessage.RawMessage.Body' failed to "
            "satisfy constraint: Member must be of type string",
        ),
        (
            {"EmailMessage": email(ContentType=None)},
            "Value null at 'EmailMessage.RawMessage.ContentType'",
        ),
        (
            {"FromEmailAddress": {"EmailAddress": "a@example.com", "DisplayName": "n" * 257}},
            "Value at 'FromEmailAddress.DisplayName'",
        ),
        (
            {"AdditionalRecipients": {"CcEmailAddresses": []}},
            "Value at 'AdditionalRecipients.CcEmailAddresses' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1",
        ),
        (
            {
                "AdditionalRecipients": {
                    "CcEmailAddresses": [{"EmailAddress": f"c{n}@example.org"} for n in range(51)]
                }
            },
            "Value at 'AdditionalRecipients.CcEmailAddresses' failed to satisfy constraint: "
            "Member must have length less than or equal to 50",
        ),
        (
            {
                "AdditionalRecipients": {
                    "CcEmailAddresses": [{"EmailAddress": "ok@example.org"}, {"EmailAddress": 7}]
                }
            },
            "Value at 'AdditionalRecipients.CcEmailAddresses.2.EmailAddress' failed to satisfy "
            "constraint: Member must be of type string",
        ),
        ({"ClientToken": "t" * 501}, "Value at 'ClientToken'"),
        ({"ContactId": ""}, "Value at 'ContactId'"),
    ],
)
def test_start_outbound_email_contact(
    client: Any,
    shared_server: ServerProcess,
    outpost: Outpost,
    changes: dict[str, Any],
    expected: str,
) -> None:
    contact_id = outpost.contact()
    params: dict[str, Any] = {
        "InstanceId": outpost.instance_id,
        "ContactId": contact_id,
        "DestinationEmailAddress": {"EmailAddress": "jane@example.org"},
        "EmailMessage": email(),
    }
    params.update(changes)
    message = refused(
        client.start_outbound_email_contact, **{k: v for k, v in params.items() if v is not None}
    )
    assert expected in message
    # Nothing was sent: the contact can still be sent, once.
    contact = shared_server.client().describe_contact(
        InstanceId=outpost.instance_id, ContactId=contact_id
    )["Contact"]
    assert "DisconnectTimestamp" not in contact


def test_several_problems_are_reported_together(client: Any, outpost: Outpost) -> None:
    message = refused(
        client.create_contact,
        InstanceId=outpost.instance_id,
        Channel="FAX",
        InitiationMethod="SMOKE_SIGNAL",
        Name="n" * 1025,
    )
    assert message.startswith("3 validation errors detected: ")
    for member in ("'Channel'", "'InitiationMethod'", "'Name'"):
        assert member in message
