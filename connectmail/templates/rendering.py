"""Rendering a template's content with attributes: every part, and what had no value."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connectmail.errors import ServiceError
from connectmail.templates import handlebars, parsed
from connectmail.templates.attributes import Context
from connectmail.templates.content import parts
from connectmail.templates.errors import validation


@dataclass(frozen=True)
class RenderedContent:
    content: dict[str, Any]
    # The placeholders that had no value, in order: each is still in the content as written.
    missing: list[str]


def render_content(
    content: dict[str, Any],
    context: Context,
    *,
    error: Callable[[str], ServiceError] = validation,
) -> RenderedContent:
    """The content with each part rendered; only the HTML body escapes `{{x}}`.

    A part that renders too long (`each` within `each` can multiply a template many times)
    is refused with `error`: qconnect's ValidationException unless the caller says otherwise.
    """
    rendered = copy.deepcopy(content)
    missing: dict[str, None] = {}
    for part in parts(content):
        try:
            result = handlebars.render(parsed.parse(part.text), context, escape=part.html)
        except handlebars.TemplateError as problem:
            raise error(f"content.{part.name} cannot be rendered: {problem}.") from None
        _put(rendered, part.where, result.text)
        for name in result.missing:
            missing.setdefault(name, None)
    return RenderedContent(rendered, list(missing))


def _put(target: Any, where: tuple[str | int, ...], value: str) -> None:
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = value
