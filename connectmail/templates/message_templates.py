"""Message templates: the `$LATEST` draft, and reading a template at any qualifier.

The draft is what CreateMessageTemplate makes and UpdateMessageTemplate changes; versions
(see `versions`) are frozen copies of it. Name, description, grouping and tags belong to the
template and so to all its versions. Content given here has passed `content.check_fits`
and `content.check_syntax`, which handlers run before the transaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from connectmail.domain import arns
from connectmail.domain.pagination import Page, page_after
from connectmail.jsontext import dumps, loads
from connectmail.store.prepared import Fetched, Prepared
from connectmail.store.tables import Record
from connectmail.store.tables_templates import message_template_versions, message_templates
from connectmail.templates import attachments, content, identifiers, knowledge_bases, tags
from connectmail.templates.content import Limits
from connectmail.templates.errors import conflict, not_found, quota_exceeded, validation
from connectmail.templates.identifiers import ACTIVE_VERSION, LATEST, Scope, TemplateRef


@dataclass(frozen=True)
class Selected:
    """A template at one qualifier: its draft (`version` None) or one of its versions."""

    # Rows as SQLAlchemy gives them, or as the prepared reads of the send path do.
    template: Record | Fetched
    version: Record | Fetched | None = None

    @property
    def source(self) -> Record | Fetched:
        return self.version if self.version is not None else self.template

    @property
    def content(self) -> dict[str, Any]:
        found: dict[str, Any] = loads(self.source.content)
        return found

    @property
    def default_attributes(self) -> dict[str, Any]:
        found: dict[str, Any] = loads(self.source.default_attributes)
        return found


def create(
    connection: Connection,
    scope: Scope,
    knowledge_base: Record,
    params: dict[str, Any],
    now: float,
    limits: Limits,
) -> dict[str, Any]:
    name = params.get("name")
    if not name:
        raise validation("A message template needs a name.")
    channel_subtype = params["channelSubtype"]
    _check_source(channel_subtype, params)
    body = params.get("content") or {}  # checked by the handler (see the module's docstring)
    tags.check(params.get("tags") or {})
    _check_name_free(connection, knowledge_base, name)
    count = connection.execute(
        select(func.count())
        .select_from(message_templates)
        .where(message_templates.c.knowledge_base_id == knowledge_base.id)
    ).scalar_one()
    if count >= limits.templates_per_knowledge_base:
        raise quota_exceeded(
            f"A knowledge base can have at most {limits.templates_per_knowledge_base} message "
            f"templates; {knowledge_base.id} has {count}."
        )
    template_id = arns.new_id()
    language = params.get("language")
    defaults = params.get("defaultAttributes") or {}
    connection.execute(
        insert(message_templates).values(
            id=template_id,
            knowledge_base_id=knowledge_base.id,
            account_id=scope.account_id,
            arn=identifiers.template_arn(scope, knowledge_base.id, template_id),
            name=name,
            description=params.get("description"),
            channel_subtype=channel_subtype,
            language=language,
            content=dumps(body),
            default_attributes=dumps(defaults),
            source_configuration=_json(params.get("sourceConfiguration")),
            grouping_configuration=_json(params.get("groupingConfiguration")),
            content_sha256=content.checksum(body, language, defaults),
            tags=dumps(params.get("tags") or {}),
            next_version=1,
            created_at=now,
            modified_at=now,
            modified_by=identifiers.principal_arn(scope.account_id),
        )
    )
    knowledge_bases.content_changed(connection, knowledge_base.id, now)
    template = find(connection, knowledge_base, template_id)
    assert template is not None
    return {"messageTemplate": describe(knowledge_base, Selected(template))}


def _check_source(channel_subtype: str, params: dict[str, Any]) -> None:
    """A source configuration is WhatsApp's template at Meta: 'Only set this argument for
    WHATSAPP channel subtype' (CreateMessageTemplate, UpdateMessageTemplate)."""
    if params.get("sourceConfiguration") is not None and channel_subtype != "WHATSAPP":
        raise validation(
            f"Message templates of channel subtype {channel_subtype} take no "
            "sourceConfiguration; only WHATSAPP templates have one."
        )


def _check_name_free(
    connection: Connection, knowledge_base: Record, name: str, other_than: str | None = None
) -> None:
    query = select(message_templates.c.id).where(
        (message_templates.c.knowledge_base_id == knowledge_base.id)
        & (message_templates.c.name == name)
    )
    if other_than is not None:
        query = query.where(message_templates.c.id != other_than)
    if connection.execute(query).first() is not None:
        raise conflict(
            f"Knowledge base {knowledge_base.id} already has a message template named {name!r}."
        )


# Built once: every TEMPLATE email reads its template (and version), and building the
# statements costs more than running them.
FIND = select(message_templates).where(
    (message_templates.c.id == bindparam("id"))
    & (message_templates.c.knowledge_base_id == bindparam("knowledge_base_id"))
)
_VERSION = Prepared(
    select(message_template_versions).where(
        (message_template_versions.c.template_id == bindparam("template_id"))
        & (message_template_versions.c.version == bindparam("version"))
    )
)


