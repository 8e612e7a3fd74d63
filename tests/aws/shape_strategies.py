"""Hypothesis strategies for the input of any operation of a botocore model: values that satisfy
every constraint of the shapes, and the same values one mutation away from valid.

Strings with a pattern come from tests/aws/realistic.py where it has them, else from the
pattern itself; `hints` lets a test put real identifiers where a member names one.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from connectmail.aws import ServiceModel
from connectmail.aws.validate import InputValidator, _compile_pattern
from tests.aws.realistic import REALISTIC

Hints = Callable[[str, str], st.SearchStrategy[Any] | None]
Path = tuple[Any, ...]

# How deep optional members and items go; recursive shapes stop here.
OPTIONAL_DEPTH = 3
MAX_ITEMS = 3
# Valid text is printable: control characters are the mutations' business.
TEXT = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))


def _no_hints(member: str, shape: str) -> None:
    return None


@dataclass(frozen=True)
class Located:
    """Where a value sits in a request, and what the model says it is."""

    path: Path
    shape: str
    member: str


class RequestStrategies:
    """Requests for the operations of one model."""

    def __init__(self, model: ServiceModel, hints: Hints = _no_hints) -> None:
        self.model = model
        self.hints = hints
        self._validator = InputValidator(model)
        self._cache: dict[tuple[str, str, int], st.SearchStrategy[Any]] = {}

    # -- valid values --------------------------------------------------------------------

    def request(self, operation: str) -> st.SearchStrategy[dict[str, Any]]:
        name = self.model.operations[operation].input_shape
        if name is None:
            return st.just({})
        return self.value(name, "", 0)

    def value(self, shape_name: str, member: str, depth: int) -> st.SearchStrategy[Any]:
        capped = min(depth, OPTIONAL_DEPTH + 1)
        key = (shape_name, member, capped)
        found = self._cache.get(key)
        if found is None:
            # Deferred: recursive shapes are built only as deep as a draw goes.
            found = st.deferred(lambda: self._build(shape_name, member, capped))
            self._cache[key] = found
        return found

    def _build(self, shape_name: str, member: str, depth: int) -> st.SearchStrategy[Any]:
        hinted = self.hints(member, shape_name) if member else None
        if hinted is not None:
            return hinted
        shape = self.model.shape(shape_name)
        kind = "document" if shape.get("document") else shape["type"]
        low, high = shape.get("min"), shape.get("max")
        if kind == "string":
            return self._string(shape_name, shape)
        if kind in ("integer", "long"):
            bound = 2**31 - 1 if kind == "integer" else 2**63 - 1
            lowest = -bound - 1 if low is None else int(low)
            highest = bound if high is None else int(high)
            near = st.integers(max(lowest, 0), min(highest, max(lowest, 0) + 100))
            return st.one_of(near, st.integers(lowest, highest))
        if kind in ("float", "double"):
            return st.floats(low, high, allow_nan=False, allow_infinity=False)
        if kind == "boolean":
            return st.booleans()
        if kind == "timestamp":
            return st.integers(0, 2**31 - 1)
        if kind == "blob":
            size = st.binary(min_size=low or 0, max_size=min(high or 32, 32))
            return size.map(lambda data: base64.b64encode(data).decode())
        if kind == "document":
            return st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(TEXT, max_size=8),
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(TEXT, max_size=8), inner, max_size=3)
                ),
                max_leaves=8,
            )
        if kind == "list":
            item = self.value(shape["member"]["shape"], member, depth + 1)
            most = (low or 0) if depth > OPTIONAL_DEPTH else max(low or 0, MAX_ITEMS)
            return st.lists(item, min_size=low or 0, max_size=min(high or most, most))
        if kind == "map":
            keys = self.value(shape["key"]["shape"], "", depth + 1)
            values = self.value(shape["value"]["shape"], "", depth + 1)
            most = (low or 0) if depth > OPTIONAL_DEPTH else max(low or 0, MAX_ITEMS)
            return st.dictionaries(
                keys, values, min_size=low or 0, max_size=min(high or most, most)
            )
        return self._structure(shape, depth)

    def _string(self, shape_name: str, shape: dict[str, Any]) -> st.SearchStrategy[str]:
        if "enum" in shape:
            return st.sampled_from(shape["enum"])
        realistic = REALISTIC.get((self.model.name, shape_name))
        if realistic:
            return st.sampled_from(realistic)
        low, high = shape.get("min", 0), shape.get("max")
        cap = max(low, 24) if high is None else min(high, max(low, 24))
        check = self._validator.checker(shape_name)

        def valid(text: str) -> bool:
            problems: list[str] = []
            check(text, "", problems)
            return not problems

        pattern = shape.get("pattern")
        if pattern is None:
            return st.text(TEXT, min_size=low, max_size=cap)
        compiled = _compile_pattern(pattern)
        if isinstance(compiled, re.Pattern):
            text_pattern: re.Pattern[str] = compiled
            return st.from_regex(text_pattern, fullmatch=True).filter(valid)
        return st.text(TEXT, min_size=low, max_size=cap).filter(valid)

    def _structure(self, shape: dict[str, Any], depth: int) -> st.SearchStrategy[dict[str, Any]]:
        members = shape.get("members", {})
        strategies = {
            name: self.value(ref["shape"], name, depth + 1) for name, ref in members.items()
        }
        if shape.get("union"):
            if not strategies:
                return st.just({})
            return st.one_of(
                [s.map(lambda v, n=n: {n: v}) for n, s in strategies.items()]  # type: ignore[misc]
            )
        required = {n: s for n, s in strategies.items() if n in shape.get("required", ())}
        optional = (
            {}
            if depth > OPTIONAL_DEPTH
            else {n: s for n, s in strategies.items() if n not in required}
        )
        return st.fixed_dictionaries(required, optional=optional)

    # -- one step away from valid --------------------------------------------------------

    def locate(
        self, value: Any, shape_name: str, member: str = "", path: Path = ()
    ) -> Iterator[Located]:
        """Every value in a request, with its shape, the request itself first."""
        yield Located(path, shape_name, member)
        shape = self.model.shape(shape_name)
        if shape.get("document"):
            return
        kind = shape["type"]
        if kind == "structure" and isinstance(value, dict):
            for name, ref in shape.get("members", {}).items():
                if name in value:
                    yield from self.locate(value[name], ref["shape"], name, (*path, name))
        elif kind == "list" and isinstance(value, list):
            for index, item in enumerate(value):
                yield from self.locate(item, shape["member"]["shape"], member, (*path, index))
        elif kind == "map" and isinstance(value, dict):
            for key, item in value.items():
                yield from self.locate(item, shape["value"]["shape"], "", (*path, key))

    def mutations(self, located: Located, value: Any) -> list[tuple[str, Any]]:
        """(name, replacement) for the value at `located`: each breaks one constraint."""
        shape = self.model.shape(located.shape)
        kind = "document" if shape.get("document") else shape["type"]
        low, high = shape.get("min"), shape.get("max")
        found: list[tuple[str, Any]] = [
            ("wrong type", WRONG_TYPE[kind]),
            ("null", None),
            ("deeply nested", _nested(200)),
        ]
        if kind == "string":
            text = value if isinstance(value, str) else "x"
            found += [(f"hostile {n}", text + c) for n, c in HOSTILE.items()]
            if high is not None and high < 1_000_000:
                found.append(("too long", "x" * (high + 1)))
            if low:
                found.append(("too short", "x" * (low - 1)))
            if "enum" in shape:
                found.append(("not in the enum", shape["enum"][0].lower() + "_NOPE"))
            if "pattern" in shape:
                found.append(("against the pattern", "¡not matching! \x01"))
        elif kind in ("integer", "long"):
            found += [("fraction", 1.5), ("number as text", "7"), ("huge", 2**64)]
            if high is not None:
                found.append(("over the maximum", high + 1))
            if low is not None:
                found.append(("under the minimum", low - 1))
            found.append(("past the type", 2**31 if kind == "integer" else 2**63))
        elif kind == "list":
            items = value if isinstance(value, list) and value else [None]
            if high is not None and high < 10_000:
                found.append(("too many items", items * (high // len(items) + 1)))
            if low:
                found.append(("too few items", []))
        elif kind == "map":
            if high is not None and high < 10_000:
                found.append(("too many entries", {f"k{n}": "v" for n in range(high + 1)}))
            if low:
                found.append(("too few entries", {}))
        elif kind == "structure":
            required = shape.get("required", ())
            if isinstance(value, dict):
                for name in required:
                    # A URI label cannot be left out of a path; it can be empty (see fuzz).
                    if name in value and shape["members"][name].get("location") != "uri":
                        found.append(
                            (f"missing {name}", {k: v for k, v in value.items() if k != name})
                        )
                found.append(("unknown member", {**value, "NotInTheModel": {"x": [1]}}))
                if shape.get("union") and len(shape.get("members", {})) > 1:
                    first, second = list(shape["members"])[:2]
                    found.append(
                        (
                            "two union members",
                            {**value, first: value.get(first, "x"), second: value.get(second, "x")},
                        )
                    )
        return found


# Pagination tokens are opaque to clients, so a client can send anything as one.
FORGED_POSITIONS: list[Any] = [
    ["x", "y"],
    [None, None],
    ["offset", -5],
    ["offset", "x"],
    [1e308, "z"],
    [2**70, "a"],
    [[1], [2]],
    [{"a": 1}, 1],
    [1, 2, 3],
    {},
]
FORGED_TOKENS = [
    base64.urlsafe_b64encode(json.dumps(p).encode()).decode() for p in FORGED_POSITIONS
] + ["not base64!", "e30", "x" * 2500]
HOSTILE = {"CRLF": "\r\nBcc: evil@example.net", "NUL": "\x00", "U+2028": "\u2028", "DEL": "\x7f"}
WRONG_TYPE: dict[str, Any] = {
    "string": 12345,
    "integer": "seven",
    "long": "seven",
    "float": "seven",
    "double": "seven",
    "boolean": "true",
    "timestamp": "yesterday",
    "blob": "not base64!",
    "list": {"not": "a list"},
    "map": ["not", "a", "map"],
    "structure": ["not", "a", "structure"],
    "document": None,
}


def _nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value


def value_at(value: Any, path: Path) -> Any:
    for step in path:
        value = value[step]
    return value


def replace_at(value: Any, path: Path, replacement: Any) -> Any:
    """A copy of `value` with the value at `path` replaced."""
    if not path:
        return replacement
    head, rest = path[0], path[1:]
    copy: Any = list(value) if isinstance(value, list) else dict(value)
    copy[head] = replace_at(value[head], rest, replacement)
    return copy


def locate_mutations(
    strategies: RequestStrategies, request: dict[str, Any], shape_name: str
) -> Iterator[tuple[Located, str, Any]]:
    """Every single-step mutation of a request: where, what, and the replacement."""
    for spot in strategies.locate(request, shape_name):
        for name, replacement in strategies.mutations(spot, value_at(request, spot.path)):
            yield spot, name, replacement
