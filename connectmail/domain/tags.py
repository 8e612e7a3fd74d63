"""Tags of the Amazon Connect resources that keep them, named by ARN: instances and their
email addresses (TagResource, UntagResource, ListTagsForResource).

An email address tagged `connectmail:default-outbound` becomes its instance's default
sender (`email_addresses.DEFAULT_TAG`), so tagging is also how an existing address is made
the default.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, Table, update

from connectmail.domain import email_addresses, instances
from connectmail.errors import ServiceError, not_found
from connectmail.jsontext import dumps, loads
from connectmail.store.tables import Record
from connectmail.store.tables import email_addresses as email_addresses_table
from connectmail.store.tables import instances as instances_table

# A resource carries at most as many tags as a TagMap holds.
MAX_TAGS = 50
_ARN = re.compile(
    r"arn:aws:connect:(?P<region>[^:]*):(?P<account>[^:]*):instance/(?P<instance>[^/]+)"
    r"(?:/email-address/(?P<address>[^/]+))?"
)


def _resource(
    connection: Connection, account_id: str, region: str, arn: str
) -> tuple[Table, Record]:
    """The row the ARN names in the caller's account and region, and its table. Another
    account's or region's resource, or one of a kind without tags here, is not found."""
    if not arn.startswith("arn:"):
        raise ServiceError("InvalidParameterException", f"Not an ARN: {arn}")
    found = _ARN.fullmatch(arn)
    if found is None or (found["account"], found["region"]) != (account_id, region):
        raise not_found("Resource", arn)
    instance = instances.require(connection, account_id, region, found["instance"])
    if found["address"] is None:
        return instances_table, instance
    return email_addresses_table, email_addresses.require(connection, instance, found["address"])


def tag_resource(
    connection: Connection, account_id: str, region: str, arn: str, tags: dict[str, str]
) -> None:
    table, row = _resource(connection, account_id, region, arn)
    merged = {**(loads(row.tags) or {}), **tags}
    if len(merged) > MAX_TAGS:
        raise ServiceError(
            "InvalidParameterException",
            f"A resource can have at most {MAX_TAGS} tags; this one would have {len(merged)}.",
        )
    connection.execute(update(table).where(table.c.id == row.id).values(tags=dumps(merged)))


def untag_resource(
    connection: Connection, account_id: str, region: str, arn: str, keys: list[str]
) -> None:
    table, row = _resource(connection, account_id, region, arn)
    removed = set(keys)
    remaining = {k: v for k, v in (loads(row.tags) or {}).items() if k not in removed}
    connection.execute(update(table).where(table.c.id == row.id).values(tags=dumps(remaining)))


def list_tags(connection: Connection, account_id: str, region: str, arn: str) -> dict[str, str]:
    _, row = _resource(connection, account_id, region, arn)
    tags: dict[str, str] = loads(row.tags) or {}
    return tags
