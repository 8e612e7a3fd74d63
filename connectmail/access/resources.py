"""The resource a request acts on, as an ARN, for checking it against a key's policy.

Read from the request's identifiers the way IAM's resource types for Amazon Connect and
Amazon Q in Connect name them; an operation that names no existing resource (CreateInstance,
ListInstances) acts on `*`.
"""

from __future__ import annotations

from typing import Any

from connectmail.domain import arns

# Members naming a child of an instance, most specific first: (member, ARN path segment).
_CONNECT_CHILDREN = (
    ("ContactId", "contact"),
    ("EmailAddressId", "email-address"),
)
_WISDOM_CHILDREN = (("messageTemplateId", "message-template"),)
# The contact an attached file belongs to: the resource of the file's operations.
_FILE_OWNER = "AssociatedResourceArn"
# Contacts a request reads besides the one it acts on (a reply copies what it answers).
_READ_CONTACTS = ("RelatedContactId", "PreviousContactId")


def resource_arns(service: str, region: str, account_id: str, params: dict[str, Any]) -> list[str]:
    """Every resource a key's policy must allow the request on: the one it acts on (the
    attached file's contact, else as `resource_arn` says) and each other contact it names."""
    acted_on = resource_arn(service, region, account_id, params)
    instance = params.get("InstanceId")
    if service == "qconnect" or not isinstance(instance, str):
        return [acted_on]
    base = arns.instance_arn(region, account_id, arns.resource_id(instance, "instance"))
    owner = params.get(_FILE_OWNER)
    if acted_on == base and isinstance(owner, str):
        acted_on = arns.instance_child_arn(base, "contact", arns.resource_id(owner, "contact"))
    read = [
        arns.instance_child_arn(base, "contact", arns.resource_id(value, "contact"))
        for value in (params.get(member) for member in _READ_CONTACTS)
        if isinstance(value, str)
    ]
    return [acted_on, *read]


def resource_arn(service: str, region: str, account_id: str, params: dict[str, Any]) -> str:
    if service == "qconnect":
        return _wisdom_arn(region, account_id, params)
    instance = params.get("InstanceId")
    if not isinstance(instance, str):
        return "*"
    base = arns.instance_arn(region, account_id, arns.resource_id(instance, "instance"))
    for member, kind in _CONNECT_CHILDREN:
        value = params.get(member)
        if isinstance(value, str):
            return arns.instance_child_arn(base, kind, arns.resource_id(value, kind))
    return base


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
