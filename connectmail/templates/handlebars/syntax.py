"""The syntax tree of a Handlebars template, shaped as Handlebars.js shapes its own AST.

Blocks keep Handlebars' layout (an inverted block `{{^x}}` has its body as the inverse, an
`{{else if}}` chain is a chained inverse holding one block) so that whitespace control and
rendering can follow Handlebars.js step by step.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# Handlebars' built-ins (but `with`), then the helpers of helpers.py: what a template may call.
BUILT_IN_HELPERS = frozenset({"if", "unless", "each", "lookup", "log"})
BLOCK_HELPERS = frozenset({"if", "unless", "each"})  # built-ins used only as blocks
CONDITIONAL_HELPERS = frozenset({"and", "eq", "gt", "gte", "lt", "lte", "neq", "not", "or"})
STRING_HELPERS = frozenset(
    {
        "abbreviate",
        "capitalize",
        "capitalizeFirst",
        "center",
        "cut",
        "inflect",
        "join",
        "ljust",
        "lower",
        "ordinalize",
        "replace",
        "rjust",
        "slugify",
        "stripTags",
        "substring",
        "upper",
        "yesno",
    }
)
MATH_HELPERS = frozenset(
    {"add", "ceiling", "divide", "floor", "mod", "multiply", "round", "subtract"}
)
HELPERS = BUILT_IN_HELPERS | CONDITIONAL_HELPERS | STRING_HELPERS | MATH_HELPERS


class TemplateError(ValueError):
    """A template that cannot be read, or one that fails while rendering."""


class _Undefined:
    """What a path names when nothing is there (JavaScript's `undefined`)."""

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED: Any = _Undefined()


# The nodes are slotted and not frozen: a template of a few megabytes has a few hundred thousand
# of them, and a frozen dataclass takes three times as long to build. Nothing changes a node
# once the parser has made it but whitespace control, which trims the `Text` nodes.


@dataclass(slots=True)
class Path:
    original: str
    parts: tuple[str, ...]
    depth: int = 0  # how many `../`
    data: bool = False  # an `@variable`
    scoped: bool = False  # starts with `this`, `.` or `../`: never a helper or block parameter

    @property
    def helper_name(self) -> str | None:
        if not self.data and not self.scoped and self.depth == 0 and len(self.parts) == 1:
            return self.parts[0]
        return None


@dataclass(slots=True)
class Literal:
    value: Any


@dataclass(slots=True, init=False)
class Call:
    head: Expression
    params: tuple[Expression, ...]
    hash: tuple[tuple[str, Expression], ...]
    helper: str | None  # the helper the head names, if it names one (found once, read often)

    def __init__(
        self,
        head: Expression,
        params: tuple[Expression, ...] = (),
        hash: tuple[tuple[str, Expression], ...] = (),
    ) -> None:
        self.head, self.params, self.hash = head, params, hash
        name = head.helper_name if isinstance(head, Path) else None
        self.helper = name if name in HELPERS else None


Expression = Path | Literal | Call


@dataclass(frozen=True)
class Strip:
    """The `~` marks of a tag: on its opening (`{{~`) and its closing (`~}}`) side."""

    open: bool = False
    close: bool = False


NO_STRIP = Strip()


@dataclass(slots=True, init=False)
class Text:
    original: str
    value: str
    left_stripped: bool
    right_stripped: bool

    def __init__(self, original: str) -> None:
        self.original = self.value = original
        self.left_stripped = self.right_stripped = False


@dataclass(slots=True)
class Comment:
    strip: Strip


@dataclass(slots=True)
class Mustache:
    call: Call
    escaped: bool
    source: str
    strip: Strip


@dataclass(slots=True)
class Program:
    body: list[Node] = field(default_factory=list)
    chained: bool = False  # the inverse of an `{{else if ...}}`: holds that one block


@dataclass(slots=True)
class Block:
    call: Call
    source: str
    block_params: tuple[str, ...]
    program: Program | None
    inverse: Program | None
    open_strip: Strip
    inverse_strip: Strip = NO_STRIP
    close_strip: Strip = NO_STRIP


Node = Text | Comment | Mustache | Block


@dataclass(frozen=True)
class Template:
    """A parsed template; render it as many times as needed."""

    root: Program

    def paths(self) -> Iterator[Path]:
        """Every path the template names, in order (to find what attributes it uses)."""
        yield from _program_paths(self.root)


def _program_paths(program: Program | None) -> Iterator[Path]:
    for node in program.body if program is not None else ():
        if isinstance(node, Mustache):
            yield from _expression_paths(node.call)
        elif isinstance(node, Block):
            yield from _expression_paths(node.call)
            yield from _program_paths(node.program)
            yield from _program_paths(node.inverse)


def _expression_paths(expression: Expression) -> Iterator[Path]:
    if isinstance(expression, Path):
        yield expression
    elif isinstance(expression, Call):
        if expression.helper is None:
            yield from _expression_paths(expression.head)
        for param in expression.params:
            yield from _expression_paths(param)
        for _, value in expression.hash:
            yield from _expression_paths(value)
