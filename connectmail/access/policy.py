"""IAM-style policy documents that limit an access key to actions and resources.

The subset of IAM that matters for one service: statements with Effect Allow or Deny, Action
and Resource (strings or lists, `*` and `?` wildcards, case-insensitive actions). An explicit
Deny wins; anything not allowed is denied. A key without a policy may do anything within its
own account.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from connectmail.errors import ServiceError


class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class Statement:
    allow: bool
    actions: tuple[re.Pattern[str], ...]
    resources: tuple[re.Pattern[str], ...]

    def matches(self, action: str, resource: str) -> bool:
        return any(p.fullmatch(action) for p in self.actions) and any(
            p.fullmatch(resource) for p in self.resources
        )


@dataclass(frozen=True)
class Policy:
    statements: tuple[Statement, ...]

    def allows(self, action: str, resource: str) -> bool:
        allowed = False
        for statement in self.statements:
            if statement.matches(action, resource):
                if not statement.allow:
                    return False
                allowed = True
        return allowed

    def check(self, action: str, resource: str) -> None:
        if not self.allows(action, resource):
            raise ServiceError(
                "AccessDeniedException",
                f"You are not authorized to perform {action} on resource {resource}.",
            )


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, 0 if case_sensitive else re.IGNORECASE)


def _strings(value: Any, field: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise PolicyError(f"{field} must be a string or a non-empty list of strings")
    return tuple(items)


def parse_policy(document: Any) -> Policy:
    """Validate a policy document (a dict) and compile it; raise PolicyError if malformed."""
    if not isinstance(document, dict):
        raise PolicyError("a policy must be a JSON object")
    unknown = set(document) - {"Version", "Id", "Statement"}
    if unknown:
        raise PolicyError(f"unsupported policy elements: {', '.join(sorted(unknown))}")
    if document.get("Version", "2012-10-17") not in ("2012-10-17", "2008-10-17"):
        raise PolicyError("Version must be 2012-10-17 (or 2008-10-17)")
    raw = document.get("Statement")
    statements = [raw] if isinstance(raw, dict) else raw
    if not isinstance(statements, list) or not statements:
        raise PolicyError("Statement must be an object or a non-empty list")
    compiled = []
    for statement in statements:
        if not isinstance(statement, dict):
            raise PolicyError("each statement must be an object")
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError("Effect must be Allow or Deny")
        unsupported = set(statement) - {"Sid", "Effect", "Action", "Resource"}
        if unsupported:
            raise PolicyError(f"unsupported statement elements: {', '.join(sorted(unsupported))}")
        compiled.append(
            Statement(
                allow=effect == "Allow",
                actions=tuple(
                    _wildcard(a, False) for a in _strings(statement.get("Action"), "Action")
                ),
                resources=tuple(
                    # Required, as IAM requires it: a statement without one is not "every
                    # resource" but a mistake.
                    _wildcard(r, True)
                    for r in _strings(statement.get("Resource"), "Resource")
                ),
            )
        )
    return Policy(tuple(compiled))
