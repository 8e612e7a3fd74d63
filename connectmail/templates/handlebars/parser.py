"""Reading a Handlebars template: tags out of the text, expressions out of the tags, a tree.

Only what message templates can use is accepted; `with`, partials, decorators and raw blocks
are refused with a TemplateError naming the line, as are unknown helpers, helpers given the
wrong arguments, and blocks or subexpressions nested more than MAX_NESTING deep.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from connectmail.templates.handlebars import helpers, whitespace
from connectmail.templates.handlebars.syntax import (
    BLOCK_HELPERS,
    UNDEFINED,
    Block,
    Call,
    Comment,
    Expression,
    Literal,
    Mustache,
    Path,
    Program,
    Strip,
    Template,
    TemplateError,
    Text,
)
from connectmail.templates.handlebars.values import property_key

MAX_NESTING = 64
UNSUPPORTED_HELPERS = {"with": "the with helper is not supported in message templates"}

# Handlebars' ID: anything but blanks and its punctuation.
_ID = re.compile(r"[^\s!\"#%-,\./;->@\[-\^`\{-~]+")
_HASH_KEY = re.compile(r"([^\s!\"#%-,\./;->@\[-\^`\{-~]+)\s*=")
_BLOCK_PARAMS = re.compile(r"as\s+\|([^|]*)\|")
# Handlebars' literals end where its lexer's lookahead says; `a.1` is a parse error there.
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?=[\s)}~]|$)")
_KEYWORD = re.compile(r"(?:true|false|null|undefined)(?=[\s)}~]|$)")
_SEGMENT_LITERAL = re.compile(r"\[((?:\\\]|[^\]])*)\]")
_SEGMENT_ESCAPE = re.compile(r"\\([\\\]])")
_DOT_SEGMENT = re.compile(r"\.(?=[=~}\s/.)|]|$)")
_SCOPED = re.compile(r"\.|this\b")
_LONG_COMMENT_END = re.compile(r"--(~?)\}\}")
_COMMENT_END = re.compile(r"(~?)\}\}")
_ELSE = re.compile(r"\s*else(?:\s+|$)")
_PATH_END = frozenset(" \t\r\n)}~|=")
_KEYWORDS = {"true": True, "false": False, "null": None, "undefined": UNDEFINED}
# One Strip for each pair of `~` marks, shared by the tags; by the marks as read in _PLAIN_TAG too.
_STRIPS = {(left, right): Strip(left, right) for left in (False, True) for right in (False, True)}
_STRIP_MARKS = {("~" * left, "~" * right): strip for (left, right), strip in _STRIPS.items()}

# The fast paths, for what nearly every tag is. A tag without quotes or braces inside, that is
# not a comment or a triple-stash: _read_tag reads it as this does.
_PLAIN_TAG = re.compile(r"\{\{(~?)([^\"'{}!~][^\"'{}]*?)(~?)\}\}")
# A tag body of plain paths only (`a.b`, `if a`, `upper a/b`): names that start with neither a
# digit nor `-` (so no number is read there), separated by the blanks that end a path.
_NAME = r"[^\s!\"#%-9;->@\[-\^`\{-~][^\s!\"#%-,\./;->@\[-\^`\{-~]*"
_PLAIN_PATH = rf"{_NAME}(?:[./]{_NAME})*"
_PLAIN_CALL = re.compile(rf"\s*({_PLAIN_PATH})((?:[ \t\r\n]\s*{_PLAIN_PATH})*)(?:[ \t\r\n]\s*)?")
_SEPARATOR = re.compile(r"[./]")
_SIGILS = frozenset("#^/&>*")


def parse(source: str) -> Template:
    """Read `source` as a template; raise TemplateError naming the line of the first problem."""
    root = _build(_lex(source))
    whitespace.apply(root)
    return Template(root)


@dataclass(slots=True)
class _Tag:
    kind: str  # mustache, raw, open, open_inverse, else, close, comment
    body: str
    source: str
    strip: Strip
    line: int


def _lex(source: str) -> list[str | _Tag]:
    tokens: list[str | _Tag] = []
    append = tokens.append
    position = 0
    pending = ""  # text that follows a `\{{` escape
    line, counted = 1, 0  # the line number at `counted`, kept as we go (linear time)
    find, count, plain_tag = source.find, source.count, _PLAIN_TAG.match
    while True:
        start = find("{{", position)
        if start < 0:
            break
        line += count("\n", counted, start)
        counted = start
        if pending or (start > position and source[start - 1] == "\\"):
            before = pending + source[position:start]
            pending = ""
            if before.endswith("\\") and not before.endswith("\\\\"):
                # `\{{` is a literal `{{`, and starts a text of its own (as in Handlebars.js).
                if before[:-1]:
                    append(before[:-1])
                pending = "{{"
                position = start + 2
                continue
            if before.endswith("\\\\"):
                before = before[:-1]
            if before:
                append(before)
        elif start > position:
            append(source[position:start])
        found = plain_tag(source, start)
        if found is None:
            tag, position = _read_tag(source, start, line)
            append(tag)
            continue
        left, body, right = found.groups()
        kind = "mustache"
        if body[0] in _SIGILS or "else" in body or body.isspace():
            kind, body = _classify(body, line)
        append(_Tag(kind, body, found.group(), _STRIP_MARKS[left, right], line))
        position = found.end()
    rest = pending + source[position:]
    if rest:
        append(rest)
    return tokens


def _read_tag(source: str, start: int, line: int) -> tuple[_Tag, int]:
    if source.startswith("{{{{", start):
        raise TemplateError(f"line {line}: raw blocks ({{{{{{{{...}}}}}}}}) are not supported")
    position = start + 2
    strip_open = source.startswith("~", position)
    if strip_open:
        position += 1
    if source.startswith("!", position):
        closer = _LONG_COMMENT_END if source.startswith("!--", position) else _COMMENT_END
        found = closer.search(source, position)
        if found is None:
            raise TemplateError(f"line {line}: unclosed comment")
        strip = _STRIPS[strip_open, found.group(1) == "~"]
        body = source[position : found.start()]
        return _Tag("comment", body, source[start : found.end()], strip, line), found.end()
    if source.startswith("{", position):
        end = _find_close(source, position + 1, "}", line)
        body = source[position + 1 : end]
        if source.startswith("}~}}", end):
            close_end, strip_close = end + 4, True
        elif source.startswith("}}}", end):
            close_end, strip_close = end + 3, False
        else:
            raise TemplateError(f"line {line}: {{{{{{ must be closed by }}}}}}")
        strip = _STRIPS[strip_open, strip_close]
        return _Tag("raw", body, source[start:close_end], strip, line), close_end
    end = _find_close(source, position, "}}", line)
    body_end, strip_close = end, False
    if end > position and source[end - 1] == "~":
        body_end, strip_close = end - 1, True
    kind, body = _classify(source[position:body_end], line)
    tag = _Tag(kind, body, source[start : end + 2], _STRIPS[strip_open, strip_close], line)
    return tag, end + 2


def _find_close(source: str, position: int, closer: str, line: int) -> int:
    """The index of `closer`, skipping over string literals inside the tag."""
    end = source.find(closer, position)
    if end >= 0:
        inside = source[position:end]
        if '"' not in inside and "'" not in inside and "{{" not in inside:
            return end  # the common case, without looking at each character
    quote: str | None = None
    index = position
    while index < len(source):
        char = source[index]
        if quote is not None:
            if char == "\\":
                index += 2
                continue
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif source.startswith(closer, index):
            return index
        elif source.startswith("{{", index):
            break
        index += 1
    raise TemplateError(f"line {line}: unclosed tag")


def _classify(body: str, line: int) -> tuple[str, str]:
    if not body or body.isspace():
        raise TemplateError(f"line {line}: empty tag")
    first = body[0]
    if first not in _SIGILS:
        found = _ELSE.match(body) if "else" in body else None
        if found is not None:
            return "else", body[found.end() :].strip()
        return "mustache", body
    rest = body[1:]
    if first == "#":
        if rest.startswith(">"):
            raise TemplateError(f"line {line}: partial blocks are not supported")
        if rest.startswith("*"):
            raise TemplateError(f"line {line}: decorators are not supported")
        return "open", rest
    if first == "^":
        return ("else", "") if not rest.strip() else ("open_inverse", rest)
    if first == "/":
        return "close", rest.strip()
    if first == "&":
        return "raw", rest
    if first == ">":
        raise TemplateError(f"line {line}: partials are not supported")
    raise TemplateError(f"line {line}: decorators are not supported")  # `*`


@dataclass(slots=True)
class _Frame:
    """A block being read: the program its tags go to now."""

    block: Block
    chained: bool
    target: Program
    opened_by: str  # the path that the closing tag must repeat
    in_else: bool = False


def _build(tokens: list[str | _Tag]) -> Program:
    root = Program()
    stack: list[_Frame] = []
    target = root
    # What each tag body read as, once it passed its checks: templates repeat their tags, and
    # a Call is never changed, so equal tags share one. Likewise their source text.
    inline_calls: dict[str, Call] = {}
    block_calls: dict[str, tuple[Call, tuple[str, ...]]] = {}
    sources: dict[str, str] = {}
    for token in tokens:
        if isinstance(token, str):
            target.body.append(Text(token))
            continue
        line, kind = token.line, token.kind
        if kind == "mustache" or kind == "raw":
            call = inline_calls.get(token.body)
            if call is None:
                call = _inline_call(token.body, line)
                inline_calls[token.body] = call
            source = sources.setdefault(token.source, token.source)
            target.body.append(Mustache(call, kind == "mustache", source, token.strip))
        elif kind == "comment":
            target.body.append(Comment(token.strip))
        elif kind in ("open", "open_inverse"):
            if len(stack) >= MAX_NESTING:
                raise TemplateError(f"line {line}: blocks are nested too deeply")
            call, params = _block_call(token.body, line, block_calls)
            body = Program()
            if kind == "open":
                block = Block(call, token.source, params, body, None, token.strip)
            else:
                # `{{^x}}body{{/x}}`: the body is the inverse, as Handlebars lays it out.
                block = Block(call, token.source, params, None, body, token.strip)
            target.body.append(block)
            stack.append(_Frame(block, False, body, _opened_by(call)))
        elif kind == "else":
            if not stack:
                raise TemplateError(f"line {line}: {{{{else}}}} outside a block")
            frame = stack[-1]
            block = frame.block
            if frame.in_else:
                raise TemplateError(f"line {line}: a block can have only one {{{{else}}}}")
            frame.in_else = True
            block.inverse_strip = token.strip
            other = Program(chained=bool(token.body))
            if block.program is None:
                # In an inverted block the part after {{else}} is the program.
                block.program = other
            else:
                block.inverse = other
            frame.target = other
            if token.body:
                call, params = _block_call(token.body, line, block_calls)
                chained_body = Program()
                chained = Block(call, token.source, params, chained_body, None, token.strip)
                other.body.append(chained)
                stack.append(_Frame(chained, True, chained_body, frame.opened_by))
        else:  # close
            closed: list[Block] = []
            while stack and stack[-1].chained:
                closed.append(stack.pop().block)
            if not stack:
                raise TemplateError(f"line {line}: {{{{/{token.body}}}}} closes no block")
            frame = stack.pop()
            if token.body != frame.opened_by:
                raise TemplateError(
                    f"line {line}: {{{{/{token.body}}}}} does not close {frame.block.source}"
                )
            frame.block.close_strip = token.strip
            for block in closed:
                block.close_strip = token.strip
        target = stack[-1].target if stack else root
    if stack:
        raise TemplateError(f"unclosed block {stack[-1].block.source}")
    return root


def _inline_call(body: str, line: int) -> Call:
    """The call of a `{{...}}` or `{{{...}}}` tag, checked."""
    call = _plain_call(body)
    if call is None:
        call, params = _parse_call(body, line)
        if params:
            raise TemplateError(f"line {line}: block parameters belong on a block")
    _check_inline(call, line)
    return call


def _block_call(
    body: str, line: int, known: dict[str, tuple[Call, tuple[str, ...]]]
) -> tuple[Call, tuple[str, ...]]:
    """The call and block parameters of a block's opening (or `{{else if}}`) tag, checked."""
    found = known.get(body)
    if found is None:
        call = _plain_call(body)
        found = (call, ()) if call is not None else _parse_call(body, line)
        _check_block(found[0], line)
        known[body] = found
    return found


