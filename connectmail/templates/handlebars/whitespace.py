"""Whitespace control, as Handlebars.js does it: `~` marks and standalone lines.

A port of Handlebars' `WhitespaceControl` visitor: `~` trims all whitespace on its side of a
tag, and a block, `{{else}}` or comment tag alone on its line takes the whole line with it.
The decisions look at the original text around each tag, as Handlebars' do, so the output
matches Handlebars.js byte for byte (quirks of `{{else if}}` chains included).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from connectmail.templates.handlebars.syntax import (
    Block,
    Comment,
    Mustache,
    Node,
    Program,
    Text,
)

_PREV_LINE = re.compile(r"\r?\n\s*?\Z")
_PREV_LINE_AT_START = re.compile(r"(?:^|\r?\n)\s*?\Z")
_NEXT_LINE = re.compile(r"\s*?\r?\n")
_NEXT_LINE_AT_END = re.compile(r"\s*?(?:\r?\n|\Z)")
_ALL_LEADING = re.compile(r"^\s+")
_LINE_LEADING = re.compile(r"^[ \t]*\r?\n?")
_ALL_TRAILING = re.compile(r"\s+\Z")
_LINE_TRAILING = re.compile(r"[ \t]+\Z")


@dataclass(slots=True)
class _Marks:
    open: bool = False
    close: bool = False
    open_standalone: bool = False
    close_standalone: bool = False
    inline_standalone: bool = False


def apply(root: Program) -> None:
    """Trim the text nodes of the tree in place."""
    _Visitor().program(root)


class _Visitor:
    def __init__(self) -> None:
        self.root_seen = False

    def program(self, program: Program) -> None:
        is_root = not self.root_seen
        self.root_seen = True
        body = program.body
        for index, node in enumerate(body):
            if type(node) is Text:
                continue  # the common case, first
            marks = self.accept(node)
            if marks is None:
                continue
            if marks.close:
                _omit_right(body, index, multiple=True)
            if marks.open:
                _omit_left(body, index, multiple=True)
            if marks.inline_standalone or marks.open_standalone or marks.close_standalone:
                # Both tested on the original text, which trimming leaves as it is.
                prev_blank = _is_prev_whitespace(body, index, is_root)
                next_blank = _is_next_whitespace(body, index, is_root)
            else:
                continue
            if marks.inline_standalone and prev_blank and next_blank:
                _omit_right(body, index)
                _omit_left(body, index)
            if marks.open_standalone and prev_blank:
                assert isinstance(node, Block)
                inner = node.program or node.inverse
                assert inner is not None
                _omit_right(inner.body, None)
                _omit_left(body, index)
            if marks.close_standalone and next_blank:
                assert isinstance(node, Block)
                inner = node.inverse or node.program
                assert inner is not None
                _omit_right(body, index)
                _omit_left(inner.body, None)

    def accept(self, node: Node) -> _Marks | None:
        """What to trim around `node`; None when nothing (text, a mustache without `~`)."""
        if isinstance(node, Text):
            return None
        if isinstance(node, Mustache):
            # A mustache is never standalone: only its `~` marks trim.
            strip = node.strip
            return _Marks(open=strip.open, close=strip.close) if strip.open or strip.close else None
        if isinstance(node, Comment):
            return _Marks(open=node.strip.open, close=node.strip.close, inline_standalone=True)
        return self.block(node)

    def block(self, block: Block) -> _Marks:
        if block.program is not None:
            self.program(block.program)
        if block.inverse is not None:
            self.program(block.inverse)
        program = block.program or block.inverse
        assert program is not None
        inverse = block.inverse if block.program is not None else None
        first_inverse = last_inverse = inverse
        if inverse is not None and inverse.chained:
            chained = inverse.body[0]
            assert isinstance(chained, Block)
            first_inverse = chained.program
            while last_inverse is not None and last_inverse.chained:
                tail = last_inverse.body[-1]
                assert isinstance(tail, Block)
                last_inverse = tail.program
        marks = _Marks(
            open=block.open_strip.open,
            close=block.close_strip.close,
            open_standalone=_is_next_whitespace(program.body, None, False),
            close_standalone=_is_prev_whitespace((first_inverse or program).body, None, False),
        )
        if block.open_strip.close:
            _omit_right(program.body, None, multiple=True)
        if inverse is not None:
            assert first_inverse is not None and last_inverse is not None
            if block.inverse_strip.open:
                _omit_left(program.body, None, multiple=True)
            if block.inverse_strip.close:
                _omit_right(first_inverse.body, None, multiple=True)
            if block.close_strip.open:
                _omit_left(last_inverse.body, None, multiple=True)
            # A standalone {{else}}.
            if _is_prev_whitespace(program.body, None, False) and _is_next_whitespace(
                first_inverse.body, None, False
            ):
                _omit_left(program.body, None)
                _omit_right(first_inverse.body, None)
        elif block.close_strip.open:
            _omit_left(program.body, None, multiple=True)
        return marks


def _is_prev_whitespace(body: list[Node], index: int | None, is_root: bool) -> bool:
    if index is None:
        index = len(body)
    if index < 1:
        return is_root  # nothing before
    previous = body[index - 1]
    if type(previous) is not Text:
        return False
    pattern = _PREV_LINE if index > 1 or not is_root else _PREV_LINE_AT_START
    return pattern.search(previous.original) is not None


def _is_next_whitespace(body: list[Node], index: int | None, is_root: bool) -> bool:
    if index is None:
        index = -1
    if index + 1 >= len(body):
        return is_root  # nothing after
    following = body[index + 1]
    if type(following) is not Text:
        return False
    pattern = _NEXT_LINE if index + 2 < len(body) or not is_root else _NEXT_LINE_AT_END
    return pattern.match(following.original) is not None


def _at(body: list[Node], index: int) -> Node | None:
    return body[index] if 0 <= index < len(body) else None


def _omit_right(body: list[Node], index: int | None, multiple: bool = False) -> None:
    node = _at(body, 0 if index is None else index + 1)
    if not isinstance(node, Text) or (not multiple and node.right_stripped):
        return
    original = node.value
    node.value = (_ALL_LEADING if multiple else _LINE_LEADING).sub("", node.value, count=1)
    node.right_stripped = node.value != original


def _omit_left(body: list[Node], index: int | None, multiple: bool = False) -> None:
    node = _at(body, len(body) - 1 if index is None else index - 1)
    if not isinstance(node, Text) or (not multiple and node.left_stripped):
        return
    original = node.value
    node.value = (_ALL_TRAILING if multiple else _LINE_TRAILING).sub("", node.value, count=1)
    node.left_stripped = node.value != original
