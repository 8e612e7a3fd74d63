"""SearchMessageTemplates: queries on name and description, filters on the documented fields.

Each result is a template at one qualifier: `$LATEST` (the draft) unless a `qualifier`
filter asks for `$ACTIVE_VERSION` or version numbers (any of them, for a PREFIX filter), each
version once. Filters must all hold (a qualifier filter on any qualifier naming the result:
the active version is also its number); of the queries, any may match (case-insensitively).
A knowledge base holds at most a few hundred templates, so the search reads them all; a page
starts after the last result of the one before (its token holds that result's place in the
order, with at most the first 200 characters of its value), so templates deleted between
pages shift no other onto a page already read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from connectmail.domain.pagination import decode_token, encode_token
from connectmail.errors import ServiceError
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


# Not a qualifier: every version of a template, for a PREFIX filter on qualifiers.
_EVERY_VERSION = "*"
# Between the values of a field with many (grouping values): below any character they keep.
_SEPARATOR = "\x01"
# A page's token holds at most this much of its last result's value: a template's grouping
# values can be thousands of characters, and a NextToken is at most 2,048.
_TOKEN_PREFIX = 200


@dataclass(frozen=True)
class _Entry:
    selected: Selected
    qualifier: str
    rank: int  # of the qualifier among those asked: a template's entries come in that order
    view: dict[str, Any]

    def key(self, order_name: str | None) -> tuple[str, float, str, int]:
        """The entry's place: by the ordering field, then as made, then by qualifier."""
        template = self.selected.template
        values = self.field(order_name) if order_name is not None else []
        return _text(values), template.created_at, template.id, self.rank

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
        return [_shown(item) for item in values]


def _shown(value: Any) -> str:
    """A value as the API shows it: times as RFC 3339 in UTC with milliseconds and a `Z`, so
    that a time a response gave is one a filter can name (and their text orders as they do)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return str(value)


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
    keys = [entry.key(order_name) for entry in matching]
    if order_name is not None:
        # Stable, also reversed: entries that tie keep the order they were made in.
        order_of = sorted(range(len(matching)), key=lambda n: keys[n][0], reverse=descending)
        matching, keys = [matching[n] for n in order_of], [keys[n] for n in order_of]
    following = matching
    if next_token:
        prefix, created_at, template_id, rank = _place(next_token)
        place = (created_at, template_id, rank)
        # The last result's whole value, unless it is gone or changed since.
        whole = next(
            (key[0] for key in keys if key[1:] == place and key[0][:_TOKEN_PREFIX] == prefix),
            None,
        )
        following = [
            entry
            for entry, key in zip(matching, keys, strict=True)
            if _beyond(key, prefix, whole, place, descending)
        ]
    page = following[:max_results]
    token = None
    if len(following) > max_results:
        text, created_at, template_id, rank = page[-1].key(order_name)
        token = encode_token([[text[:_TOKEN_PREFIX], created_at, template_id], rank])
    return {"results": [entry.view for entry in page], "nextToken": token}


def _place(token: str) -> tuple[str, float, str, int]:
    """Where a token says the last result was; a token from before 2026-12-08 held the
    field's values themselves, a list."""
    try:
        (prefix, created_at, template_id), rank = decode_token(
            token, "ValidationException", ((str, float, str), int)
        )
    except ServiceError:
        (values, created_at, template_id), rank = decode_token(
            token, "ValidationException", (([str], float, str), int)
        )
        prefix = _text(values)[:_TOKEN_PREFIX]
    return prefix, created_at, template_id, rank


def _text(values: list[str]) -> str:
    """One text for a field's values, which orders as the list of them would."""
    return _SEPARATOR.join(value.replace("\x00", _SEPARATOR) for value in values)


