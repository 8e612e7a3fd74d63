"""Identifiers and Amazon Resource Names as Amazon Connect forms them."""

from __future__ import annotations

import uuid


def new_id() -> str:
    return str(uuid.uuid4())


def instance_arn(region: str, account_id: str, instance_id: str) -> str:
    return f"arn:aws:connect:{region}:{account_id}:instance/{instance_id}"


def instance_child_arn(instance: str, kind: str, child_id: str) -> str:
    """`instance` is the instance ARN; `kind` is e.g. `contact` or `email-address`."""
    return f"{instance}/{kind}/{child_id}"


def resource_id(identifier: str, kind: str) -> str:
    """Accept an ID or an ARN (`.../instance/ID` or `.../KIND/ID`) and return the ID."""
    if identifier.startswith("arn:"):
        marker = f"/{kind}/" if kind != "instance" else ":instance/"
        if marker in identifier:
            return identifier.split(marker, 1)[1].split("/", 1)[0]
    return identifier
