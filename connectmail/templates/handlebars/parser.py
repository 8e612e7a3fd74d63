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


def parse(source: str) -> Template:
    """Read `source` as a template; raise TemplateError naming the line of the first problem."""
    root = _build(_lex(source))
    whitespace.apply(root)
    return Template(root)


@dataclass
class _Tag:
    kind: str  # mustache, raw, open, open_inverse, else, close, comment
    body: str
    source: str
    strip: Strip
    line: int


def _lex(source: str) -> list[str | _Tag]:
    tokens: list[str | _Tag] = []
    position = 0
    pending = ""  # text that follows a `\{{` escape
    line, counted = 1, 0  # the line number at `counted`, kept as we go (linear time)
    while position < len(source):
        start = source.find("{{", position)
        if start < 0:
            break
        line += source.count("\n", counted, start)
        counted = start
        before = pending + source[position:start]
        pending = ""
        if before.endswith("\\") and not before.endswith("\\\\"):
            # `\{{` is a literal `{{`, and starts a text of its own (as in Handlebars.js).
            if before[:-1]:
                tokens.append(before[:-1])
            pending = "{{"
            position = start + 2
            continue
        if before.endswith("\\\\"):
            before = before[:-1]
        if before:
            tokens.append(before)
        tag, position = _read_tag(source, start, line)
        tokens.append(tag)
    rest = pending + source[position:]
    if rest:
        tokens.append(rest)
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
        strip = Strip(strip_open, found.group(1) == "~")
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
        strip = Strip(strip_open, strip_close)
        return _Tag("raw", body, source[start:close_end], strip, line), close_end
    end = _find_close(source, position, "}}", line)
    body_end, strip_close = end, False
    if end > position and source[end - 1] == "~":
        body_end, strip_close = end - 1, True
    kind, body = _classify(source[position:body_end], line)
    tag = _Tag(kind, body, source[start : end + 2], Strip(strip_open, strip_close), line)
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
    if not body.strip():
        raise TemplateError(f"line {line}: empty tag")
    first, rest = body[0], body[1:]
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
    if first == "*":
        raise TemplateError(f"line {line}: decorators are not supported")
    found = _ELSE.match(body)
    if found is not None:
        return "else", body[found.end() :].strip()
    return "mustache", body


@dataclass
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
    for token in tokens:
        target = stack[-1].target if stack else root
        if isinstance(token, str):
            target.body.append(Text(token))
            continue
        line = token.line
        if token.kind == "comment":
            target.body.append(Comment(token.strip))
        elif token.kind in ("mustache", "raw"):
            call, params = _parse_call(token.body, line)
            if params:
                raise TemplateError(f"line {line}: block parameters belong on a block")
            _check_inline(call, line)
            target.body.append(Mustache(call, token.kind == "mustache", token.source, token.strip))
        elif token.kind in ("open", "open_inverse"):
            if len(stack) >= MAX_NESTING:
                raise TemplateError(f"line {line}: blocks are nested too deeply")
            call, params = _parse_call(token.body, line)
            _check_block(call, line)
            body = Program()
            if token.kind == "open":
                block = Block(call, token.source, params, body, None, token.strip)
            else:
                # `{{^x}}body{{/x}}`: the body is the inverse, as Handlebars lays it out.
                block = Block(call, token.source, params, None, body, token.strip)
            target.body.append(block)
            stack.append(_Frame(block, False, body, _opened_by(call)))
        elif token.kind == "else":
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
                call, params = _parse_call(token.body, line)
                _check_block(call, line)
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
            for block in (*closed, frame.block):
                block.close_strip = token.strip
    if stack:
        raise TemplateError(f"unclosed block {stack[-1].block.source}")
    return root


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
