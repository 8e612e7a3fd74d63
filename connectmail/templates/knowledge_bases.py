"""Knowledge bases: the containers of message templates (type MESSAGE_TEMPLATES).

Amazon Q in Connect has other kinds (external, custom, quick responses, managed); connectmail
keeps only message templates, so CreateKnowledgeBase accepts only that type.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, case, delete, insert, select, update

from connectmail.domain import arns
from connectmail.domain.pagination import Page, page_after
from connectmail.jsontext import dumps, loads
from connectmail.store.tables import Record
from connectmail.store.tables_templates import (
    knowledge_bases,
    message_template_versions,
    message_templates,
)
from connectmail.templates import identifiers, tags
from connectmail.templates.errors import not_found, validation
from connectmail.templates.identifiers import Scope

MESSAGE_TEMPLATES = "MESSAGE_TEMPLATES"
# Members of CreateKnowledgeBase kept as given and shown back by GetKnowledgeBase.
_CONFIGURATION = (
    "sourceConfiguration",
    "renderingConfiguration",
    "vectorIngestionConfiguration",
    "serverSideEncryptionConfiguration",
)


def create(
    connection: Connection, scope: Scope, params: dict[str, Any], now: float
) -> dict[str, Any]:
    if params["knowledgeBaseType"] != MESSAGE_TEMPLATES:
        raise validation(
            f"connectmail keeps only {MESSAGE_TEMPLATES} knowledge bases, "
            f"not {params['knowledgeBaseType']}."
        )
    tags.check(params.get("tags") or {})
    knowledge_base_id = arns.new_id()
    configuration = {key: params[key] for key in _CONFIGURATION if key in params}
    connection.execute(
        insert(knowledge_bases).values(
            id=knowledge_base_id,
            account_id=scope.account_id,
            region=scope.region,
            arn=identifiers.knowledge_base_arn(scope, knowledge_base_id),
            name=params["name"],
            description=params.get("description"),
            knowledge_base_type=params["knowledgeBaseType"],
            configuration=dumps(configuration),
            tags=dumps(params.get("tags") or {}),
            created_at=now,
            modified_at=now,
        )
    )
    return {"knowledgeBase": describe(require(connection, scope, knowledge_base_id))}


# Built once: every TEMPLATE email looks its knowledge base up, and building the statement
# costs more than running it.
FIND = select(knowledge_bases).where(
    (knowledge_bases.c.id == bindparam("id"))
    & (knowledge_bases.c.account_id == bindparam("account_id"))
    & (knowledge_bases.c.region == bindparam("region"))
)


def find(connection: Connection, scope: Scope, identifier: str) -> Record | None:
    knowledge_base_id = identifiers.knowledge_base_id(scope, identifier)
    if knowledge_base_id is None:
        return None
    return connection.execute(
        FIND, {"id": knowledge_base_id, "account_id": scope.account_id, "region": scope.region}
    ).first()


def require(connection: Connection, scope: Scope, identifier: str) -> Record:
    """The knowledge base named by ID or ARN in this account and region."""
    row = find(connection, scope, identifier)
    if row is None:
        raise not_found("Knowledge base", identifier)
    return row


def describe(row: Record) -> dict[str, Any]:
    view = summary(row)
    if row.content_modified_at is not None:
        view["lastContentModificationTime"] = _time(row.content_modified_at)
    return view


def summary(row: Record) -> dict[str, Any]:
    view: dict[str, Any] = {
        "knowledgeBaseId": row.id,
        "knowledgeBaseArn": row.arn,
        "name": row.name,
        "knowledgeBaseType": row.knowledge_base_type,
        "status": "ACTIVE",
        "description": row.description,
        "tags": loads(row.tags) or None,
        "lastModifiedTime": _time(row.modified_at),
        "lastModifiedRegion": row.region,
    }
    view.update(loads(row.configuration))
    return view


def list_page(
    connection: Connection, scope: Scope, max_results: int, next_token: str | None
) -> Page:
    query = select(knowledge_bases).where(
        (knowledge_bases.c.account_id == scope.account_id)
        & (knowledge_bases.c.region == scope.region)
    )
    return page_after(
        connection,
        query,
        knowledge_bases.c.created_at,
        knowledge_bases.c.id,
        max_results,
        next_token,
        summary,
        error_code="ValidationException",
    )


def content_changed(connection: Connection, knowledge_base_id: str, now: float) -> None:
    """Its templates changed at `now`: the knowledge base's lastContentModificationTime,
    which is unset once it has no template left, as in Amazon Q in Connect."""
    has_content = (
        select(message_templates.c.id)
        .where(message_templates.c.knowledge_base_id == knowledge_base_id)
        .exists()
    )
    connection.execute(
        update(knowledge_bases)
        .where(knowledge_bases.c.id == knowledge_base_id)
        .values(content_modified_at=case((has_content, now), else_=None))
    )


def remove(connection: Connection, row: Record) -> None:
    """Delete the knowledge base with its templates and their versions."""
    template_ids = select(message_templates.c.id).where(
        message_templates.c.knowledge_base_id == row.id
    )
    connection.execute(
        delete(message_template_versions).where(
            message_template_versions.c.template_id.in_(template_ids)
        )
    )
    connection.execute(
        delete(message_templates).where(message_templates.c.knowledge_base_id == row.id)
    )
    connection.execute(delete(knowledge_bases).where(knowledge_bases.c.id == row.id))


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