def _beyond(
    key: tuple[str, float, str, int],
    prefix: str,
    whole: str | None,
    place: tuple[float, str, int],
    descending: bool,
) -> bool:
    """Whether an entry at `key` comes after the last result in the search's order: the
    token's `prefix` of its value orders all but the entries that share it; those go by the
    whole value, while that result is still there, then by `place`."""
    mine = key[0][:_TOKEN_PREFIX]
    if mine == prefix and whole is not None:
        mine, prefix = key[0], whole
    if mine != prefix:
        return mine < prefix if descending else mine > prefix
    return key[1:] > place


def _qualifiers(filters: list[dict[str, Any]]) -> list[str]:
    """The qualifiers to read each template at, each once, in the order first asked: those
    the qualifier filters name (all of them for a PREFIX one), else `$LATEST`."""
    conditions = [condition for condition in filters if condition["name"] == "qualifier"]
    asked = [
        value
        for condition in conditions
        if condition["operator"] == "EQUALS"
        for value in condition.get("values") or ()
    ]
    if any(condition["operator"] == "PREFIX" for condition in conditions):
        asked += [LATEST, ACTIVE_VERSION, _EVERY_VERSION]
    return list(dict.fromkeys(asked)) or [LATEST]


def _entries(connection: Connection, knowledge_base: Record, qualifiers: list[str]) -> list[_Entry]:
    templates = connection.execute(
        select(message_templates)
        .where(message_templates.c.knowledge_base_id == knowledge_base.id)
        .order_by(message_templates.c.created_at, message_templates.c.id)
    ).all()
    versions: dict[tuple[str, int], Record] = {}
    numbers: dict[str, list[str]] = {}  # of each template's versions, in order
    if any(q != LATEST for q in qualifiers):
        ids = [template.id for template in templates]
        for version in connection.execute(
            select(message_template_versions)
            .where(message_template_versions.c.template_id.in_(ids))
            .order_by(message_template_versions.c.version)
        ):
            versions[(version.template_id, version.version)] = version
            numbers.setdefault(version.template_id, []).append(str(version.version))
    entries: list[_Entry] = []
    for template in templates:
        # `$ACTIVE_VERSION` and its number name one version: it is one result, as asked first.
        found: set[int | None] = set()
        wanted = [
            named
            for qualifier in qualifiers
            for named in (
                numbers.get(template.id, []) if qualifier == _EVERY_VERSION else [qualifier]
            )
        ]
        for rank, qualifier in enumerate(wanted):
            selected: Selected | None = None
            if qualifier == LATEST:
                selected = Selected(template)
            elif qualifier == ACTIVE_VERSION and (template.id, template.active_version) in versions:
                selected = Selected(template, versions[(template.id, template.active_version)])
            elif qualifier.isdigit() and (template.id, int(qualifier)) in versions:
                selected = Selected(template, versions[(template.id, int(qualifier))])
            if selected is None:
                continue
            number = None if selected.version is None else int(selected.version.version)
            if number in found:
                continue
            found.add(number)
            view = describe(knowledge_base, selected, details=False)
            entries.append(_Entry(selected, qualifier, rank, view))
    return entries


def _names(entry: _Entry) -> list[str]:
    """The qualifiers that name an entry: `$LATEST`, or its number and, if it is the active
    version, `$ACTIVE_VERSION`."""
    version, template = entry.selected.version, entry.selected.template
    if version is None:
        return [LATEST]
    active = [ACTIVE_VERSION] if template.active_version == version.version else []
    return [str(version.version), *active]


def _holds(entry: _Entry, condition: dict[str, Any]) -> bool:
    name = condition["name"]
    values = _names(entry) if name == "qualifier" else entry.field(name)
    if not values:
        return bool(condition.get("includeNoExistence"))
    wanted = condition.get("values") or []
    if condition["operator"] == "PREFIX":
        return any(value.startswith(prefix) for value in values for prefix in wanted)
    return any(value == expected for value in values for expected in wanted)


def _matches(entry: _Entry, query: dict[str, Any]) -> bool:
    texts = [value.lower() for value in entry.field(query["name"])]
    return any(word.lower() in text for text in texts for word in query["values"])