def _opened_by(call: Call) -> str:
    return call.head.original if isinstance(call.head, Path) else ""


def _check_inline(call: Call, line: int) -> None:
    name = call.head.helper_name if isinstance(call.head, Path) else None
    if name in UNSUPPORTED_HELPERS:
        raise TemplateError(f"line {line}: {UNSUPPORTED_HELPERS[name]}")
    if name in BLOCK_HELPERS:
        raise TemplateError(f"line {line}: {name} must be used as a block ({{{{#{name} ...}}}})")
    _check_arguments(call, line)


def _check_block(call: Call, line: int) -> None:
    name = call.head.helper_name if isinstance(call.head, Path) else None
    if name in UNSUPPORTED_HELPERS:
        raise TemplateError(f"line {line}: {UNSUPPORTED_HELPERS[name]}")
    helper = helpers.HELPERS.get(name) if name is not None else None
    if name in ("lookup", "log") or (helper is not None and not helper.block):
        raise TemplateError(f"line {line}: {name} cannot be used as a block")
    if not isinstance(call.head, Path):
        raise TemplateError(f"line {line}: a block must start with a helper or a path")
    if name in BLOCK_HELPERS and len(call.params) != 1:
        raise TemplateError(f"line {line}: #{name} takes exactly one argument")
    _check_arguments(call, line)


