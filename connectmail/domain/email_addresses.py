"""The email addresses of an instance: the only addresses its outbound email may come from,
and the aliases among them (an address whose mail is forwarded to another, its primary)."""

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


def describe(connection: Connection, row: Record) -> dict[str, Any]:
    view = metadata(row, _alias_id(connection, row.id))
    view["CreateTimestamp"] = _iso(row.created_at)
    view["ModifiedTimestamp"] = _iso(row.modified_at)
    view["Tags"] = loads(row.tags) or None
    return view


def metadata(row: Record, alias: str | None) -> dict[str, Any]:
    """The address as searches show it; `alias` is the id of the address forwarding to it.

    AliasConfigurations are "which email addresses forward to this primary address": an
    alias's own view has none."""
    return {
        "EmailAddressId": row.id,
        "EmailAddressArn": row.arn,
        "EmailAddress": row.address,
        "DisplayName": row.display_name,
        "Description": row.description,
        "AliasConfigurations": [{"EmailAddressId": alias}] if alias else None,
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


def remove(connection: Connection, instance: Record, row: Record, now: float) -> None:
    """Delete the address, and with it the alias relationship it is part of (either end)."""
    instances.hold(connection, instance)  # no alias is associated with it meanwhile
    # Read again under the hold: an association may have committed since `row` was read.
    primary = connection.execute(
        select(email_addresses.c.alias_of).where(email_addresses.c.id == row.id)
    ).scalar()
    if primary is not None:
        _modified(connection, primary, now)  # the primary's AliasConfigurations change
    connection.execute(
        update(email_addresses).where(email_addresses.c.alias_of == row.id).values(alias_of=None)
    )
    connection.execute(delete(email_addresses).where(email_addresses.c.id == row.id))


def associate_alias(
    connection: Connection, instance: Record, primary_id: str, alias_id: str, now: float
) -> None:
    """Make `alias_id` forward to `primary_id`: one alias an address, no chains, one instance.

    The instance's row is held first, so two associations cannot each see the other's
    addresses free and together make a chain."""
    instances.hold(connection, instance)
    primary = require(connection, instance, primary_id)
    alias = require(connection, instance, alias_id)
    if alias.id == primary.id:
        raise ServiceError(
            "InvalidParameterException", f"Email address {primary.id} cannot be its own alias."
        )
    if primary.alias_of is not None:
        raise _conflict(
            f"Email address {primary.id} is an alias of {primary.alias_of}: an alias cannot "
            "have an alias of its own."
        )
    if alias.alias_of is not None:
        raise _conflict(f"Email address {alias.id} is already an alias (of {alias.alias_of}).")
    existing = _alias_id(connection, primary.id)
    if existing is not None:
        raise _conflict(
            f"Email address {primary.id} already has an alias ({existing}); an email address "
            "can have at most one."
        )
    own = _alias_id(connection, alias.id)
    if own is not None:
        raise _conflict(
            f"Email address {alias.id} has an alias of its own ({own}): aliases cannot be chained."
        )
    connection.execute(
        update(email_addresses).where(email_addresses.c.id == alias.id).values(alias_of=primary.id)
    )
    _modified(connection, primary.id, now)


def disassociate_alias(
    connection: Connection, instance: Record, primary_id: str, alias_id: str, now: float
) -> None:
    """End the forwarding from `alias_id` to `primary_id`; both addresses stay."""
    instances.hold(connection, instance)
    primary = require(connection, instance, primary_id)
    alias = require(connection, instance, alias_id)
    if alias.alias_of != primary.id:
        # "The alias association must currently exist between the primary email address and
        # the specified alias email address."
        raise not_found("Alias association", f"{alias.id} is not an alias of {primary.id}")
    connection.execute(
        update(email_addresses).where(email_addresses.c.id == alias.id).values(alias_of=None)
    )
    _modified(connection, primary.id, now)


def _alias_id(connection: Connection, primary_id: str) -> str | None:
    found = connection.execute(
        select(email_addresses.c.id).where(email_addresses.c.alias_of == primary_id)
    ).scalar()
    return None if found is None else str(found)


def _modified(connection: Connection, address_id: str, now: float) -> None:
    connection.execute(
        update(email_addresses).where(email_addresses.c.id == address_id).values(modified_at=now)
    )


def _conflict(message: str) -> ServiceError:
    return ServiceError("ResourceConflictException", message)


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
    aliases = {row.alias_of: row.id for row in rows if row.alias_of is not None}
    return {
        "EmailAddresses": [metadata(row, aliases.get(row.id)) for row in page],
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
