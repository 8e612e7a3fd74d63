"""The resource a request acts on, as an ARN, for checking it against a key's policy.

Read from the request's identifiers the way IAM's resource types for Amazon Connect and
Amazon Q in Connect name them; an operation that names no existing resource (CreateInstance,
ListInstances) acts on `*`.
"""

from __future__ import annotations

from typing import Any

from connectmail.domain import arns

# Members naming a child of an instance, most specific first: (member, ARN path segment). An
# attached file's operations act on its contact, which AssociatedResourceArn names.
_CONNECT_CHILDREN = (
    ("ContactId", "contact"),
    ("InitialContactId", "contact"),
    ("EmailAddressId", "email-address"),
    ("AssociatedResourceArn", "contact"),
)
_WISDOM_CHILDREN = (("messageTemplateId", "message-template"),)
# Contacts a request reads besides the one it acts on (a reply copies what it answers).
_READ_CONTACTS = ("RelatedContactId", "PreviousContactId")


def resource_arns(service: str, region: str, account_id: str, params: dict[str, Any]) -> list[str]:
    """Every resource a key's policy must allow the request on: the most specific one its
    identifiers name, and each other contact it reads."""
    if service == "qconnect":
        return [_wisdom_arn(region, account_id, params)]
    if isinstance(params.get("resourceArn"), str):  # TagResource and the like name it whole
        return [params["resourceArn"]]
    instance = params.get("InstanceId")
    if not isinstance(instance, str):
        return ["*"]
    base = arns.instance_arn(region, account_id, arns.resource_id(instance, "instance"))

    def child(kind: str, value: str) -> str:
        return arns.instance_child_arn(base, kind, arns.resource_id(value, kind))

    named = [(kind, params.get(member)) for member, kind in _CONNECT_CHILDREN]
    acted_on = next((child(k, v) for k, v in named if isinstance(v, str)), base)
    read = [params.get(member) for member in _READ_CONTACTS]
    return [acted_on, *(child("contact", v) for v in read if isinstance(v, str))]


def _wisdom_arn(region: str, account_id: str, params: dict[str, Any]) -> str:
    knowledge_base = params.get("knowledgeBaseId")
    if not isinstance(knowledge_base, str):
        return str(params.get("resourceArn") or "*")
    kb_id = (
        knowledge_base.rsplit("/", 1)[-1] if knowledge_base.startswith("arn:") else knowledge_base
    )
    for member, kind in _WISDOM_CHILDREN:
        value = params.get(member)
        if isinstance(value, str):
            template_id = value.rsplit("/", 1)[-1].split(":", 1)[0]
            return f"arn:aws:wisdom:{region}:{account_id}:{kind}/{kb_id}/{template_id}"
    return f"arn:aws:wisdom:{region}:{account_id}:knowledge-base/{kb_id}"