def find(connection: Connection, knowledge_base: Record, template_id: str) -> Record | None:
    return connection.execute(
        FIND, {"id": template_id, "knowledge_base_id": knowledge_base.id}
    ).first()


def reference(
    scope: Scope, knowledge_base: Record, identifier: str, *, qualified: bool
) -> TemplateRef:
    """Read a template identifier; `qualified` says whether a qualifier may follow it."""
    ref = identifiers.template_ref(scope, identifier)
    if ref is None or ref.knowledge_base_id not in (None, knowledge_base.id):
        raise not_found("Message template", identifier)
    if ref.qualifier is not None and not qualified:
        raise validation(
            f"The message template identifier cannot have a qualifier here: {identifier}"
        )
    return ref


def require(
    connection: Connection,
    scope: Scope,
    knowledge_base: Record,
    identifier: str,
    *,
    qualified: bool = False,
) -> tuple[Record, TemplateRef]:
    ref = reference(scope, knowledge_base, identifier, qualified=qualified)
    template = find(connection, knowledge_base, ref.template_id)
    if template is None:
        raise not_found("Message template", identifier)
    return template, ref


def select_qualifier(
    connection: Connection, template: Record | Fetched, qualifier: str | None
) -> Selected:
    """The template at a qualifier; no qualifier means `$LATEST`, as in the qconnect API."""
    if qualifier is None or qualifier == LATEST:
        return Selected(template)
    if qualifier == ACTIVE_VERSION:
        if template.active_version is None:
            raise not_found("Active version of message template", template.id)
        number = int(template.active_version)
    else:
        number = int(qualifier)
    version = version_row(connection, template, number)
    if version is None:
        raise not_found("Message template version", f"{template.id}:{number}")
    return Selected(template, version)


def could_be_version(number: int) -> bool:
    """Whether a version of that number can exist: PostgreSQL refuses to compare an integer
    column with a number past its range, so such a number must not reach a query."""
    return 0 < number < 2**31


def version_row(connection: Connection, template: Record | Fetched, number: int) -> Fetched | None:
    if not could_be_version(number):
        return None
    return _VERSION.record(connection, {"template_id": template.id, "version": number})


def get(
    connection: Connection,
    scope: Scope,
    knowledge_base: Record,
    identifier: str,
    links: attachments.Links,
    now: float,
) -> dict[str, Any]:
    template, ref = require(connection, scope, knowledge_base, identifier, qualified=True)
    selected = select_qualifier(connection, template, ref.qualifier)
    found = attachments.views(connection, selected, links, now)
    return {"messageTemplate": describe(knowledge_base, selected, attachments=found)}


def update_draft(
    connection: Connection,
    scope: Scope,
    knowledge_base: Record,
    params: dict[str, Any],
    now: float,
    limits: Limits,
) -> dict[str, Any]:
    """UpdateMessageTemplate: change what was given of the draft; versions stay as they are."""
    template, _ = require(connection, scope, knowledge_base, params["messageTemplateId"])
    # Held: the checksum covers the draft's attachments, which must not change meanwhile.
    template = attachments.hold(connection, template.id)
    _check_source(template.channel_subtype, params)
    body = params["content"] if "content" in params else loads(template.content)
    language = params.get("language", template.language)
    defaults = (
        params["defaultAttributes"]
        if "defaultAttributes" in params
        else loads(template.default_attributes)
    )
    # UpdateMessageTemplate's model has no ServiceQuotaExceededException.
    content.check_fits(template.channel_subtype, body, limits, over_quota=validation)
    draft = attachments.of_draft(connection, template.id) if template.attachment_count else []
    values: dict[str, Any] = {
        "content": dumps(body),
        "language": language,
        "default_attributes": dumps(defaults),
        "content_sha256": content.checksum(
            body, language, defaults, attachments.fingerprint(draft)
        ),
        "modified_at": now,
        "modified_by": identifiers.principal_arn(scope.account_id),
    }
    if "sourceConfiguration" in params:
        values["source_configuration"] = _json(params["sourceConfiguration"])
    return _update(connection, knowledge_base, template, values)


def update_metadata(
    connection: Connection,
    scope: Scope,
    knowledge_base: Record,
    params: dict[str, Any],
    now: float,
) -> dict[str, Any]:
    """UpdateMessageTemplateMetadata: name, description and grouping, for every version."""
    template, _ = require(connection, scope, knowledge_base, params["messageTemplateId"])
    values: dict[str, Any] = {
        "modified_at": now,
        "modified_by": identifiers.principal_arn(scope.account_id),
    }
    if "name" in params:
        _check_name_free(connection, knowledge_base, params["name"], other_than=template.id)
        values["name"] = params["name"]
    if "description" in params:
        values["description"] = params["description"]
    if "groupingConfiguration" in params:
        values["grouping_configuration"] = _json(params["groupingConfiguration"])
    return _update(connection, knowledge_base, template, values)