def _check_arguments(call: Call, line: int) -> None:
    if call.helper is None and (call.params or call.hash):
        shown = call.head.original if isinstance(call.head, Path) else "expression"
        raise TemplateError(f"line {line}: unknown helper {shown!r}")
    if call.helper == "lookup" and len(call.params) != 2:
        raise TemplateError(f"line {line}: lookup takes exactly two arguments")
    helper = helpers.HELPERS.get(call.helper) if call.helper is not None else None
    if helper is not None:
        count, most = len(call.params), helper.max_params
        if count < helper.min_params or (most is not None and count > most):
            raise TemplateError(
                f"line {line}: {call.helper} takes {helpers.describe_arity(helper)}"
            )
        for key, _ in call.hash:
            if key not in helper.hash_keys:
                raise TemplateError(f"line {line}: {call.helper} takes no {key}= argument")
    for expression in (*call.params, *(value for _, value in call.hash)):
        if isinstance(expression, Call):
            _check_inline(expression, line)


def _plain_call(body: str) -> Call | None:
    """What `_parse_call` reads in a body of plain paths, read faster; None for other bodies."""
    found = _PLAIN_CALL.fullmatch(body)
    if found is None:
        return None
    head = _plain_path(found.group(1))
    if head is None:
        return None
    params: list[Expression] = []
    for text in found.group(2).split():
        param = _plain_path(text)
        if param is None:
            return None
        params.append(param)
    return Call(head, tuple(params))


