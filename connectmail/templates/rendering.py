"""Rendering a template's content with attributes: every part, and what had no value."""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

from connectmail.templates import handlebars
from connectmail.templates.attributes import Context
from connectmail.templates.content import parts


@dataclass(frozen=True)
class RenderedContent:
    content: dict[str, Any]
    # The placeholders that had no value, in order: each is still in the content as written.
    missing: list[str]


def render_content(content: dict[str, Any], context: Context) -> RenderedContent:
    """The content with each part rendered; only the HTML body escapes `{{x}}`."""
    rendered = copy.deepcopy(content)
    missing: dict[str, None] = {}
    for part in parts(content):
        result = handlebars.render(_parsed(part.text), context, escape=part.html)
        _put(rendered, part.where, result.text)
        for name in result.missing:
            missing.setdefault(name, None)
    return RenderedContent(rendered, list(missing))


# The same few templates render again and again (every TEMPLATE email parses its parts):
# parsed templates are kept, those of up to 64k characters, the last 256 used.
_CACHED_PARSE_CHARACTERS = 64 * 1024


@functools.lru_cache(maxsize=256)
def _parsed_cached(text: str) -> handlebars.Template:
    return handlebars.parse(text)


def _parsed(text: str) -> handlebars.Template:
    if len(text) > _CACHED_PARSE_CHARACTERS:
        return handlebars.parse(text)
    return _parsed_cached(text)


def _put(target: Any, where: tuple[str | int, ...], value: str) -> None:
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = value
