"""Compile a model's input shapes into checkers that enforce every constraint the model states.

A checker takes a decoded JSON value, its member path and a list to append problems to, and
returns the value converted to Python (timestamps to datetimes, blobs to bytes). Types,
required members, lengths, sizes, ranges, patterns, enums and unions are all checked here, the
server-side mirror of botocore's client-side validation.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import regex

from connectmail.aws.model import ServiceModel, Shape

Problems = list[str]
Checker = Callable[[Any, str, Problems], Any]

MAX_PROBLEMS_REPORTED = 10
# Past this many, lists and maps are not walked further: a 64 MiB body of bad items would
# otherwise cost a problem string each (gigabytes) to tell the client what ten of them say.
MAX_PROBLEMS_COLLECTED = 100
# How deep a value may nest (path segments: members, list items, map values) where the model
# allows any depth (recursive shapes, documents); deeper would exhaust the stack downstream.
MAX_DEPTH = 100
# Smithy's integer is 32 bits, its long 64: larger values are not of the type.
_INTEGRAL_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


def parse_timestamp(value: Any) -> datetime:
    """Accept what AWS SDKs send: epoch seconds, or ISO 8601 / RFC 3339 text."""
    if isinstance(value, datetime):
        return value  # already parsed from a header, the query string or the URI
    if isinstance(value, bool):
        raise ValueError("not a timestamp")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except ValueError:
            pass
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError("not a timestamp")


def describe(path: str) -> str:
    return f"Value at '{path}' failed to satisfy constraint: Member must"


class InputValidator:
    """Checkers for the input shapes of one service model, compiled once per shape."""

    def __init__(self, model: ServiceModel) -> None:
        self._model = model
        self._checkers: dict[str, Checker] = {}
        self._recursive = recursive_shapes(model)

    def checker(self, shape_name: str) -> Checker:
        found = self._checkers.get(shape_name)
        if found is None:
            # A placeholder first, so recursive shapes refer to the finished checker.
            slot: list[Checker] = []
            self._checkers[shape_name] = lambda v, p, e: slot[0](v, p, e)
            found = self.compile_shape(self._model.shape(shape_name))
            if shape_name in self._recursive:
                found = _depth_guarded(found)
            slot.append(found)
            self._checkers[shape_name] = found
        return found

    def compile_shape(self, shape: Shape) -> Checker:
        # botocore writes a document as a structure marked `document`: any JSON value.
        kind = "document" if shape.get("document") else shape["type"]
        compile_kind = getattr(self, f"_compile_{kind}")
        checker: Checker = compile_kind(shape)
        return checker

    # -- scalars -----------------------------------------------------------------------------

    def _compile_string(self, shape: Shape) -> Checker:
        low, high = shape.get("min"), shape.get("max")
        enum = frozenset(shape["enum"]) if "enum" in shape else None
        enum_text = ", ".join(shape.get("enum", ()))
        pattern_text = shape.get("pattern")
        pattern = _compile_pattern(pattern_text)
        sensitive = bool(shape.get("sensitive"))

        def check(value: Any, path: str, problems: Problems) -> Any:
            if not isinstance(value, str):
                problems.append(f"{describe(path)} be of type string")
                return value
            if "\x00" in value:
                problems.append(f"{describe(path)} not contain NUL characters")
            length = len(value)
            if low is not None and length < low:
                problems.append(f"{describe(path)} have length greater than or equal to {low}")
            if high is not None and length > high:
                problems.append(f"{describe(path)} have length less than or equal to {high}")
            if enum is not None and value not in enum:
                shown = "" if sensitive else f"'{value[:100]}' "
                problems.append(
                    f"Value {shown}at '{path}' failed to satisfy constraint: "
                    f"Member must satisfy enum value set: [{enum_text}]"
                )
            if pattern is not None and pattern.search(value) is None:
                problems.append(
                    f"{describe(path)} satisfy regular expression pattern: {pattern_text}"
                )
            return value

        return check

    def _compile_number(self, shape: Shape, integral: bool) -> Checker:
        low, high = shape.get("min"), shape.get("max")
        if integral:
            type_low, type_high = _INTEGRAL_RANGES[shape["type"]]
            low = type_low if low is None else max(low, type_low)
            high = type_high if high is None else min(high, type_high)
        type_name = "integer" if integral else "number"

        def check(value: Any, path: str, problems: Problems) -> Any:
            ok = isinstance(value, int) if integral else isinstance(value, int | float)
            if isinstance(value, bool) or not ok:
                problems.append(f"{describe(path)} be of type {type_name}")
                return value
            if low is not None and value < low:
                problems.append(f"{describe(path)} have value greater than or equal to {low}")
            if high is not None and value > high:
                problems.append(f"{describe(path)} have value less than or equal to {high}")
            return value

        return check

    def _compile_integer(self, shape: Shape) -> Checker:
        return self._compile_number(shape, integral=True)

    _compile_long = _compile_integer

    def _compile_float(self, shape: Shape) -> Checker:
        return self._compile_number(shape, integral=False)

    _compile_double = _compile_float

    def _compile_boolean(self, shape: Shape) -> Checker:
        def check(value: Any, path: str, problems: Problems) -> Any:
            if not isinstance(value, bool):
                problems.append(f"{describe(path)} be of type boolean")
            return value

        return check

    def _compile_timestamp(self, shape: Shape) -> Checker:
        def check(value: Any, path: str, problems: Problems) -> Any:
            try:
                return parse_timestamp(value)
            except (ValueError, OverflowError, OSError):
                problems.append(f"{describe(path)} be a timestamp")
                return value

        return check

    def _compile_blob(self, shape: Shape) -> Checker:
        low, high = shape.get("min"), shape.get("max")

        def check(value: Any, path: str, problems: Problems) -> Any:
            if not isinstance(value, str):
                problems.append(f"{describe(path)} be base64-encoded binary data")
                return value
            try:
                data = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                problems.append(f"{describe(path)} be base64-encoded binary data")
                return value
            if low is not None and len(data) < low:
                problems.append(f"{describe(path)} have length greater than or equal to {low}")
            if high is not None and len(data) > high:
                problems.append(f"{describe(path)} have length less than or equal to {high}")
            return data

        return check

    # -- aggregates --------------------------------------------------------------------------

    def _compile_list(self, shape: Shape) -> Checker:
        low, high = shape.get("min"), shape.get("max")
        member_name = shape["member"]["shape"]

        def check(value: Any, path: str, problems: Problems) -> Any:
            if not isinstance(value, list):
                problems.append(f"{describe(path)} be a list")
                return value
            if low is not None and len(value) < low:
                problems.append(f"{describe(path)} have length greater than or equal to {low}")
            if high is not None and len(value) > high:
                problems.append(f"{describe(path)} have length less than or equal to {high}")
                return value
            member = self.checker(member_name)
            checked = []
            for index, item in enumerate(value):
                checked.append(member(item, f"{path}.{index + 1}", problems))
                if len(problems) >= MAX_PROBLEMS_COLLECTED:
                    break
            return checked

        return check

    def _compile_map(self, shape: Shape) -> Checker:
        low, high = shape.get("min"), shape.get("max")
        key_name, value_name = shape["key"]["shape"], shape["value"]["shape"]

        def check(value: Any, path: str, problems: Problems) -> Any:
            if not isinstance(value, dict):
                problems.append(f"{describe(path)} be a map")
                return value
            if low is not None and len(value) < low:
                problems.append(f"{describe(path)} have size greater than or equal to {low}")
            if high is not None and len(value) > high:
                problems.append(f"{describe(path)} have size less than or equal to {high}")
                return value
            check_key, check_value = self.checker(key_name), self.checker(value_name)
            result = {}
            for key, item in value.items():
                check_key(key, f"{path}.key", problems)
                if item is None:
                    problems.append(
                        f"Value null at '{path}.{key}' failed to satisfy constraint: "
                        "Member must not be null"
                    )
                else:
                    result[key] = check_value(item, f"{path}.{key}", problems)
                if len(problems) >= MAX_PROBLEMS_COLLECTED:
                    break
            return result

        return check

    def _compile_structure(self, shape: Shape) -> Checker:
        # By the name on the wire: a request names a few of a structure's many members, so
        # the walk goes over what it sent (unknown members are ignored, as AWS does).
        by_wire = {
            member.get("locationName", name) if member.get("location") is None else name: (
                name,
                member["shape"],
            )
            for name, member in shape.get("members", {}).items()
        }
        required = tuple(shape.get("required", ()))
        is_union = bool(shape.get("union"))
        checker = self.checker

        def check(value: Any, path: str, problems: Problems) -> Any:
            if not isinstance(value, dict):
                problems.append(f"{describe(path or 'input')} be a structure")
                return value
            prefix = f"{path}." if path else ""
            result: dict[str, Any] = {}
            for wire_name, item in value.items():
                member = by_wire.get(wire_name)
                if member is None or item is None:
                    continue
                name, member_shape = member
                result[name] = checker(member_shape)(item, prefix + name, problems)
            for name in required:
                if name not in result:
                    problems.append(
                        f"Value null at '{prefix}{name}' failed to satisfy "
                        "constraint: Member must not be null"
                    )
            if is_union and len(result) != 1:
                problems.append(
                    f"Value at '{path or 'input'}' failed to satisfy constraint: "
                    "Member must have exactly one member set"
                )
            return result

        return check

    def _compile_document(self, shape: Shape) -> Checker:
        def check(value: Any, path: str, problems: Problems) -> Any:
            if _nesting(value) + _path_depth(path) > MAX_DEPTH:
                problems.append(f"{describe(path)} not nest more than {MAX_DEPTH} levels deep")
            return value

        return check


def recursive_shapes(model: ServiceModel) -> frozenset[str]:
    """The shapes that can contain themselves, and so could nest without end."""
    edges: dict[str, list[str]] = {}
    for name, shape in model.shapes.items():
        kind = shape["type"]
        if kind == "structure":
            edges[name] = [m["shape"] for m in shape.get("members", {}).values()]
        elif kind == "list":
            edges[name] = [shape["member"]["shape"]]
        elif kind == "map":
            edges[name] = [shape["value"]["shape"]]
    found: set[str] = set()
    for start in edges:
        stack, seen = list(edges[start]), set()
        while stack:
            name = stack.pop()
            if name == start:
                found.add(start)
                break
            if name not in seen:
                seen.add(name)
                stack.extend(edges.get(name, ()))
    return frozenset(found)


def _path_depth(path: str) -> int:
    return path.count(".") + 1 if path else 0


def _depth_guarded(check: Checker) -> Checker:
    """Refuse values of a recursive shape nested deeper than MAX_DEPTH."""

    def guarded(value: Any, path: str, problems: Problems) -> Any:
        if _path_depth(path) > MAX_DEPTH:
            problems.append(f"{describe(path)} not nest more than {MAX_DEPTH} levels deep")
            return value
        return check(value, path, problems)

    return guarded


def _nesting(value: Any) -> int:
    """How deep lists and objects nest in a JSON value, without recursion."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
    return deepest


