"""Values the JavaScript way: truthiness, printing, property keys and property lookup.

Handlebars.js prints and looks things up with JavaScript's rules, so a template's output
depends on them: `1e21` prints as `1e+21`, `list.[01]` names nothing, an object's integer-like
keys come first. The values here are what JSON gives Python (dict, list, str, int, float,
bool, None) plus UNDEFINED.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from connectmail.templates.handlebars.syntax import UNDEFINED

# A canonical array index: what JavaScript treats as an integer key (no sign, no leading 0).
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
_MAX_ARRAY_INDEX = 2**32 - 2
_MAX_SAFE_INTEGER = 2**53


def is_truthy(value: Any, include_zero: bool = False) -> bool:
    """Handlebars' `if`: false for undefined, null, false, "", NaN, [] and (unless asked) 0."""
    if value is UNDEFINED or value is None or value is False:
        return False
    if value is True:
        return True
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            return False
        return include_zero or value != 0
    if isinstance(value, str | list | tuple):
        return len(value) > 0
    return True


def is_js_truthy(value: Any) -> bool:
    """JavaScript's truthiness, where an empty list is true (unlike Handlebars' `if`)."""
    return isinstance(value, list | tuple) or is_truthy(value)


def number_text(value: int | float) -> str:
    """JavaScript's Number#toString: `1e+21`, `0.000001`, `1e-7`, `2` for 2.0, `-0` as `0`."""
    if isinstance(value, int) and abs(value) <= _MAX_SAFE_INTEGER:
        return str(value)
    try:
        number = float(value)  # JSON numbers are doubles in JavaScript
    except OverflowError:
        number = math.inf if value > 0 else -math.inf
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"
    # Both Python's repr and JavaScript print the shortest digits that read back the same.
    _, digit_tuple, exponent = Decimal(repr(abs(number))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    assert isinstance(exponent, int)
    # The value is 0.DIGITS * 10**point.
    point = exponent + len(digit_tuple)
    count = len(digits)
    if count <= point <= 21:
        text = digits + "0" * (point - count)
    elif 0 < point <= 21:
        text = f"{digits[:point]}.{digits[point:]}"
    elif -6 < point <= 0:
        text = f"0.{'0' * -point}{digits}"
    else:
        power = point - 1
        mantissa = digits if count == 1 else f"{digits[0]}.{digits[1:]}"
        text = f"{mantissa}e{'+' if power >= 0 else '-'}{abs(power)}"
    return ("-" if number < 0 else "") + text


def to_text(value: Any) -> str:
    """A value as JavaScript prints it into a template."""
    if value is UNDEFINED or value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return number_text(value)
    if isinstance(value, list | tuple):
        return ",".join(to_text(item) for item in value)
    if isinstance(value, Mapping):
        return "[object Object]"
    return str(value)


def property_key(key: Any) -> str:
    """A value used as a property name, as JavaScript converts it (`1.0` is `"1"`)."""
    if isinstance(key, str):
        return key
    if key is UNDEFINED:
        return "undefined"
    if key is None:
        return "null"
    return to_text(key)


def array_index(key: str) -> int | None:
    """The index `key` names in a list or string, if it is a canonical array index."""
    if _ARRAY_INDEX.fullmatch(key) is None:
        return None
    index = int(key)
    return index if index <= _MAX_ARRAY_INDEX else None


def get_property(value: Any, key: Any) -> Any:
    """`value[key]` for an own property, as Handlebars.js reads one; else UNDEFINED."""
    name = property_key(key)
    if isinstance(value, Mapping):
        return value.get(name, UNDEFINED)
    if isinstance(value, str):
        return _string_property(value, name)
    if isinstance(value, list | tuple):
        if name == "length":
            return len(value)
        index = array_index(name)
        return value[index] if index is not None and index < len(value) else UNDEFINED
    return UNDEFINED


def _string_property(text: str, name: str) -> Any:
    # JavaScript strings are UTF-16: lengths and indexes count code units.
    if text and max(text) > "\uffff":
        units = text.encode("utf-16-le")
        length = len(units) // 2
        if name == "length":
            return length
        index = array_index(name)
        if index is None or index >= length:
            return UNDEFINED
        unit = int.from_bytes(units[2 * index : 2 * index + 2], "little")
        # Half of a surrogate pair cannot be written as UTF-8; Node writes U+FFFD.
        return "\ufffd" if 0xD800 <= unit <= 0xDFFF else chr(unit)
    if name == "length":
        return len(text)
    index = array_index(name)
    return text[index] if index is not None and index < len(text) else UNDEFINED


def object_keys(mapping: Mapping[str, Any]) -> Iterator[str]:
    """JavaScript's key order: integer-like keys ascending, then the others as inserted."""
    indexed: list[tuple[int, str]] = []
    named: list[str] = []
    for key in mapping:
        index = array_index(key) if isinstance(key, str) else None
        if index is None:
            named.append(key)
        else:
            indexed.append((index, key))
    indexed.sort()
    yield from (key for _, key in indexed)
    yield from named


def to_number(value: Any) -> float:
    """JavaScript's Number(value), for comparisons and arithmetic: NaN when not a number."""
    if value is True:
        return 1.0
    if value is False or value is None:
        return 0.0
    if isinstance(value, float):
        return value
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        try:
            if re.fullmatch(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", text):
                return float(text)
            if re.fullmatch(r"0[xX][0-9a-fA-F]+", text):
                return float(int(text, 16))
            if re.fullmatch(r"[+-]?Infinity", text):
                return float(text.replace("Infinity", "inf"))
        except (ValueError, OverflowError):
            pass
        return math.nan
    if isinstance(value, list | tuple):
        return to_number(to_text(value)) if len(value) <= 1 else math.nan
    return math.nan
