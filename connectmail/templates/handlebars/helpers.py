"""The helpers Amazon Connect documents for message templates, beyond Handlebars' built-ins.

Conditional helpers (`and`, `eq`, `gt`, `gte`, `lt`, `lte`, `neq`, `not`, `or`) print `true` or
`false` inline and choose between a block and its `{{else}}` as blocks; string helpers
transform a value; math helpers compute. Each takes its arguments already evaluated, so one
table says what a helper accepts (checked when the template is written) and what it does.
The semantics follow the examples of AWS's documentation (Amazon Connect's and Amazon
Pinpoint's, which list the same helpers); where the documentation says nothing, the helper
behaves as the Handlebars.java helper of the same name that those examples match.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connectmail.templates.handlebars.syntax import UNDEFINED, TemplateError
from connectmail.templates.handlebars.values import is_truthy, to_number, to_text

# What one helper may produce; the whole output has its own, larger limit (render.py).
MAX_RESULT_CHARS = 1_000_000

Params = list[Any]
Hash = Mapping[str, Any]


@dataclass(frozen=True)
class Helper:
    function: Callable[[Params, Hash], Any]
    min_params: int
    max_params: int | None = None  # None: any number
    hash_keys: frozenset[str] = frozenset()
    block: bool = False  # `{{#name ...}}` renders its block when the result is truthy


# Conditional helpers ---------------------------------------------------------------------


def _equal(a: Any, b: Any) -> bool:
    """Equality as the documentation's examples need it: `{{eq Attributes.Custom.N "5"}}`
    and `{{eq 5 "5"}}` are both true (attributes are strings); otherwise strict."""
    if (a is None or a is UNDEFINED) and (b is None or b is UNDEFINED):
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, int | float) and isinstance(b, str):
        return to_number(b) == a
    if isinstance(a, str) and isinstance(b, int | float):
        return to_number(a) == b
    return type(a) is type(b) and bool(a == b)


def _compare(a: Any, b: Any) -> int | None:
    """-1, 0 or 1: numbers (and numeric text) by value, other text as text. None, which makes
    every comparison false, when a side is missing or text meets a number it is not."""
    if a is None or a is UNDEFINED or b is None or b is UNDEFINED:
        return None
    left, right = to_number(a), to_number(b)
    if not (math.isnan(left) or math.isnan(right)):
        return (left > right) - (left < right)
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    return None


def _ordered(test: Callable[[int], bool]) -> Callable[[Params, Hash], bool]:
    def helper(params: Params, hash_: Hash) -> bool:
        order = _compare(params[0], params[1])
        return order is not None and test(order)

    return helper


def _and(params: Params, hash_: Hash) -> bool:
    return all(is_truthy(value) for value in params)


def _or(params: Params, hash_: Hash) -> bool:
    return any(is_truthy(value) for value in params)


def _not(params: Params, hash_: Hash) -> bool:
    return not is_truthy(params[0])


def _eq(params: Params, hash_: Hash) -> bool:
    return _equal(params[0], params[1])


def _neq(params: Params, hash_: Hash) -> bool:
    return not _equal(params[0], params[1])


# String helpers --------------------------------------------------------------------------


def _text(value: Any) -> str:
    return to_text(value)


def _integer(value: Any, default: int = 0) -> int:
    number = to_number(value)
    if math.isnan(number) or math.isinf(number):
        return default
    return int(number)


def _pad(text: str, size: int, pad: str, left: bool) -> str:
    if size > MAX_RESULT_CHARS:
        raise TemplateError(f"a width of {size} is more than {MAX_RESULT_CHARS} characters")
    missing = size - len(text)
    if missing <= 0:
        return text
    padding = (pad * (missing // len(pad) + 1))[:missing]
    return padding + text if left else text + padding


def _pad_char(hash_: Hash) -> str:
    pad = hash_.get("pad", " ")
    return _text(pad) or " "


def _abbreviate(params: Params, hash_: Hash) -> str:
    # `{{abbreviate "Jane Doe" 5}}` is "Ja...": the ellipsis counts toward the width.
    text, width = _text(params[0]), _integer(params[1])
    if len(text) <= width:
        return text
    return text[: width - 3] + "..." if width >= 4 else text[: max(width, 0)]


def _capitalize(params: Params, hash_: Hash) -> str:
    # Every word's first letter upper case; `fully=true` lowers the rest of each word too.
    text = _text(params[0])
    if is_truthy(hash_.get("fully", False)):
        text = text.lower()
    out: list[str] = []
    start = True
    for char in text:
        out.append(_upper_first(char) if start else char)
        start = char.isspace()
    return "".join(out)


def _upper_first(char: str) -> str:
    upper = char.upper()
    return upper if len(upper) == 1 else char


def _capitalize_first(params: Params, hash_: Hash) -> str:
    text = _text(params[0])
    return _upper_first(text[:1]) + text[1:]


def _center(params: Params, hash_: Hash) -> str:
    # The extra padding of an odd difference goes to the right, as in Handlebars.java.
    text, size = _text(params[0]), _integer(hash_.get("size", 0))
    missing = size - len(text)
    if missing <= 0:
        return text
    pad = _pad_char(hash_)
    left = _pad(text, len(text) + missing // 2, pad, left=True)
    return _pad(left, size, pad, left=False)


def _cut(params: Params, hash_: Hash) -> str:
    removed = _text(params[1]) if len(params) > 1 else " "
    text = _text(params[0])
    return text.replace(removed, "") if removed else text


def _inflect(params: Params, hash_: Hash) -> str:
    # `{{inflect 3 "part" "parts" true}}` is "3 parts"; 0 and more than 1 are plural.
    count, singular, plural = params[0], _text(params[1]), _text(params[2])
    number = to_number(count)
    word = plural if number > 1 or number == 0 else singular
    include = params[3] if len(params) > 3 else hash_.get("includeCount", False)
    return f"{_text(count)} {word}" if include is True else word


def _join(params: Params, hash_: Hash) -> str:
    # `{{join list ", "}}` or `{{join a b c ", "}}`: the last argument is the separator.
    separator = _text(params[-1])
    items: list[str] = []
    for value in params[:-1]:
        if value is None or value is UNDEFINED:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        items.extend(_text(item) for item in values)
    return _text(hash_.get("prefix", "")) + separator.join(items) + _text(hash_.get("suffix", ""))


def _ljust(params: Params, hash_: Hash) -> str:
    return _pad(_text(params[0]), _integer(hash_.get("size", 0)), _pad_char(hash_), left=False)


def _rjust(params: Params, hash_: Hash) -> str:
    return _pad(_text(params[0]), _integer(hash_.get("size", 0)), _pad_char(hash_), left=True)


def _lower(params: Params, hash_: Hash) -> str:
    return _text(params[0]).lower()


def _upper(params: Params, hash_: Hash) -> str:
    return _text(params[0]).upper()


def _ordinalize(params: Params, hash_: Hash) -> str:
    # 1st, 2nd, 3rd, 4th ... 11th, 12th, 13th ... 21st, 22nd, 101st.
    value = params[0]
    text = _text(value)
    number = to_number(value)
    if math.isnan(number) or math.isinf(number):
        return text + "th"
    whole = abs(math.floor(number + 0.5))
    if whole % 100 in (11, 12, 13):
        return text + "th"
    return text + {1: "st", 2: "nd", 3: "rd"}.get(whole % 10, "th")


def _replace(params: Params, hash_: Hash) -> str:
    text, old, new = _text(params[0]), _text(params[1]), _text(params[2])
    if not old:
        return text
    if len(new) > len(old) and text.count(old) * (len(new) - len(old)) > MAX_RESULT_CHARS:
        raise TemplateError(f"replace would make more than {MAX_RESULT_CHARS} characters")
    return text.replace(old, new)


_NOT_WORD = re.compile(r"[^\w\s-]", re.ASCII)
_DASHES = re.compile(r"[-\s]+", re.ASCII)


def _slugify(params: Params, hash_: Hash) -> str:
    # "Join Us!" is "join-us": ASCII, lower case, words joined by hyphens.
    text = unicodedata.normalize("NFKD", _text(params[0])).encode("ascii", "ignore").decode()
    return _DASHES.sub("-", _NOT_WORD.sub("", text).strip().lower())


_TAG = re.compile(r"<[^>]*>")


def _strip_tags(params: Params, hash_: Hash) -> str:
    return _TAG.sub("", _text(params[0]))


def _substring(params: Params, hash_: Hash) -> str:
    # Positions outside the text are clamped to it (Java would fail the whole message).
    text = _text(params[0])
    start = min(max(_integer(params[1]), 0), len(text))
    end = len(text) if len(params) < 3 else min(max(_integer(params[2]), 0), len(text))
    return text[start:end]


def _yesno(params: Params, hash_: Hash) -> str:
    # true (or "true") is yes, a missing or null value is maybe, anything else is no.
    value = params[0]
    if value is None or value is UNDEFINED:
        return _text(hash_.get("maybe", "maybe"))
    if value is True or (isinstance(value, str) and value.lower() == "true"):
        return _text(hash_.get("yes", "yes"))
    return _text(hash_.get("no", "no"))


# Math helpers ----------------------------------------------------------------------------


def _arithmetic(operation: Callable[[float, float], float]) -> Callable[[Params, Hash], Any]:
    def helper(params: Params, hash_: Hash) -> Any:
        return _number(operation(to_number(params[0]), to_number(params[1])))

    return helper


def _rounding(operation: Callable[[float], float]) -> Callable[[Params, Hash], Any]:
    def helper(params: Params, hash_: Hash) -> Any:
        number = to_number(params[0])
        if math.isnan(number) or math.isinf(number):
            return number
        return _number(operation(number))

    return helper


def _number(value: float) -> int | float:
    """An integral result as an int, so it prints as JavaScript would (`4`, not `4.0`)."""
    value = float(value)
    if math.isfinite(value) and value.is_integer():
        return int(value) if abs(value) <= 2**53 else value
    return value


def _divide(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1, b)
    return a / b


def _mod(a: float, b: float) -> float:
    if b == 0 or math.isinf(a) or math.isnan(a) or math.isnan(b):
        return math.nan
    return math.fmod(a, b)  # JavaScript's % keeps the sign of the dividend


def _round_half_up(value: float) -> float:
    return float(math.floor(value + 0.5))


HELPERS: dict[str, Helper] = {
    # Conditional helpers (also blocks, with {{else}}).
    "and": Helper(_and, 1, block=True),
    "eq": Helper(_eq, 2, 2, block=True),
    "gt": Helper(_ordered(lambda order: order > 0), 2, 2, block=True),
    "gte": Helper(_ordered(lambda order: order >= 0), 2, 2, block=True),
    "lt": Helper(_ordered(lambda order: order < 0), 2, 2, block=True),
    "lte": Helper(_ordered(lambda order: order <= 0), 2, 2, block=True),
    "neq": Helper(_neq, 2, 2, block=True),
    "not": Helper(_not, 1, 1, block=True),
    "or": Helper(_or, 1, block=True),
    # String helpers.
    "abbreviate": Helper(_abbreviate, 2, 2),
    "capitalize": Helper(_capitalize, 1, 1, frozenset({"fully"})),
    "capitalizeFirst": Helper(_capitalize_first, 1, 1),
    "center": Helper(_center, 1, 1, frozenset({"size", "pad"})),
    "cut": Helper(_cut, 1, 2),
    "inflect": Helper(_inflect, 3, 4, frozenset({"includeCount"})),
    "join": Helper(_join, 2, None, frozenset({"prefix", "suffix"})),
    "ljust": Helper(_ljust, 1, 1, frozenset({"size", "pad"})),
    "lower": Helper(_lower, 1, 1),
    "ordinalize": Helper(_ordinalize, 1, 1),
    "replace": Helper(_replace, 3, 3),
    "rjust": Helper(_rjust, 1, 1, frozenset({"size", "pad"})),
    "slugify": Helper(_slugify, 1, 1),
    "stripTags": Helper(_strip_tags, 1, 1),
    "substring": Helper(_substring, 2, 3),
    "upper": Helper(_upper, 1, 1),
    "yesno": Helper(_yesno, 1, 1, frozenset({"yes", "no", "maybe"})),
    # Math helpers.
    "add": Helper(_arithmetic(lambda a, b: a + b), 2, 2),
    "ceiling": Helper(_rounding(math.ceil), 1, 1),
    "divide": Helper(_arithmetic(_divide), 2, 2),
    "floor": Helper(_rounding(math.floor), 1, 1),
    "mod": Helper(_arithmetic(_mod), 2, 2),
    "multiply": Helper(_arithmetic(lambda a, b: a * b), 2, 2),
    "round": Helper(_rounding(_round_half_up), 1, 1),
    "subtract": Helper(_arithmetic(lambda a, b: a - b), 2, 2),
}


def call(name: str, params: Params, hash_: Hash) -> Any:
    """Run helper `name` on evaluated arguments (its arity was checked when parsing)."""
    return HELPERS[name].function(params, hash_)


def describe_arity(helper: Helper) -> str:
    low, high = helper.min_params, helper.max_params
    if high == low:
        return f"exactly {low} argument{'s' if low != 1 else ''}"
    if high is None:
        return f"at least {low} argument{'s' if low != 1 else ''}"
    return f"{low} to {high} arguments"
