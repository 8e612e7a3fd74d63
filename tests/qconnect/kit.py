"""Short ways to make what template tests need: a knowledge base, email content, templates."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

# A text that renders past the renderer's 20,000,000 characters with TOO_LONG_VALUES as custom
# attributes: `each` in `each` in `each` over 15 values of 32,767 characters, 110,000,000.
TOO_LONG_TEXT = (
    "{{#each Attributes.Custom}}{{#each @root.Attributes.Custom}}"
    "{{#each @root.Attributes.Custom}}{{this}}{{/each}}{{/each}}{{/each}}"
)
TOO_LONG_VALUES = {f"k{n:02}": "v" * 32767 for n in range(15)}


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def error_message(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Message"])


def email_content(
    subject: str = "Hello {{Attributes.Customer.FirstName}}",
    *,
    html: str | None = "<p>Hello {{Attributes.Customer.FirstName}}</p>",
    text: str | None = "Hello {{Attributes.Customer.FirstName}}",
    headers: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if html is not None:
        body["html"] = {"content": html}
    if text is not None:
        body["plainText"] = {"content": text}
    email: dict[str, Any] = {"subject": subject, "body": body}
    if headers is not None:
        email["headers"] = headers
    return {"email": email}


def unique_name(prefix: str = "template") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class KnowledgeBase:
    """A MESSAGE_TEMPLATES knowledge base and the qconnect client that made it."""

    client: Any
    id: str
    arn: str

    def create_template(self, **params: Any) -> dict[str, Any]:
        request: dict[str, Any] = {
            "knowledgeBaseId": self.id,
            "name": unique_name(),
            "channelSubtype": "EMAIL",
            "content": email_content(),
        }
        request.update(params)
        template: dict[str, Any] = self.client.create_message_template(**request)["messageTemplate"]
        return template

    def get(self, template_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.client.get_message_template(
            knowledgeBaseId=self.id, messageTemplateId=template_id
        )["messageTemplate"]
        return found

    def attach(self, template_id: str, name: str, data: bytes, **extra: Any) -> Any:
        """CreateMessageTemplateAttachment; its `attachment`."""
        return self.client.create_message_template_attachment(
            knowledgeBaseId=self.id,
            messageTemplateId=template_id,
            contentDisposition="ATTACHMENT",
            name=name,
            body=base64.b64encode(data).decode(),
            **extra,
        )["attachment"]

    def detach(self, template_id: str, attachment_id: str) -> None:
        self.client.delete_message_template_attachment(
            knowledgeBaseId=self.id, messageTemplateId=template_id, attachmentId=attachment_id
        )

    def version(self, template_id: str) -> dict[str, Any]:
        made: dict[str, Any] = self.client.create_message_template_version(
            knowledgeBaseId=self.id, messageTemplateId=template_id
        )["messageTemplate"]
        return made

    def activate(self, template_id: str, version: int) -> None:
        self.client.activate_message_template(
            knowledgeBaseId=self.id, messageTemplateId=template_id, versionNumber=version
        )

    def render(self, template_id: str, **attributes: Any) -> dict[str, Any]:
        rendered: dict[str, Any] = self.client.render_message_template(
            knowledgeBaseId=self.id, messageTemplateId=template_id, attributes=attributes
        )
        return rendered


def make_knowledge_base(client: Any, name: str | None = None) -> KnowledgeBase:
    created = client.create_knowledge_base(
        name=name or unique_name("kb"), knowledgeBaseType="MESSAGE_TEMPLATES"
    )["knowledgeBase"]
    return KnowledgeBase(client, created["knowledgeBaseId"], created["knowledgeBaseArn"])


def search_all(kb: KnowledgeBase, page_size: int = 2, **expression: Any) -> list[dict[str, Any]]:
    """Every result of SearchMessageTemplates, read `page_size` at a time."""
    results: list[dict[str, Any]] = [
        result
        for page in kb.client.get_paginator("search_message_templates").paginate(
            knowledgeBaseId=kb.id,
            searchExpression=expression,
            PaginationConfig={"PageSize": page_size},
        )
        for result in page["results"]
    ]
    return results