def _plain_path(text: str) -> Path | None:
    parts = tuple(_SEPARATOR.split(text) if "/" in text else text.split("."))
    # `this` makes a path scoped, or a bad one; a keyword at the end is a literal (or bad).
    if text.startswith("this") or "this" in parts or parts[-1] in _KEYWORDS:
        return None
    return Path(text, parts)


def _parse_call(body: str, line: int) -> tuple[Call, tuple[str, ...]]:
    reader = _Reader(body, line)
    call, block_params = reader.call()
    if not reader.at_end():
        raise reader.error("unexpected text")
    return call, block_params


class _Reader:
    """Reads the expressions inside one tag."""

    def __init__(self, text: str, line: int) -> None:
        self.text = text
        self.position = 0
        self.line = line
        self.depth = 0  # of subexpressions

    def error(self, message: str) -> TemplateError:
        return TemplateError(f"line {self.line}: {message} in {{{{{self.text.strip()}}}}}")

    def skip_space(self) -> None:
        while self.position < len(self.text) and self.text[self.position].isspace():
            self.position += 1

    def at_end(self) -> bool:
        self.skip_space()
        return self.position >= len(self.text)

    def peek(self) -> str:
        return self.text[self.position] if self.position < len(self.text) else ""

    def ends(self) -> bool:
        """Whether a path stops here (at the end, a blank, or a closing character)."""
        return self.position >= len(self.text) or self.text[self.position] in _PATH_END

    def call(self, closer: str = "") -> tuple[Call, tuple[str, ...]]:
        self.skip_space()
        start = self.position
        head = self.expression()
        if isinstance(head, Literal):
            # Handlebars.js looks a literal head up as a name: `{{1}}` is `{{[1]}}`, `{{"a b"}}`
            # is `{{[a b]}}`.
            head = Path(self.text[start : self.position], (property_key(head.value),))
        params: list[Expression] = []
        hash_pairs: list[tuple[str, Expression]] = []
        block_params: tuple[str, ...] = ()
        while True:
            self.skip_space()
            char = self.peek()
            if not char or char == closer:
                break
            if block_params:
                raise self.error("block parameters must come last")
            rest = self.text[self.position :]
            found = _BLOCK_PARAMS.match(rest)
            if found is not None:
                names = tuple(found.group(1).split())
                if not names or any(_ID.fullmatch(name) is None for name in names):
                    raise self.error("invalid block parameters")
                block_params = names
                self.position += found.end()
                continue
            key = _HASH_KEY.match(rest)
            if key is not None:
                self.position += key.end()
                hash_pairs.append((key.group(1), self.expression()))
                continue
            if hash_pairs:
                raise self.error("positional arguments must come before hash arguments")
            params.append(self.expression())
        return Call(head, tuple(params), tuple(hash_pairs)), block_params

    def expression(self) -> Expression:
        self.skip_space()
        char = self.peek()
        if not char:
            raise self.error("missing expression")
        if char == "(":
            # Each level of subexpression is a level of recursion here and when rendering.
            if self.depth >= MAX_NESTING:
                raise self.error("subexpressions are nested too deeply")
            self.depth += 1
            self.position += 1
            call, block_params = self.call(closer=")")
            if block_params:
                raise self.error("block parameters inside a subexpression")
            if self.peek() != ")":
                raise self.error("unclosed subexpression")
            self.position += 1
            self.depth -= 1
            return call
        if char in "\"'":
            return Literal(self.string(char))
        number = _NUMBER.match(self.text, self.position)
        if number is not None:
            self.position = number.end()
            text = number.group()
            return Literal(float(text) if "." in text else int(text))
        keyword = _KEYWORD.match(self.text, self.position)
        if keyword is not None:
            self.position = keyword.end()
            return Literal(_KEYWORDS[keyword.group()])
        return self.path()

    def path(self) -> Path:
        """A path, read as Handlebars' lexer and its `preparePath` read one."""
        start = self.position
        data = self.peek() == "@"
        if data:
            self.position += 1
        segments: list[tuple[str, bool]] = []  # (name, written as a [literal])
        while True:
            if _NUMBER.match(self.text, self.position) or _KEYWORD.match(self.text, self.position):
                raise self.error("invalid path")  # a literal where a name must be
            segments.append(self.segment())
            if self.ends():
                break
            if self.peek() not in "./":
                raise self.error("invalid path")
            self.position += 1
        parts: list[str] = []
        depth = 0
        for name, literal in segments:
            if not literal and name in ("..", ".", "this"):
                if parts:
                    raise self.error("invalid path")  # `a.this`, `a/../b`
                depth += name == ".."
            else:
                parts.append(name)
        original = self.text[start : self.position]
        scoped = not data and _SCOPED.match(original) is not None
        if data and not parts:
            raise self.error("invalid path")
        return Path(original, tuple(parts), depth, data, scoped)

    def segment(self) -> tuple[str, bool]:
        if self.peek() == "[":
            found = _SEGMENT_LITERAL.match(self.text, self.position)
            if found is None:
                raise self.error("unclosed [segment]")
            self.position = found.end()
            return _SEGMENT_ESCAPE.sub(r"\1", found.group(1)), True
        if self.text.startswith("..", self.position):
            self.position += 2
            return "..", False
        dot = _DOT_SEGMENT.match(self.text, self.position)
        if dot is not None:
            self.position = dot.end()
            return ".", False
        found = _ID.match(self.text, self.position)
        if found is None:
            raise self.error("invalid path")
        self.position = found.end()
        return found.group(), False

    def string(self, quote: str) -> str:
        chars: list[str] = []
        index = self.position + 1
        while index < len(self.text):
            char = self.text[index]
            if char == "\\" and index + 1 < len(self.text) and self.text[index + 1] == quote:
                chars.append(quote)
                index += 2
                continue
            if char == quote:
                self.position = index + 1
                return "".join(chars)
            chars.append(char)
            index += 1
        raise self.error("unclosed string")
