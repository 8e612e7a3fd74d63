"""Rendering a parsed template with a context, with Handlebars.js's semantics for values.

Truthiness, printing and `{{x}}` escaping follow Handlebars.js. Two things differ on
purpose: `each` visits at most MAX_EACH_ITEMS items (AWS's limit), and a `{{path}}` that
names nothing keeps its own source text in the output and is reported in `missing`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectmail.templates.handlebars import helpers
from connectmail.templates.handlebars.syntax import (
    CONDITIONAL_HELPERS,
    UNDEFINED,
    Block,
    Call,
    Comment,
    Expression,
    Literal,
    Mustache,
    Path,
    Program,
    Template,
    TemplateError,
    Text,
)
from connectmail.templates.handlebars.values import (
    get_property,
    is_js_truthy,
    is_truthy,
    object_keys,
    to_text,
)

MAX_EACH_ITEMS = 15
MAX_OUTPUT_CHARS = 20_000_000

_HTML_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "'": "&#x27;",
        "`": "&#x60;",
        "=": "&#x3D;",
    }
)


@dataclass
class Rendered:
    """The output, and the paths that had no value (left in the output as written)."""

    text: str
    missing: list[str]


def render(template: Template, context: Any, *, escape: bool) -> Rendered:
    """Render with `context`; `escape` turns on HTML escaping of `{{x}}` (for HTML bodies)."""
    renderer = _Renderer(escape)
    text = renderer.program(template.root, _Scope(context, data={"root": context}))
    return Rendered(text, list(renderer.missing))


def escape_html(text: str) -> str:
    """Handlebars' escapeExpression: & < > " ' ` = become character references."""
    return text.translate(_HTML_ESCAPES)


def lookup(value: Any, key: Any) -> Any:
    """Handlebars' `lookup` helper: `value[key]`, or `value` itself when it is falsy."""
    if not is_js_truthy(value):
        return value
    return get_property(value, key)


@dataclass(frozen=True)
class _Scope:
    context: Any
    parent: _Scope | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    block_params: Mapping[str, Any] = field(default_factory=dict)


Section = Callable[[_Scope], str]


class _Renderer:
    def __init__(self, escape: bool) -> None:
        self.escape = escape
        self.missing: dict[str, None] = {}
        self.size = 0

    def program(self, program: Program | None, scope: _Scope) -> str:
        out: list[str] = []
        for node in program.body if program is not None else ():
            if isinstance(node, Text):
                piece = node.value
            elif isinstance(node, Comment):
                continue
            elif isinstance(node, Mustache):
                piece = self.mustache(node, scope)
            else:
                piece = self.block(node, scope)
            self.size += len(piece)
            if self.size > MAX_OUTPUT_CHARS:
                raise TemplateError(f"the rendered text exceeds {MAX_OUTPUT_CHARS} characters")
            out.append(piece)
        return "".join(out)

    def mustache(self, node: Mustache, scope: _Scope) -> str:
        call = node.call
        if call.helper is not None:
            value = self.invoke(call, scope)
        else:
            value = self.evaluate(call.head, scope)
            if value is UNDEFINED and isinstance(call.head, Path):
                self.missing.setdefault(call.head.original, None)
                return node.source
        text = to_text(value)
        return escape_html(text) if node.escaped and self.escape else text

    def block(self, node: Block, scope: _Scope) -> str:
        def fn(inner: _Scope) -> str:
            return self.program(node.program, inner)

        def inverse(inner: _Scope) -> str:
            return self.program(node.inverse, inner)

        call = node.call
        if call.helper in ("if", "unless"):
            condition = self.evaluate(call.params[0], scope)
            include_zero = is_truthy(self.hash(call, scope).get("includeZero", False))
            truthy = is_truthy(condition, include_zero)
            if call.helper == "unless":
                truthy = not truthy
            return fn(scope) if truthy else inverse(scope)
        if call.helper == "each":
            return self.each(self.evaluate(call.params[0], scope), node, scope, fn, inverse)
        if call.helper in CONDITIONAL_HELPERS:
            return fn(scope) if is_truthy(self.invoke(call, scope)) else inverse(scope)
        # A block on a value: Handlebars' blockHelperMissing.
        value = self.evaluate(call.head, scope)
        if value is True:
            return fn(scope)
        if value is False or value is None or value is UNDEFINED:
            return inverse(scope)
        if isinstance(value, list | tuple):
            return self.each(value, node, scope, fn, inverse) if value else inverse(scope)
        return fn(_Scope(value, scope, scope.data))

    def each(self, items: Any, node: Block, scope: _Scope, fn: Section, inverse: Section) -> str:
        entries: list[tuple[Any, Any]]
        if isinstance(items, list | tuple):
            entries = list(enumerate(items[:MAX_EACH_ITEMS]))
        elif isinstance(items, Mapping):
            keys = itertools.islice(object_keys(items), MAX_EACH_ITEMS)
            entries = [(key, items[key]) for key in keys]
        else:
            entries = []
        if not entries:
            return inverse(scope)
        out: list[str] = []
        last = len(entries) - 1
        for index, (key, value) in enumerate(entries):
            # A data frame of its own, over the enclosing one (what `@../index` reads).
            data = {**scope.data, "_parent": scope.data}
            data.update(key=key, index=index, first=index == 0, last=index == last)
            params: dict[str, Any] = {}
            if node.block_params:
                params[node.block_params[0]] = value
                if len(node.block_params) > 1:
                    params[node.block_params[1]] = key
            out.append(fn(_Scope(value, scope, data, params)))
        return "".join(out)

    def hash(self, call: Call, scope: _Scope) -> dict[str, Any]:
        return {key: self.evaluate(value, scope) for key, value in call.hash}

    def invoke(self, call: Call, scope: _Scope) -> Any:
        params = [self.evaluate(param, scope) for param in call.params]
        if call.helper == "lookup":
            return lookup(params[0], params[1])
        if call.helper == "log":
            return ""  # nothing to print into the message
        assert call.helper is not None
        return helpers.call(call.helper, params, self.hash(call, scope))

    def evaluate(self, expression: Expression, scope: _Scope) -> Any:
        if isinstance(expression, Literal):
            return expression.value
        if isinstance(expression, Call):
            if expression.helper is not None:
                return self.invoke(expression, scope)
            return self.evaluate(expression.head, scope)
        return self.resolve(expression, scope)

    def resolve(self, path: Path, scope: _Scope) -> Any:
        if path.data:
            frame: Any = scope.data
            for _ in range(path.depth):
                frame = frame.get("_parent") if isinstance(frame, Mapping) else None
            if not isinstance(frame, Mapping):
                return UNDEFINED
            return _walk(frame.get(path.parts[0], UNDEFINED), path.parts[1:])
        if not path.scoped and path.parts:
            searched: _Scope | None = scope
            while searched is not None:
                if path.parts[0] in searched.block_params:
                    return _walk(searched.block_params[path.parts[0]], path.parts[1:])
                searched = searched.parent
        target: _Scope | None = scope
        for _ in range(path.depth):
            target = target.parent if target is not None else None
        if target is None:
            return UNDEFINED
        return _walk(target.context, path.parts)


def _walk(value: Any, parts: Sequence[str]) -> Any:
    for part in parts:
        value = get_property(value, part)
        if value is UNDEFINED:
            break
    return value