def _update(
    connection: Connection, knowledge_base: Record, template: Record, values: dict[str, Any]
) -> dict[str, Any]:
    connection.execute(
        update(message_templates).where(message_templates.c.id == template.id).values(**values)
    )
    knowledge_bases.content_changed(connection, knowledge_base.id, values["modified_at"])
    changed = find(connection, knowledge_base, template.id)
    assert changed is not None
    return {"messageTemplate": describe(knowledge_base, Selected(changed))}


def remove(connection: Connection, scope: Scope, knowledge_base: Record, identifier: str) -> None:
    """The whole template with its versions, or (`ID:N`) one version that is not active."""
    template, ref = require(connection, scope, knowledge_base, identifier, qualified=True)
    if ref.qualifier is None:
        attachments.forget_template(connection, template.id)
        connection.execute(
            delete(message_template_versions).where(
                message_template_versions.c.template_id == template.id
            )
        )
        connection.execute(delete(message_templates).where(message_templates.c.id == template.id))
        knowledge_bases.content_changed(connection, knowledge_base.id, time.time())
        return
    number = ref.version
    if number is None:
        raise validation(
            f"Only a version number can qualify the template to delete, not {ref.qualifier}."
        )
    if version_row(connection, template, number) is None:
        raise not_found("Message template version", identifier)
    if template.active_version == number:
        raise conflict(
            f"Version {number} of message template {template.id} is active; deactivate it "
            "before deleting it."
        )
    attachments.forget_version(connection, template.id, number)
    connection.execute(
        delete(message_template_versions).where(
            (message_template_versions.c.template_id == template.id)
            & (message_template_versions.c.version == number)
        )
    )
    knowledge_bases.content_changed(connection, knowledge_base.id, time.time())


def list_page(
    connection: Connection, knowledge_base: Record, max_results: int, next_token: str | None
) -> Page:
    query = select(message_templates).where(
        message_templates.c.knowledge_base_id == knowledge_base.id
    )
    return page_after(
        connection,
        query,
        message_templates.c.created_at,
        message_templates.c.id,
        max_results,
        next_token,
        lambda row: summary(knowledge_base, row),
        error_code="ValidationException",
    )


def summary(knowledge_base: Record, template: Record) -> dict[str, Any]:
    """MessageTemplateSummary."""
    view = _common(knowledge_base, template)
    view["messageTemplateArn"] = template.arn
    view["activeVersionNumber"] = template.active_version
    view["sourceConfiguration"] = loads(template.source_configuration)
    view["tags"] = loads(template.tags) or None
    view["lastModifiedTime"] = _time(template.modified_at)
    return view


def _common(knowledge_base: Record, template: Record | Fetched) -> dict[str, Any]:
    return {
        "messageTemplateId": template.id,
        "knowledgeBaseArn": knowledge_base.arn,
        "knowledgeBaseId": knowledge_base.id,
        "name": template.name,
        "description": template.description,
        "channel": template.channel_subtype,
        "channelSubtype": template.channel_subtype,
        "createdTime": _time(template.created_at),
        "lastModifiedBy": template.modified_by,
    }


def describe(
    knowledge_base: Record,
    selected: Selected,
    *,
    details: bool = True,
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """ExtendedMessageTemplateData (MessageTemplateData is its subset) of the draft or a version.

    Without `details` (search results) it leaves out the content, the default attributes and
    the attribute types, which take reading every part of the content. `attachments` are
    the answer's (ExtendedMessageTemplateData has them, with URLs the handler signs).
    """
    template, version, source = selected.template, selected.version, selected.source
    view = _common(knowledge_base, template)
    view.update(
        {
            "messageTemplateArn": template.arn,
            "lastModifiedTime": _time(template.modified_at),
            "language": source.language,
            "groupingConfiguration": loads(template.grouping_configuration),
            "sourceConfigurationSummary": source_summary(selected),
            "messageTemplateContentSha256": source.content_sha256,
            "tags": loads(template.tags) or None,
        }
    )
    if details:
        body = selected.content
        view["content"] = body or None
        view["defaultAttributes"] = selected.default_attributes or None
        view["attributeTypes"] = content.attribute_types(source.content)
    view["attachments"] = attachments
    if version is not None:
        view["messageTemplateArn"] = f"{template.arn}:{version.version}"
        view["versionNumber"] = version.version
        view["isActive"] = template.active_version == version.version
        view["lastModifiedTime"] = _time(version.created_at)
        view["lastModifiedBy"] = version.created_by
    return view


def source_summary(selected: Selected) -> dict[str, Any] | None:
    """The sourceConfigurationSummary: a WhatsApp template's source, as it was given."""
    whatsapp = (loads(selected.source.source_configuration) or {}).get("whatsApp")
    if whatsapp is None:
        return None
    return {"whatsApp": {**whatsapp, "status": "VALID"}}


def _json(value: Any) -> str | None:
    return None if value is None else dumps(value)


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
