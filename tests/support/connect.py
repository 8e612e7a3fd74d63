"""Short ways to make what most tests need: an instance, a sender address, a contact."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

# Where a send is written on PostgreSQL: with FromEmailAddress the event loop's batch, without
# it (the instance's default sender) a writer thread's. `sent_from` gives the parameters.
SEND_PATHS = pytest.mark.parametrize("batched", [True, False], ids=["batched", "default-sender"])


@dataclass
class Outpost:
    """An instance with one email address to send from."""

    client: Any
    instance_id: str
    sender: str
    sender_id: str

    def contact(self, method: str = "OUTBOUND", **extra: Any) -> str:
        params: dict[str, Any] = {
            "InstanceId": self.instance_id,
            "Channel": "EMAIL",
            "InitiationMethod": method,
        }
        if method in ("OUTBOUND", "AGENT_REPLY"):
            params["UserInfo"] = {"UserId": "agent-1"}
        params.update(extra)
        return str(self.client.create_contact(**params)["ContactId"])

    def describe(self, contact_id: str) -> dict[str, Any]:
        """DescribeContact's Contact."""
        contact: dict[str, Any] = self.client.describe_contact(
            InstanceId=self.instance_id, ContactId=contact_id
        )["Contact"]
        return contact

    def sent_from(self, batched: bool = True) -> dict[str, Any]:
        """FromEmailAddress naming the outpost's sender, or nothing (the default sender)."""
        return {"FromEmailAddress": {"EmailAddress": self.sender}} if batched else {}

    def send(
        self,
        contact_id: str | None = None,
        *,
        subject: str = "Hello",
        body: str = "Hello there",
        content_type: str = "text/plain",
        to: str = "customer@example.org",
        **extra: Any,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "InstanceId": self.instance_id,
            "ContactId": contact_id or self.contact(),
            "DestinationEmailAddress": {"EmailAddress": to},
            "EmailMessage": {
                "MessageSourceType": "RAW",
                "RawMessage": {"Subject": subject, "Body": body, "ContentType": content_type},
            },
        }
        params.update(extra)
        result: dict[str, Any] = self.client.start_outbound_email_contact(**params)
        return result

    def receive(self, subject: str = "Hi", **extra: Any) -> str:
        """A customer's email to the outpost's address (StartEmailContact); its contact id."""
        started = self.client.start_email_contact(
            InstanceId=self.instance_id,
            FromEmailAddress={"EmailAddress": "customer@example.org"},
            DestinationEmailAddress=self.sender,
            EmailMessage={
                "MessageSourceType": "RAW",
                "RawMessage": {"Subject": subject, "Body": "Hello", "ContentType": "text/plain"},
            },
            **extra,
        )
        return str(started["ContactId"])


def unique_address(prefix: str = "support") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def make_outpost(client: Any, *, display_name: str | None = "Example Support") -> Outpost:
    instance = client.create_instance(
        IdentityManagementType="CONNECT_MANAGED",
        InstanceAlias=f"i-{uuid.uuid4().hex[:12]}",
        InboundCallsEnabled=True,
        OutboundCallsEnabled=True,
    )
    sender = unique_address()
    params: dict[str, Any] = {"InstanceId": instance["Id"], "EmailAddress": sender}
    if display_name:
        params["DisplayName"] = display_name
    created = client.create_email_address(**params)
    return Outpost(client, instance["Id"], sender, created["EmailAddressId"])
