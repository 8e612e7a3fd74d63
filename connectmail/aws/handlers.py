"""Registering handlers under the operation names of a service model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from connectmail.aws.api import Handler

F = TypeVar("F", bound=Callable[..., Any])
_ATTRIBUTE = "__aws_operation__"


def operation(name: str) -> Callable[[F], F]:
    """Mark a method as the handler of the model operation `name`."""

    def mark(method: F) -> F:
        setattr(method, _ATTRIBUTE, name)
        return method

    return mark


def bind(*objects: object) -> dict[str, Handler]:
    """The marked methods of `objects`, by operation name."""
    handlers: dict[str, Handler] = {}
    for obj in objects:
        for attribute in dir(type(obj)):
            name = getattr(getattr(type(obj), attribute), _ATTRIBUTE, None)
            if name is not None:
                if name in handlers:
                    raise ValueError(f"two handlers for {name}")
                handlers[name] = getattr(obj, attribute)
    return handlers