def _compile_pattern(pattern: str | None) -> Any:
    """Model patterns are ECMAScript regular expressions, not anchored (Smithy's rule).

    Where Python's dialect differs they are translated (see `ecmascript_to_python`). Python's
    `re` lacks the Unicode property classes (`\\p{L}`, `\\P{C}`) some patterns use; those go to
    the `regex` module. A few patterns in the models are escaped twice (`\\\\p{L}`, `\\\\-`);
    they are read as their evident intent, as AWS's own servers accept. `.` matches line
    breaks too, so multi-line text passes patterns written with one line in mind.
    """
    if pattern is None:
        return None
    if _DOUBLE_ESCAPED.search(pattern):
        pattern = _DOUBLED_BACKSLASH.sub(r"\\", pattern)
    if _REGEX_LITERAL.match(pattern):
        pattern = pattern[1:-1]
    pattern = ecmascript_to_python(pattern)
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return regex.compile(pattern, regex.DOTALL | regex.V0)


# A pattern that escapes a class or an operator twice was escaped twice throughout.
_DOUBLE_ESCAPED = re.compile(r"(?<!\\)\\\\[pPdDsSwW+.]")
_DOUBLED_BACKSLASH = re.compile(r"\\\\(?=[^\\])")
# A pattern written as a JavaScript literal, `/^...$/`, means its body.
_REGEX_LITERAL = re.compile(r"^/\^.*\$/$", re.DOTALL)
_ASCII_CLASSES = {"d": "0-9", "w": "A-Za-z0-9_"}
_ASCII_NEGATED = {"D": "[^0-9]", "W": "[^A-Za-z0-9_]"}


