"""Amazon Connect instances: the container every email address and contact belongs to.

Instances are regional, as in AWS: one is found only from its own account and region.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy import delete as delete_rows

from connectmail.domain import arns
from connectmail.domain.pagination import Page, page_after
from connectmail.errors import ServiceError, invalid_request
from connectmail.jsontext import dumps, loads
from connectmail.store.tables import Record, email_addresses, instances

ACTIVE = "ACTIVE"
DELETED = "DELETED"


def create(
    connection: Connection, account_id: str, region: str, params: dict[str, Any], now: float
) -> dict[str, Any]:
    kind = params["IdentityManagementType"]
    alias = params.get("InstanceAlias")
    directory_id = params.get("DirectoryId")
    if kind == "EXISTING_DIRECTORY" and not directory_id:
        raise invalid_request(
            "DirectoryId is required when IdentityManagementType is EXISTING_DIRECTORY."
        )
    if kind in ("CONNECT_MANAGED", "SAML") and not alias:
        raise invalid_request(f"InstanceAlias is required when IdentityManagementType is {kind}.")
    if alias is not None:
        taken = connection.execute(
            select(instances.c.id).where(
                (instances.c.account_id == account_id)
                & (instances.c.region == region)
                # Case aside, two aliases are one host name (ALIAS.my.connect.aws).
                & (func.lower(instances.c.alias) == alias.lower())
                & (instances.c.status != DELETED)
            )
        ).first()
        if taken is not None:
            raise invalid_request(f"An instance with alias {alias} already exists.")
    instance_id = arns.new_id()
    arn = arns.instance_arn(region, account_id, instance_id)
    connection.execute(
        insert(instances).values(
            id=instance_id,
            account_id=account_id,
            region=region,
            arn=arn,
            alias=alias,
            identity_management_type=kind,
            directory_id=directory_id,
            inbound_calls_enabled=params["InboundCallsEnabled"],
            outbound_calls_enabled=params["OutboundCallsEnabled"],
            status=ACTIVE,
            tags=dumps(params.get("Tags", {})),
            created_at=now,
        )
    )
    return {"Id": instance_id, "Arn": arn}


def require(
    connection: Connection,
    account_id: str,
    region: str,
    identifier: str,
    *,
    missing: str = "ResourceNotFoundException",
) -> Record:
    """The live instance named by ID or ARN in this account and region, or the `missing` error
    (ResourceNotFound, unless the operation models none)."""
    instance_id = arns.resource_id(identifier, "instance")
    row = connection.execute(
        select(instances).where(
            (instances.c.id == instance_id)
            & (instances.c.account_id == account_id)
            & (instances.c.region == region)
            & (instances.c.status != DELETED)
        )
    ).first()
    if row is None or not arns.names(identifier, row.arn):
        raise ServiceError(missing, f"Instance not found: {identifier}")
    return row


def hold(connection: Connection, instance: Record) -> None:
    """Take the instance's row until the transaction ends (FOR NO KEY UPDATE on PostgreSQL;
    SQLite's write transaction already keeps every other writer out), so that a count of its
    contacts or addresses stays true until what it decides commits: two requests cannot both
    count 999 and both insert the thousandth. Inserting rows that refer to the instance is
    not held up by it."""
    connection.execute(
        select(instances.c.id).where(instances.c.id == instance.id).with_for_update(key_share=True)
    )


def describe(row: Record) -> dict[str, Any]:
    summary = _summary(row)
    summary["Tags"] = loads(row.tags) or None
    return summary


def _summary(row: Record) -> dict[str, Any]:
    return {
        "Id": row.id,
        "Arn": row.arn,
        "IdentityManagementType": row.identity_management_type,
        "InstanceAlias": row.alias,
        "CreatedTime": datetime.fromtimestamp(row.created_at, UTC),
        "ServiceRole": f"arn:aws:iam::{row.account_id}:role/aws-service-role/"
        "connect.amazonaws.com/AWSServiceRoleForAmazonConnect",
        "InstanceStatus": row.status,
        "InboundCallsEnabled": row.inbound_calls_enabled,
        "OutboundCallsEnabled": row.outbound_calls_enabled,
        "InstanceAccessUrl": f"https://{row.alias or row.id}.my.connect.aws",
    }


def list_page(
    connection: Connection, account_id: str, region: str, max_results: int, next_token: str | None
) -> Page:
    query = select(instances).where(
        (instances.c.account_id == account_id)
        & (instances.c.region == region)
        & (instances.c.status != DELETED)
    )
    return page_after(
        connection, query, instances.c.created_at, instances.c.id, max_results, next_token, _summary
    )


def delete(connection: Connection, row: Record, now: float) -> None:
    # Soft delete: contacts already accepted keep their mail on its way. Its email addresses
    # go: an address belongs to one instance, and another instance may now claim it.
    connection.execute(update(instances).where(instances.c.id == row.id).values(status=DELETED))
    connection.execute(delete_rows(email_addresses).where(email_addresses.c.instance_id == row.id))
