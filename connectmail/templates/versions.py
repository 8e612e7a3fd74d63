"""Versions of a message template: frozen copies of the draft, numbered upward; one is active.

Creating a version when the draft (content and configuration) has not changed since the
newest one answers with that version instead of making another, as Amazon Q in Connect
documents. Activating a version deactivates the one active before; for sending, an
unqualified template means the active one.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from connectmail.domain.pagination import Page, page_after
from connectmail.store.tables import Record
from connectmail.store.tables_templates import message_template_versions, message_templates
from connectmail.templates import attachments, identifiers, knowledge_bases
from connectmail.templates.content import Limits
from connectmail.templates.errors import conflict, not_found, quota_exceeded
from connectmail.templates.identifiers import Scope
from connectmail.templates.message_templates import Selected, describe, require, version_row


def create(
    connection: Connection,
    scope: Scope,
    knowledge_base: Record,
    params: dict[str, Any],
    now: float,
    limits: Limits,
    links: attachments.Links,
) -> dict[str, Any]:
    template, _ = require(connection, scope, knowledge_base, params["messageTemplateId"])
    # Held, so that the version has the attachments the draft's checksum is of.
    template = attachments.hold(connection, template.id)
    expected = params.get("messageTemplateContentSha256")
    if expected is not None and expected != template.content_sha256:
        raise conflict(
            f"The draft of message template {template.id} has changed: its "
            f"messageTemplateContentSha256 is {template.content_sha256}, not {expected}."
        )
    newest = connection.execute(
        select(message_template_versions)
        .where(message_template_versions.c.template_id == template.id)
        .order_by(message_template_versions.c.version.desc())
        .limit(1)
    ).first()
    # The checksum leaves the source configuration out (AWS's is of the content, language,
    # default attributes and attachments, as ours), but a version copies it too.
    if (
        newest is not None
        and newest.content_sha256 == template.content_sha256
        and newest.source_configuration == template.source_configuration
    ):
        return _described(connection, knowledge_base, Selected(template, newest), links, now)
    count = connection.execute(
        select(func.count())
        .select_from(message_template_versions)
        .where(message_template_versions.c.template_id == template.id)
    ).scalar_one()
    if count >= limits.versions_per_template:
        raise quota_exceeded(
            f"A message template can have at most {limits.versions_per_template} versions; "
            f"{template.id} has {count}."
        )
    number = int(template.next_version)
    connection.execute(
        insert(message_template_versions).values(
            template_id=template.id,
            version=number,
            content=template.content,
            language=template.language,
            default_attributes=template.default_attributes,
            source_configuration=template.source_configuration,
            content_sha256=template.content_sha256,
            created_at=now,
            created_by=identifiers.principal_arn(scope.account_id),
            attachment_count=template.attachment_count,
        )
    )
    attachments.keep_for_version(connection, template.id, number)
    connection.execute(
        update(message_templates)
        .where(message_templates.c.id == template.id)
        .values(next_version=number + 1)
    )
    knowledge_bases.content_changed(connection, knowledge_base.id, now)
    version = version_row(connection, template, number)
    assert version is not None
    return _described(connection, knowledge_base, Selected(template, version), links, now)


def _described(
    connection: Connection,
    knowledge_base: Record,
    selected: Selected,
    links: attachments.Links,
    now: float,
) -> dict[str, Any]:
    found = attachments.views(connection, selected, links, now)
    return {"messageTemplate": describe(knowledge_base, selected, attachments=found)}


def list_page(
    connection: Connection,
    scope: Scope,
    knowledge_base: Record,
    identifier: str,
    max_results: int,
    next_token: str | None,
) -> Page:
    template, _ = require(connection, scope, knowledge_base, identifier)
    query = select(message_template_versions).where(
        message_template_versions.c.template_id == template.id
    )

    def view(version: Record) -> dict[str, Any]:
        return {
            "messageTemplateArn": f"{template.arn}:{version.version}",
            "messageTemplateId": template.id,
            "knowledgeBaseArn": knowledge_base.arn,
            "knowledgeBaseId": knowledge_base.id,
            "name": template.name,
            "channel": template.channel_subtype,
            "channelSubtype": template.channel_subtype,
            "isActive": template.active_version == version.version,
            "versionNumber": version.version,
        }

    return page_after(
        connection,
        query,
        message_template_versions.c.version,
        message_template_versions.c.template_id,
        max_results,
        next_token,
        view,
        error_code="ValidationException",
    )


def activate(
    connection: Connection, scope: Scope, knowledge_base: Record, params: dict[str, Any]
) -> dict[str, Any]:
    template, number = _version(connection, scope, knowledge_base, params)
    _set_active(connection, template, number)
    return _answer(template, number)


def deactivate(
    connection: Connection, scope: Scope, knowledge_base: Record, params: dict[str, Any]
) -> dict[str, Any]:
    template, number = _version(connection, scope, knowledge_base, params)
    if template.active_version != number:
        raise conflict(f"Version {number} of message template {template.id} is not active.")
    _set_active(connection, template, None)
    return _answer(template, number)


def _version(
    connection: Connection, scope: Scope, knowledge_base: Record, params: dict[str, Any]
) -> tuple[Record, int]:
    template, _ = require(connection, scope, knowledge_base, params["messageTemplateId"])
    number = int(params["versionNumber"])
    if version_row(connection, template, number) is None:
        raise not_found("Message template version", f"{template.id}:{number}")
    return template, number


def _set_active(connection: Connection, template: Record, number: int | None) -> None:
    connection.execute(
        update(message_templates)
        .where(message_templates.c.id == template.id)
        .values(active_version=number)
    )
    knowledge_bases.content_changed(connection, template.knowledge_base_id, time.time())


def _answer(template: Record, number: int) -> dict[str, Any]:
    return {
        "messageTemplateArn": f"{template.arn}:{number}",
        "messageTemplateId": template.id,
        "versionNumber": number,
    }
