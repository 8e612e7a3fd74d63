"""Identifiers and Amazon Resource Names as Amazon Connect forms them."""

from __future__ import annotations

import os
import time
import uuid


def new_id() -> str:
    """A UUID (version 7): random like AWS's ids, but ordered by creation time, so the rows
    made together share index pages instead of touching a random page each."""
    milliseconds = time.time_ns() // 1_000_000
    value = (milliseconds & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(os.urandom(10))
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def instance_arn(region: str, account_id: str, instance_id: str) -> str:
    return f"arn:aws:connect:{region}:{account_id}:instance/{instance_id}"


def instance_child_arn(instance: str, kind: str, child_id: str) -> str:
    """`instance` is the instance ARN; `kind` is e.g. `contact` or `email-address`."""
    return f"{instance}/{kind}/{child_id}"


def names(identifier: str, arn: str) -> bool:
    """Whether `identifier` (an ID or an ARN) names the resource whose ARN is `arn`: an ARN
    must be that ARN (partition, service, region, account and instance), not only end in the
    resource's ID."""
    return not identifier.startswith("arn:") or identifier == arn


def resource_id(identifier: str, kind: str) -> str:
    """Accept an ID or an ARN (`.../instance/ID` or `.../KIND/ID`) and return the ID."""
    if identifier.startswith("arn:"):
        marker = f"/{kind}/" if kind != "instance" else ":instance/"
        if marker in identifier:
            return identifier.split(marker, 1)[1].split("/", 1)[0]
    return identifier
