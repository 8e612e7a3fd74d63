"""Tags on knowledge bases and message templates (TagResource, UntagResource, ListTags...)."""

from __future__ import annotations

from sqlalchemy import Connection, Table, select, update

from connectmail.errors import ServiceError
from connectmail.jsontext import dumps, loads
from connectmail.store.tables import Record
from connectmail.store.tables_templates import knowledge_bases, message_templates
from connectmail.templates import identifiers
from connectmail.templates.errors import not_found, validation
from connectmail.templates.identifiers import Scope

MAX_TAGS = 50


def check(tags: dict[str, str]) -> None:
    """Tags a resource may carry: none of AWS's own, and at most MAX_TAGS."""
    for key in tags:
        if key.lower().startswith("aws:"):
            raise validation(f"Tag keys starting with 'aws:' are reserved: {key[:128]!r}.")
    if len(tags) > MAX_TAGS:
        raise validation(f"A resource can have at most {MAX_TAGS} tags.")


def _resource(connection: Connection, scope: Scope, arn: str) -> tuple[Table, Record]:
    table: Table
    if arn.startswith("arn:") and ":knowledge-base/" in arn:
        table = knowledge_bases
        key = identifiers.knowledge_base_id(scope, arn)
        condition = (knowledge_bases.c.account_id == scope.account_id) & (
            knowledge_bases.c.region == scope.region
        )
    else:
        table = message_templates
        ref = identifiers.template_ref(scope, arn) if arn.startswith("arn:") else None
        key = ref.template_id if ref is not None and ref.qualifier is None else None
        # A template's row has no region: its knowledge base's is the one its ARN must name.
        in_scope = select(knowledge_bases.c.id).where(
            (knowledge_bases.c.account_id == scope.account_id)
            & (knowledge_bases.c.region == scope.region)
        )
        condition = (
            (message_templates.c.account_id == scope.account_id)
            & (message_templates.c.knowledge_base_id == (ref.knowledge_base_id if ref else None))
            & message_templates.c.knowledge_base_id.in_(in_scope)
        )
    row = None
    if key is not None:
        row = connection.execute(select(table).where((table.c.id == key) & condition)).first()
    if row is None:
        raise not_found("Resource", arn)
    return table, row


def tag_resource(connection: Connection, scope: Scope, arn: str, tags: dict[str, str]) -> None:
    table, row = _resource(connection, scope, arn)
    merged = {**loads(row.tags), **tags}
    if len(merged) > MAX_TAGS:
        raise ServiceError(
            "TooManyTagsException",
            f"A resource can have at most {MAX_TAGS} tags; this one would have {len(merged)}.",
            resourceName=arn,
        )
    check(merged)
    connection.execute(update(table).where(table.c.id == row.id).values(tags=dumps(merged)))


def untag_resource(connection: Connection, scope: Scope, arn: str, keys: list[str]) -> None:
    table, row = _resource(connection, scope, arn)
    remaining = {k: v for k, v in loads(row.tags).items() if k not in set(keys)}
    connection.execute(update(table).where(table.c.id == row.id).values(tags=dumps(remaining)))


def list_tags(connection: Connection, scope: Scope, arn: str) -> dict[str, str]:
    _, row = _resource(connection, scope, arn)
    tags: dict[str, str] = loads(row.tags)
    return tags
