"""The email addresses of an instance: the only addresses its outbound email may come from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from connectmail.domain import arns, instances
from connectmail.domain.pagination import decode_token, encode_token
from connectmail.errors import ServiceError, not_found
from connectmail.jsontext import dumps, loads
from connectmail.mail.addresses import checked_address, checked_text
from connectmail.store.tables import Record, email_addresses

# A tag that marks an instance's default outbound address (until queues exist).
DEFAULT_TAG = "connectmail:default-outbound"


def create(
    connection: Connection, instance: Record, params: dict[str, Any], now: float, quota: int
) -> dict[str, Any]:
    address = checked_address(params["EmailAddress"], "EmailAddress")
    instances.hold(connection, instance)
    count = connection.execute(
        select(func.count())
        .select_from(email_addresses)
        .where(email_addresses.c.instance_id == instance.id)
    ).scalar_one()
    if count >= quota:
        raise ServiceError(
            "ServiceQuotaExceededException",
            f"The instance already has {count} email addresses (quota {quota}).",
        )
    taken = connection.execute(
        select(email_addresses.c.id).where(email_addresses.c.address == address.lower())
    ).first()
    if taken is not None:
        raise ServiceError(
            "DuplicateResourceException", f"The email address {address} is already in use."
        )
    address_id = arns.new_id()
    arn = arns.instance_child_arn(instance.arn, "email-address", address_id)
    connection.execute(
        insert(email_addresses).values(
            id=address_id,
            instance_id=instance.id,
            account_id=instance.account_id,
            arn=arn,
            address=address.lower(),
            display_name=_display_name(params.get("DisplayName")),
            description=params.get("Description"),
            tags=dumps(params.get("Tags", {})),
            created_at=now,
            modified_at=now,
        )
    )
    return {"EmailAddressId": address_id, "EmailAddressArn": arn}


def _display_name(name: str | None) -> str | None:
    """The From name of the instance's mail: header text, as a send's DisplayName is."""
    return None if name is None else checked_text(name, "DisplayName")


def require(connection: Connection, instance: Record, identifier: str) -> Record:
    address_id = arns.resource_id(identifier, "email-address")
    row = connection.execute(
        select(email_addresses).where(
            (email_addresses.c.id == address_id) & (email_addresses.c.instance_id == instance.id)
        )
    ).first()
    if row is None or not arns.names(identifier, row.arn):
        raise not_found("Email address", identifier)
    return row


def find(connection: Connection, instance: Record, address: str) -> Record | None:
    return connection.execute(
        select(email_addresses).where(
            (email_addresses.c.address == address.lower())
            & (email_addresses.c.instance_id == instance.id)
        )
    ).first()


def default_outbound(
    connection: Connection, instance: Record, configured: frozenset[str]
) -> Record | None:
    """The address marked default (by configuration or tag), else the first one created."""
    rows = connection.execute(
        select(email_addresses)
        .where(email_addresses.c.instance_id == instance.id)
        .order_by(email_addresses.c.created_at, email_addresses.c.id)
    ).all()
    for row in rows:
        if row.address in configured or DEFAULT_TAG in (loads(row.tags) or {}):
            return row
    return rows[0] if rows else None


def describe(row: Record) -> dict[str, Any]:
    view = metadata(row)
    view["CreateTimestamp"] = _iso(row.created_at)
    view["ModifiedTimestamp"] = _iso(row.modified_at)
    view["Tags"] = loads(row.tags) or None
    return view


def metadata(row: Record) -> dict[str, Any]:
    return {
        "EmailAddressId": row.id,
        "EmailAddressArn": row.arn,
        "EmailAddress": row.address,
        "DisplayName": row.display_name,
        "Description": row.description,
    }


def update_metadata(
    connection: Connection, row: Record, params: dict[str, Any], now: float
) -> dict[str, Any]:
    """Change the address's display name or description; what the request leaves out stays."""
    values: dict[str, Any] = {"modified_at": now}
    if "DisplayName" in params:
        values["display_name"] = _display_name(params["DisplayName"])
    if "Description" in params:
        values["description"] = params["Description"]
    connection.execute(
        update(email_addresses).where(email_addresses.c.id == row.id).values(**values)
    )
    return {"EmailAddressId": row.id, "EmailAddressArn": row.arn}


def remove(connection: Connection, row: Record) -> None:
    connection.execute(delete(email_addresses).where(email_addresses.c.id == row.id))


def search(connection: Connection, instance: Record, params: dict[str, Any]) -> dict[str, Any]:
    """The addresses that match, in the order made; a page starts after the last one shown.

    The token holds that address's (created_at, id), so addresses deleted between pages
    shift no other onto a page already read.
    """
    rows = connection.execute(
        select(email_addresses)
        .where(email_addresses.c.instance_id == instance.id)
        .order_by(email_addresses.c.created_at, email_addresses.c.id)
    ).all()
    criteria = params.get("SearchCriteria")
    tag_filter = (params.get("SearchFilter") or {}).get("TagFilter")
    matching = [
        row
        for row in rows
        if (criteria is None or _matches(row, criteria))
        and (tag_filter is None or _tags_match(loads(row.tags) or {}, tag_filter))
    ]
    following = matching
    if params.get("NextToken"):
        after = tuple(decode_token(params["NextToken"], kinds=(float, str)))
        following = [row for row in matching if (row.created_at, row.id) > after]
    size = params.get("MaxResults", 100)
    page = following[:size]
    more = len(following) > size
    return {
        "EmailAddresses": [metadata(row) for row in page],
        "NextToken": encode_token([page[-1].created_at, page[-1].id]) if more else None,
        "ApproximateTotalCount": len(matching),
    }


_SEARCHABLE = {
    "emailaddress": "address",
    "displayname": "display_name",
    "description": "description",
    "name": "display_name",
}


def _matches(row: Record, criteria: dict[str, Any]) -> bool:
    if "OrConditions" in criteria and not any(_matches(row, c) for c in criteria["OrConditions"]):
        return False
    if "AndConditions" in criteria and not all(_matches(row, c) for c in criteria["AndConditions"]):
        return False
    condition = criteria.get("StringCondition")
    if condition is None:
        return True
    field = _SEARCHABLE.get(str(condition.get("FieldName", "")).lower())
    if field is None:
        raise ServiceError(
            "InvalidParameterException", f"Unsupported search field: {condition.get('FieldName')}"
        )
    value = (getattr(row, field) or "").lower()
    wanted = str(condition.get("Value", "")).lower()
    comparison = condition.get("ComparisonType", "EXACT")
    if comparison == "CONTAINS":
        return wanted in value
    if comparison == "STARTS_WITH":
        return value.startswith(wanted)
    return value == wanted


def _tags_match(tags: dict[str, str], tag_filter: dict[str, Any]) -> bool:
    def holds(condition: dict[str, Any]) -> bool:
        key, value = condition.get("TagKey"), condition.get("TagValue")
        return key in tags and (value is None or tags[key] == value)

    if "TagCondition" in tag_filter and not holds(tag_filter["TagCondition"]):
        return False
    if "AndConditions" in tag_filter and not all(holds(c) for c in tag_filter["AndConditions"]):
        return False
    return not (
        "OrConditions" in tag_filter
        and not any(all(holds(c) for c in group) for group in tag_filter["OrConditions"])
    )


def _iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