def ecmascript_to_python(pattern: str) -> str:
    """The Python spelling of an ECMAScript pattern, where the two dialects differ.

    `$` matches only at the very end (Python's also matches before a final newline, which
    would let `"id\\n"` through `^[a-z]+$`), and `\\d` and `\\w` are ASCII only.
    """
    out: list[str] = []
    in_class = False
    index, end = 0, len(pattern)
    while index < end:
        char = pattern[index]
        if char == "\\" and index + 1 < end:
            escaped = pattern[index + 1]
            if escaped in _ASCII_CLASSES:
                ascii_class = _ASCII_CLASSES[escaped]
                out.append(ascii_class if in_class else f"[{ascii_class}]")
            elif escaped in _ASCII_NEGATED and not in_class:
                out.append(_ASCII_NEGATED[escaped])
            else:
                out.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            out.append(char)
            index += 1
            # A `]` right after `[` or `[^` is a literal in Python, and ends nothing.
            if pattern.startswith("^", index):
                out.append("^")
                index += 1
            if pattern.startswith("]", index):
                out.append("\\]")
                index += 1
            continue
        elif char == "$":
            char = r"\Z"
        out.append(char)
        index += 1
    return "".join(out)


def summarize(problems: Problems) -> str:
    count = len(problems)
    noun = "error" if count == 1 else "errors"
    counted = f"{count} or more" if count >= MAX_PROBLEMS_COLLECTED else str(count)
    shown = "; ".join(problems[:MAX_PROBLEMS_REPORTED])
    return f"{counted} validation {noun} detected: {shown}"
