"""SearchMessageTemplates: queries on name and description, filters on the documented fields.

Each result is a template at one qualifier: `$LATEST` (the draft) unless a `qualifier`
filter asks for `$ACTIVE_VERSION` or version numbers. Filters must all hold; of the queries,
any may match (case-insensitively). A knowledge base holds at most a few hundred templates,
so the search reads them all; a page starts after the last result of the one before (its
token holds that result's place in the order), so templates deleted between pages shift
no other onto a page already read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from connectmail.domain.pagination import decode_token, encode_token
from connectmail.store.tables import Record
from connectmail.store.tables_templates import message_template_versions, message_templates
from connectmail.templates.errors import validation
from connectmail.templates.identifiers import ACTIVE_VERSION, LATEST
from connectmail.templates.message_templates import Selected, describe

QUERY_FIELDS = frozenset({"name", "description"})
FILTER_FIELDS = frozenset(
    {
        "name",
        "description",
        "channel",
        "channelSubtype",
        "language",
        "qualifier",
        "createdTime",
        "lastModifiedTime",
        "lastModifiedBy",
        "groupingConfiguration.criteria",
        "groupingConfiguration.values",
    }
)


@dataclass(frozen=True)
class _Entry:
    selected: Selected
    qualifier: str
    rank: int  # of the qualifier among those asked: a template's entries come in that order
    view: dict[str, Any]

    def key(self, order_name: str | None) -> tuple[list[str], float, str, int]:
        """The entry's place: by the ordering field, then as made, then by qualifier."""
        template = self.selected.template
        values = self.field(order_name) if order_name is not None else []
        return values, template.created_at, template.id, self.rank

    def field(self, name: str) -> list[str]:
        """The values of a field (a list, as grouping values are many; empty when absent)."""
        if name == "qualifier":
            return [self.qualifier]
        if name.startswith("groupingConfiguration."):
            grouping = self.view.get("groupingConfiguration") or {}
            value = grouping.get(name.split(".", 1)[1])
        else:
            value = self.view.get(name)
        if value is None:
            return []
        values = value if isinstance(value, list) else [value]
        return [item.isoformat() if hasattr(item, "isoformat") else str(item) for item in values]


def search(
    connection: Connection,
    knowledge_base: Record,
    expression: dict[str, Any],
    max_results: int,
    next_token: str | None,
) -> dict[str, Any]:
    for query in expression.get("queries") or ():
        if query["name"] not in QUERY_FIELDS:
            raise validation(f"Message templates cannot be queried by {query['name']!r}.")
    filters = expression.get("filters") or []
    for condition in filters:
        if condition["name"] not in FILTER_FIELDS:
            raise validation(f"Message templates cannot be filtered by {condition['name']!r}.")
    order = expression.get("orderOnField")
    if order is not None and order["name"] not in FILTER_FIELDS:
        raise validation(f"Message templates cannot be ordered by {order['name']!r}.")
    order_name = order["name"] if order is not None else None
    descending = order is not None and order.get("order") == "DESC"
    entries = _entries(connection, knowledge_base, _qualifiers(filters))
    queries = expression.get("queries") or []
    matching = [
        entry
        for entry in entries
        if all(_holds(entry, condition) for condition in filters)
        and (not queries or any(_matches(entry, query) for query in queries))
    ]
    if order_name is not None:
        # Stable, also reversed: entries that tie keep the order they were made in.
        matching.sort(key=lambda entry: entry.field(order_name), reverse=descending)
    following = matching
    if next_token:
        (values, created_at, template_id), rank = decode_token(
            next_token, "ValidationException", (([str], float, str), int)
        )
        after = (values, created_at, template_id, rank)
        following = [
            entry for entry in matching if _beyond(entry.key(order_name), after, descending)
        ]
    page = following[:max_results]
    token = None
    if len(following) > max_results:
        values, created_at, template_id, rank = page[-1].key(order_name)
        token = encode_token([[values, created_at, template_id], rank])
    return {"results": [entry.view for entry in page], "nextToken": token}


def _beyond(
    key: tuple[list[str], float, str, int],
    after: tuple[list[str], float, str, int],
    descending: bool,
) -> bool:
    """Whether an entry at `key` comes after the one at `after` in the search's order."""
    if key[0] != after[0]:
        return key[0] < after[0] if descending else key[0] > after[0]
    return key[1:] > after[1:]


def _qualifiers(filters: list[dict[str, Any]]) -> list[str]:
    asked = [
        value
        for condition in filters
        if condition["name"] == "qualifier" and condition["operator"] == "EQUALS"
        for value in condition.get("values") or ()
    ]
    return list(dict.fromkeys(asked)) or [LATEST]  # each once, in the order first asked


def _entries(connection: Connection, knowledge_base: Record, qualifiers: list[str]) -> list[_Entry]:
    templates = connection.execute(
        select(message_templates)
        .where(message_templates.c.knowledge_base_id == knowledge_base.id)
        .order_by(message_templates.c.created_at, message_templates.c.id)
    ).all()
    versions: dict[tuple[str, int], Record] = {}
    if any(q != LATEST for q in qualifiers):
        ids = [template.id for template in templates]
        for version in connection.execute(
            select(message_template_versions).where(
                message_template_versions.c.template_id.in_(ids)
            )
        ):
            versions[(version.template_id, version.version)] = version
    entries: list[_Entry] = []
    for template in templates:
        for rank, qualifier in enumerate(qualifiers):
            selected: Selected | None = None
            if qualifier == LATEST:
                selected = Selected(template)
            elif qualifier == ACTIVE_VERSION and (template.id, template.active_version) in versions:
                selected = Selected(template, versions[(template.id, template.active_version)])
            elif qualifier.isdigit() and (template.id, int(qualifier)) in versions:
                selected = Selected(template, versions[(template.id, int(qualifier))])
            if selected is not None:
                view = describe(knowledge_base, selected, details=False)
                entries.append(_Entry(selected, qualifier, rank, view))
    return entries


def _holds(entry: _Entry, condition: dict[str, Any]) -> bool:
    values = entry.field(condition["name"])
    if not values:
        return bool(condition.get("includeNoExistence"))
    wanted = condition.get("values") or []
    if condition["name"] == "qualifier":
        return True  # already chose the entries
    if condition["operator"] == "PREFIX":
        return any(value.startswith(prefix) for value in values for prefix in wanted)
    return any(value == expected for value in values for expected in wanted)


def _matches(entry: _Entry, query: dict[str, Any]) -> bool:
    texts = [value.lower() for value in entry.field(query["name"])]
    return any(word.lower() in text for text in texts for word in query["values"])
