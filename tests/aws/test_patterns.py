"""The models' patterns: all compile, read as ECMAScript reads them, and let real values through.

Smithy patterns are ECMAScript regular expressions, matched anywhere in the value unless
anchored. Some of botocore's are escaped twice; some use Unicode property classes.
"""

from __future__ import annotations

import re
import warnings

import pytest

from connectmail.aws import ServiceModel, load_service_model
from connectmail.aws.validate import InputValidator, _compile_pattern, ecmascript_to_python
from tests.aws.realistic import REALISTIC, SERVED

SERVICES = ("connect", "qconnect")


def patterns(model: ServiceModel) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, shape in model.shapes.items():
        if "pattern" in shape:
            found.setdefault(shape["pattern"], []).append(name)
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_pattern_in_the_models_compiles_cleanly(service: str) -> None:
    model = load_service_model(service)
    assert len(patterns(model)) > 20
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "possible nested set" from a mangled class
        for pattern in patterns(model):
            assert _compile_pattern(pattern) is not None, pattern


def matches(pattern: str, value: str) -> bool:
    return _compile_pattern(pattern).search(value) is not None


def test_dollar_is_the_end_of_the_value_not_a_final_newline() -> None:
    assert matches("^d-[0-9a-f]{10}$", "d-0123456789")
    assert not matches("^d-[0-9a-f]{10}$", "d-0123456789\n")  # Python's `$` would take it
    assert matches("^[A-Z0-9_$]+$", "A$B")  # inside a class `$` is itself
    assert matches(r"^a\$$", "a$")
    assert not matches(r"^a\$$", "a$\n")


def test_digit_and_word_classes_are_ascii_as_in_ecmascript() -> None:
    assert matches(r"^\d+$", "0123456789")
    assert not matches(r"^\d+$", "١٢٣")  # Arabic-Indic digits are \d in Python, not in JS
    assert not matches(r"^[\da-f]+$", "٣")
    assert matches(r"^\w+$", "snake_case9")
    assert not matches(r"^\w+$", "é")
    assert matches(r"^\W$", "é")


@pytest.mark.parametrize(
    ("ecmascript", "python"),
    [
        ("^abc$", r"^abc\Z"),
        (r"[\d$]", "[0-9$]"),
        (r"\D\W", "[^0-9][^A-Za-z0-9_]"),
        (r"[\W\S_]", r"[\W\S_]"),
        (r"\\d", r"\\d"),  # an escaped backslash, then a `d`
        ("[]a]$", r"[\]a]\Z"),
        ("[^]$]", r"[^\]$]"),
    ],
)
def test_translation(ecmascript: str, python: str) -> None:
    assert ecmascript_to_python(ecmascript) == python


def test_unicode_property_classes(connect_model: ServiceModel) -> None:
    tag_key = connect_model.shape("TagKey")["pattern"]
    assert r"\p{L}" in tag_key
    assert matches(tag_key, "Schlüssel 部门 ٣")
    assert not matches(tag_key, "aws:reserved")
    assert not matches(tag_key, "semi;colon")
    name = connect_model.shape("CommonHumanReadableName")["pattern"]
    assert name == r"^[\P{C}\r\n\t]{1,127}$"
    assert matches(name, "Line one\nline two 😀")
    assert not matches(name, "bell\x07")
    assert not matches(name, "zero\u200bwidth")  # a format character (Cf) is in \p{C}


def test_patterns_escaped_twice_read_as_meant(connect_model: ServiceModel) -> None:
    slug = connect_model.shape("Slug")["pattern"]
    assert r"\\p{L}" in slug and r"\\-" in slug
    assert matches(slug, "my-slug_1.0")
    assert matches(slug, "")  # the pattern's own `^$|` alternative
    assert not matches(slug, "a\\b")  # `\\-_` read literally would be the range `\` to `_`
    assert not matches(slug, "ab]")
    assert not matches(slug, "ab")
    phone = connect_model.shape("PhoneNumber")["pattern"]
    assert phone == r"\\+[1-9]\\d{1,14}$"
    assert matches(phone, "+14155550100")
    assert not matches(phone, "14155550100")
    assert not matches(phone, "+14155550100\n")
    s3 = connect_model.shape("S3Uri")["pattern"]
    assert matches(s3, "https://bucket.s3.us-east-1.amazonaws.com/key")
    assert not matches(s3, "https://bucket\\.s3\\.x\\.amazonaws\\.com/key")


def test_a_pattern_written_as_a_javascript_literal(connect_model: ServiceModel) -> None:
    password = connect_model.shape("Password")["pattern"]
    assert password.startswith("/^") and password.endswith("$/")
    assert matches(password, "Sup3rSecret!")
    assert not matches(password, "alllowercase1")
    assert not matches(password, "Short1")


def patterned_shapes(model: ServiceModel, operations: tuple[str, ...]) -> set[str]:
    """The patterned string shapes reachable from the operations' inputs."""
    found: set[str] = set()
    stack = [model.operations[o].input_shape for o in operations]
    seen: set[str] = set()
    while stack:
        name = stack.pop()
        if name is None or name in seen:
            continue
        seen.add(name)
        shape = model.shape(name)
        if shape["type"] == "structure":
            stack.extend(m["shape"] for m in shape.get("members", {}).values())
        elif shape["type"] == "list":
            stack.append(shape["member"]["shape"])
        elif shape["type"] == "map":
            stack.extend((shape["key"]["shape"], shape["value"]["shape"]))
        elif "pattern" in shape:
            found.add(name)
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_patterned_shape_we_serve_has_realistic_values(service: str) -> None:
    model = load_service_model(service)
    missing = patterned_shapes(model, SERVED[service]) - {
        shape for svc, shape in REALISTIC if svc == service
    }
    assert not missing, f"add realistic values for {sorted(missing)} to tests/aws/realistic.py"


@pytest.fixture(scope="module")
def validators() -> dict[str, InputValidator]:
    return {service: InputValidator(load_service_model(service)) for service in SERVICES}


@pytest.mark.parametrize(
    ("service", "shape", "value"), [(*key, v) for key, values in REALISTIC.items() for v in values]
)
def test_realistic_values_pass(
    validators: dict[str, InputValidator], service: str, shape: str, value: str
) -> None:
    problems: list[str] = []
    validators[service].checker(shape)(value, shape, problems)
    assert problems == []


def test_no_pattern_is_compiled_per_request(connect_model: ServiceModel) -> None:
    """Checkers are compiled once per shape; validation reuses them."""
    validator = InputValidator(connect_model)
    assert validator.checker("TagKey") is validator.checker("TagKey")
    assert isinstance(_compile_pattern("^a$"), re.Pattern)
