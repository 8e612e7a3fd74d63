"""A store at chosen moments, for tests of the domain without a server: an instance with one
unsent contact."""

from __future__ import annotations

from sqlalchemy import Connection

from connectmail.domain import contacts, instances
from connectmail.domain.contacts import ExpiryPolicy

ACCOUNT, REGION, NOW = "123456789012", "us-east-1", 1_800_000_000.0


def make_contact(connection: Connection) -> tuple[str, str]:
    """An instance and an unsent FLOW email contact that expires at NOW + 60 minutes."""
    created = instances.create(
        connection,
        ACCOUNT,
        REGION,
        {
            "IdentityManagementType": "SAML",
            "InstanceAlias": "x",
            "InboundCallsEnabled": True,
            "OutboundCallsEnabled": True,
        },
        NOW,
    )
    instance = instances.require(connection, ACCOUNT, REGION, created["Id"])
    contact = contacts.create(
        connection,
        instance,
        {"Channel": "EMAIL", "InitiationMethod": "FLOW"},
        NOW,
        ExpiryPolicy(default_minutes=60),
    )
    return created["Id"], contact["ContactId"]
