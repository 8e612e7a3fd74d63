"""Identifiers of knowledge bases and message templates: IDs, ARNs and version qualifiers.

A knowledge base is named by its ID or `arn:aws:wisdom:REGION:ACCOUNT:knowledge-base/ID`; a
message template by its ID or `arn:aws:wisdom:REGION:ACCOUNT:message-template/KB/ID`, either
followed by `:$LATEST`, `:$ACTIVE_VERSION` or `:N` (a version number).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LATEST = "$LATEST"
ACTIVE_VERSION = "$ACTIVE_VERSION"

_UUID = r"[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}"
_QUALIFIER = r"(?::(\$LATEST|\$ACTIVE_VERSION|[1-9][0-9]{0,8}))?"
_KNOWLEDGE_BASE_ID = re.compile(_UUID)
_KNOWLEDGE_BASE_ARN = re.compile(
    rf"arn:[a-z-]+:wisdom:([a-z0-9-]*):([0-9]{{12}}):knowledge-base/({_UUID})"
)
_TEMPLATE_ID = re.compile(rf"({_UUID}){_QUALIFIER}")
_TEMPLATE_ARN = re.compile(
    rf"arn:[a-z-]+:wisdom:([a-z0-9-]*):([0-9]{{12}}):message-template/({_UUID})/({_UUID})"
    rf"{_QUALIFIER}"
)


@dataclass(frozen=True)
class Scope:
    """Where a request looks: identifiers from elsewhere name nothing."""

    account_id: str
    region: str


def knowledge_base_arn(scope: Scope, knowledge_base_id: str) -> str:
    return f"arn:aws:wisdom:{scope.region}:{scope.account_id}:knowledge-base/{knowledge_base_id}"


def template_arn(
    scope: Scope, knowledge_base_id: str, template_id: str, version: int | None = None
) -> str:
    arn = (
        f"arn:aws:wisdom:{scope.region}:{scope.account_id}:message-template/"
        f"{knowledge_base_id}/{template_id}"
    )
    return arn if version is None else f"{arn}:{version}"


def knowledge_base_id(scope: Scope, identifier: str) -> str | None:
    """The ID an identifier names in this scope, or None if it names none."""
    if _KNOWLEDGE_BASE_ID.fullmatch(identifier):
        return identifier
    found = _KNOWLEDGE_BASE_ARN.fullmatch(identifier)
    if found is None or (found.group(1), found.group(2)) != (scope.region, scope.account_id):
        return None
    return found.group(3)


@dataclass(frozen=True)
class TemplateRef:
    template_id: str
    qualifier: str | None  # None, $LATEST, $ACTIVE_VERSION or the digits of a version
    knowledge_base_id: str | None = None  # when given as an ARN

    @property
    def version(self) -> int | None:
        return int(self.qualifier) if self.qualifier and self.qualifier.isdigit() else None


def template_ref(scope: Scope, identifier: str) -> TemplateRef | None:
    """What a template identifier names in this scope, or None if it names none."""
    found = _TEMPLATE_ID.fullmatch(identifier)
    if found is not None:
        return TemplateRef(found.group(1), found.group(2))
    found = _TEMPLATE_ARN.fullmatch(identifier)
    if found is None or (found.group(1), found.group(2)) != (scope.region, scope.account_id):
        return None
    return TemplateRef(found.group(4), found.group(5), found.group(3))


def principal_arn(account_id: str) -> str:
    """Who changed a template, as `lastModifiedBy` shows it."""
    return f"arn:aws:iam::{account_id}:root"
