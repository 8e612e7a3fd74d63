"""SearchContacts: the contacts of an instance in a time range, filtered, sorted and paged.

Filters run in SQL and pages are keyset pages (the token holds the sort key of the last
contact), so a deep page costs what the first one does and new contacts never shift a page.
Criteria about things connectmail does not keep (agent hierarchies, Contact Lens, routing
steps, AI agents) are refused rather than silently matched against nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    not_,
    or_,
    select,
)

from connectmail.domain.contacts import CREATED, SUBJECT_ATTRIBUTE, ended_at, time_of
from connectmail.domain.pagination import decode_token, encode_token
from connectmail.errors import ServiceError
from connectmail.jsontext import loads
from connectmail.store.tables import CONTACT_COLUMNS, Record, contacts

DEFAULT_PAGE = 100
# Timestamps connectmail never sets: a range on them matches no contact.
UNSET_TIMESTAMPS = frozenset(
    {"SCHEDULED_TIMESTAMP", "CONNECTED_TO_AGENT_TIMESTAMP", "ENQUEUE_TIMESTAMP"}
)
UNSUPPORTED_CRITERIA = (
    "AgentHierarchyGroups",
    "ContactAnalysis",
    "RoutingCriteria",
    "AdditionalTimeRange",
    "AiAgents",
)


def invalid_parameter(message: str) -> ServiceError:
    return ServiceError("InvalidParameterException", message)


def disconnect_time(now: float) -> ColumnElement[Any]:
    """When a contact ended: stopped or sent, or when an unsent one expired (DescribeContact)."""
    return case(
        (contacts.c.disconnected_at.is_not(None), contacts.c.disconnected_at),
        (
            (contacts.c.state == CREATED) & (contacts.c.expires_at <= now),
            contacts.c.expires_at,
        ),
        else_=None,
    )


def search(
    connection: Connection, instance: Record, params: dict[str, Any], now: float
) -> dict[str, Any]:
    sort = params.get("Sort") or {"FieldName": "INITIATION_TIMESTAMP", "Order": "DESCENDING"}
    after = None
    if params.get("NextToken"):
        # The position of the last contact and the moment of the first page:
        # [[sort key, initiated_at, moment], id]. Every page answers as of that moment, so a
        # contact expiring meanwhile (which ends it, and moves it in a DISCONNECT_TIMESTAMP
        # order or range) is neither skipped nor listed twice.
        sort_kind = str if sort["FieldName"] in TEXT_SORT_FIELDS else float
        (sort_value, initiated_at, now), contact_id = decode_token(
            params["NextToken"], "InvalidParameterException", ((sort_kind, float, float), str)
        )
        after = [sort_value, initiated_at, contact_id]
    time_range = params["TimeRange"]
    start, end = _epoch(time_range["StartTime"]), _epoch(time_range["EndTime"])
    if start > end:
        raise invalid_parameter("TimeRange.StartTime must not be after TimeRange.EndTime.")
    conditions: list[ColumnElement[bool]] = [contacts.c.instance_id == instance.id]
    if time_range["Type"] in UNSET_TIMESTAMPS:
        conditions.append(false())
    else:
        moment = _timestamp(time_range["Type"], now)
        conditions.append(moment.is_not(None) & (moment >= start) & (moment <= end))
    criteria = params.get("SearchCriteria") or {}
    for name in UNSUPPORTED_CRITERIA:
        if criteria.get(name):
            raise invalid_parameter(f"connectmail does not support SearchCriteria.{name}.")
    if criteria.get("Channels"):
        conditions.append(contacts.c.channel.in_(criteria["Channels"]))
    if criteria.get("InitiationMethods"):
        conditions.append(contacts.c.initiation_method.in_(criteria["InitiationMethods"]))
    if criteria.get("QueueIds"):  # only external audio contacts name one (UpdateContact)
        conditions.append(contacts.c.queue_id.in_(criteria["QueueIds"]))
    if criteria.get("AgentIds"):
        conditions.append(contacts.c.user_id.in_(criteria["AgentIds"]))
    if criteria.get("ActiveRegions") and instance.region not in criteria["ActiveRegions"]:
        conditions.append(false())
    if criteria.get("Name"):
        conditions.append(_name_condition(criteria["Name"], connection.dialect.name))
    for member, column, inner in (
        ("SearchableContactAttributes", contacts.c.attributes, None),
        ("SearchableSegmentAttributes", contacts.c.segment_attributes, "ValueString"),
    ):
        if criteria.get(member):
            values = _AttributeValues(column, inner, connection.dialect.name)
            conditions.append(_attribute_condition(criteria[member], values))
    if criteria.get("ContactTags"):
        tags = _AttributeValues(contacts.c.tags, None, connection.dialect.name)
        conditions.append(_tag_condition(criteria["ContactTags"], tags))
    query = select(*CONTACT_COLUMNS).where(and_(*conditions))
    total = connection.execute(
        select(func.count()).select_from(contacts).where(and_(*conditions))
    ).scalar_one()
    descending = sort["Order"] == "DESCENDING"
    keys = [_sort_key(sort["FieldName"], now).label("sort_key"), contacts.c.initiated_at]
    keys.append(contacts.c.id)
    query = query.add_columns(keys[0])
    if after is not None:
        query = query.where(_after(keys, after, descending))
    ordering = [k.desc() if descending else k.asc() for k in keys]
    size = params.get("MaxResults") or DEFAULT_PAGE
    rows = connection.execute(query.order_by(*ordering).limit(size + 1)).all()
    more = len(rows) > size
    rows = rows[:size]
    token = None
    if more and rows:
        last = rows[-1]
        token = encode_token([[last.sort_key, last.initiated_at, now], last.id])
    return {
        "Contacts": [summary(row, now) for row in rows],
        "NextToken": token,
        "TotalCount": total,
    }


def summary(row: Record, now: float) -> dict[str, Any]:
    segment_attributes = {
        key: value
        for key, value in (loads(row.segment_attributes) or {}).items()
        if "ValueString" in value or "ValueMap" in value or key == SUBJECT_ATTRIBUTE
    }
    return {
        "Arn": row.arn,
        "Id": row.id,
        "InitialContactId": row.initial_contact_id,
        "PreviousContactId": row.previous_contact_id,
        "InitiationMethod": row.initiation_method,
        "Channel": row.channel,
        "AgentInfo": {"Id": row.user_id} if row.user_id else None,
        "InitiationTimestamp": time_of(row.initiated_at),
        "DisconnectTimestamp": time_of(ended_at(row, now)),
        "SegmentAttributes": segment_attributes or None,
        "Name": row.name,
        "QueueInfo": {"Id": row.queue_id} if row.queue_id else None,
        "Tags": loads(row.tags) or None,
    }


def _timestamp(kind: str, now: float) -> ColumnElement[Any]:
    if kind == "DISCONNECT_TIMESTAMP":
        return disconnect_time(now)
    return contacts.c.initiated_at


TEXT_SORT_FIELDS = frozenset({"INITIATION_METHOD", "CHANNEL"})


def _sort_key(field_name: str, now: float) -> ColumnElement[Any]:
    if field_name == "INITIATION_METHOD":
        return contacts.c.initiation_method
    if field_name == "CHANNEL":
        return contacts.c.channel
    if field_name == "EXPIRY_TIMESTAMP":
        return contacts.c.expires_at
    if field_name == "DISCONNECT_TIMESTAMP":
        # Contacts still open sort before every ended one (ascending).
        return func.coalesce(disconnect_time(now), literal(-1.0))
    if field_name == "INITIATION_TIMESTAMP":
        return contacts.c.initiated_at
    return literal(0.0)  # a timestamp no contact has: ties everywhere, then initiation time


def _after(keys: list[Any], values: list[Any], descending: bool) -> ColumnElement[bool]:
    """Rows strictly after the position `values` (sort key, initiated_at, id) in the order."""

    def beyond(key: Any, value: Any) -> ColumnElement[bool]:
        return key < value if descending else key > value  # type: ignore[no-any-return]

    condition = beyond(keys[2], values[2])
    for key, value in zip(reversed(keys[:2]), reversed(values[:2]), strict=True):
        condition = or_(beyond(key, value), and_(key == value, condition))
    return condition


def _name_condition(criteria: dict[str, Any], dialect: str) -> ColumnElement[bool]:
    texts = [t.lower() for t in criteria.get("SearchText", []) if t]
    # SQLite's own lower() knows only ASCII letters; the store gives its connections one
    # that lower-cases as Python does, as PostgreSQL's lower() does in a UTF-8 database.
    lower = func.unicode_lower if dialect == "sqlite" else func.lower
    name = lower(func.coalesce(contacts.c.name, ""))
    match = criteria["MatchType"]
    if not texts:
        return literal(True) if match != "MATCH_EXACT" else name == ""
    contains = [name.contains(t, autoescape=True) for t in texts]
    if match == "MATCH_ALL":
        return and_(*contains)
    if match == "MATCH_ANY":
        return or_(*contains)
    if match == "MATCH_NONE":
        return and_(*[~c for c in contains])
    return or_(*[name == t for t in texts])


@dataclass(frozen=True)
class _AttributeValues:
    """The text a JSON object column holds under a key (its `inner` member, if named), or NULL.

    The key is any text a client sends (a segment attribute's name may hold quotes, braces and
    commas), so it is bound as a value: SQLAlchemy writes JSON paths into SQLite's path syntax
    (`$."key"`) and PostgreSQL's array literal (`{key,member}`) unescaped, which then named
    another key, or none, or failed the query.
    """

    column: ColumnElement[Any]
    inner: str | None
    dialect: str

    def of(self, key: str) -> ColumnElement[Any]:
        if self.dialect == "postgresql":
            document = cast(self.column, JSON)[key]
            held: ColumnElement[Any] = (
                document[self.inner] if self.inner is not None else document
            ).as_string()
            return held
        entry = func.json_each(self.column).table_valued("key", "value").alias("entry")
        value = (
            entry.c.value
            if self.inner is None
            else func.json_extract(entry.c.value, f"$.{self.inner}")
        )
        return select(value).where(entry.c.key == key).scalar_subquery()


def _attribute_condition(criteria: dict[str, Any], values: _AttributeValues) -> ColumnElement[bool]:
    """Attributes (kept as JSON text) whose value for a key is one of the values given.

    A contact without the key holds none of its values (so MATCH_NONE keeps it), not
    SQL's unknown, which would drop it from MATCH_NONE as well as from the others.
    """
    held = []
    for criterion in criteria.get("Criteria", []):
        value = values.of(criterion["Key"])
        held.append(value.is_not(None) & value.in_(criterion["Values"]))
    if not held:
        return literal(True)
    match = criteria.get("MatchType", "MATCH_ALL")
    if match == "MATCH_ANY":
        return or_(*held)
    if match == "MATCH_NONE":
        return not_(or_(*held))
    return and_(*held)


def _tag_condition(criteria: dict[str, Any], tags: _AttributeValues) -> ColumnElement[bool]:
    """ContactTags: a tag condition, conditions that must all hold, or groups of them of which
    one must; what the filter gives together must all hold. A condition without a value
    holds for a contact tagged with the key at all."""

    def held(condition: dict[str, Any]) -> ColumnElement[bool]:
        if not condition.get("TagKey"):
            raise invalid_parameter("A ContactTags condition needs a TagKey.")
        value = tags.of(condition["TagKey"])
        tagged: ColumnElement[bool] = value.is_not(None)
        if condition.get("TagValue") is None:
            return tagged
        return and_(tagged, value == condition["TagValue"])

    parts: list[ColumnElement[bool]] = []
    if criteria.get("TagCondition"):
        parts.append(held(criteria["TagCondition"]))
    if criteria.get("AndConditions"):
        parts.append(and_(*map(held, criteria["AndConditions"])))
    if criteria.get("OrConditions"):
        groups = [and_(*map(held, group)) for group in criteria["OrConditions"] if group]
        parts.append(or_(*groups) if groups else literal(True))
    return and_(*parts) if parts else literal(True)


def _epoch(moment: datetime) -> float:
    return moment.timestamp()
