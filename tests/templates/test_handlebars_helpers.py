"""The message template helpers AWS documents: conditional, string and math helpers.

Expected outputs follow the examples of AWS's "message template helpers" pages (Amazon
Connect's, and Amazon Pinpoint's with the same helpers) where they give one.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from connectmail.templates.handlebars import HELPERS, TemplateError, parse, render
from connectmail.templates.handlebars import helpers as helper_table
from connectmail.templates.handlebars.syntax import BUILT_IN_HELPERS

CONTEXT: dict[str, Any] = {
    "Attributes": {
        "Custom": {"City": "Seattle", "Age": "21", "Tier": "gold", "Count": "3", "Empty": ""},
        "Customer": {
            "FirstName": "jane",
            "LastName": "Rodriguez",
            "Attributes": {"Points": 1500, "Vip": True, "Colors": ["red", "blue", "yellow"]},
        },
    },
    "html": "<p>Hi <b>there</b></p>",
}


def rendered(source: str, *, escape: bool = False) -> str:
    result = render(parse(source), CONTEXT, escape=escape)
    assert result.missing == []
    return result.text


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            '{{#eq Attributes.Custom.City "Seattle"}}You live in Seattle{{else}}Elsewhere{{/eq}}',
            "You live in Seattle",
        ),
        ('{{#neq Attributes.Custom.City "Seattle"}}Elsewhere{{else}}Seattle{{/neq}}', "Seattle"),
        ("{{#gt Attributes.Custom.Age 17}}adult{{else}}minor{{/gt}}", "adult"),
        ('{{#gte Attributes.Custom.Age "21"}}yes{{else}}no{{/gte}}', "yes"),
        ("{{#lt Attributes.Custom.Age 21}}yes{{else}}no{{/lt}}", "no"),
        ("{{#lte Attributes.Custom.Age 21}}yes{{else}}no{{/lte}}", "yes"),
        # Numeric text compares as numbers, other text as text.
        ('{{#gt "10" "9"}}yes{{else}}no{{/gt}} {{#lt "apple" "banana"}}yes{{/lt}}', "yes yes"),
        ("{{#gt Attributes.Custom.Missing 1}}yes{{else}}no{{/gt}}", "no"),
        (
            "{{#and Attributes.Custom.City Attributes.Custom.Tier}}both{{else}}not both{{/and}}",
            "both",
        ),
        (
            "{{#and Attributes.Custom.City Attributes.Custom.Empty}}both{{else}}not both{{/and}}",
            "not both",
        ),
        ("{{#or Attributes.Custom.Missing Attributes.Custom.City}}one{{else}}none{{/or}}", "one"),
        ("{{#not Attributes.Custom.Missing}}no value{{else}}a value{{/not}}", "no value"),
        # Inline they print true or false, and serve as conditions in subexpressions.
        (
            '{{eq Attributes.Custom.Count 3}} {{neq 1 "1"}} {{not ""}} {{and 1 0}} {{or 0 "x"}}',
            "true false true false true",
        ),
        ('{{#if (eq Attributes.Custom.Tier "gold")}}Gold{{else}}Standard{{/if}}', "Gold"),
        ("{{#unless (gt Attributes.Custom.Age 65)}}not retired{{/unless}}", "not retired"),
        # `else` chains, as with `if`.
        (
            '{{#eq Attributes.Custom.Tier "silver"}}S{{else eq Attributes.Custom.Tier "gold"}}G'
            "{{else}}?{{/eq}}",
            "G",
        ),
        (
            "{{#each Attributes.Customer.Attributes.Colors}}{{#eq @index 1}}[{{this}}]"
            "{{else}}{{this}}{{/eq}} {{/each}}",
            "red [blue] yellow ",
        ),
    ],
)
def test_conditional_helpers(source: str, expected: str) -> None:
    assert rendered(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{abbreviate Attributes.Customer.LastName 5}}", "Ro..."),
        ('{{abbreviate "short" 10}}', "short"),
        ('{{capitalize "this is an example"}}', "This Is An Example"),
        ('{{capitalize "mIxEd cASE" fully=true}}', "Mixed Case"),
        ('{{capitalizeFirst "this is an example"}}', "This is an example"),
        ('{{center "Amazon" size=12 pad="*"}}', "***Amazon***"),
        ('{{center "ab" size=5 pad="*"}}|{{center "ab" size=4}}|', "*ab**| ab |"),
        ('{{cut "Test Value" " "}} {{cut "a-b-c" "-"}}', "TestValue abc"),
        ('{{cut "no spaces here"}}', "nospaceshere"),
        (
            '{{inflect 3 "part" "parts" true}}, {{inflect 1 "part" "parts"}}, '
            '{{inflect 0 "part" "parts" includeCount=true}}',
            "3 parts, part, 0 parts",
        ),
        ('{{join Attributes.Customer.Attributes.Colors " // "}}', "red // blue // yellow"),
        ('{{join "a" "b" "c" ", " prefix="(" suffix=")"}}', "(a, b, c)"),
        (
            '[{{ljust "Amazon" size=10}}] [{{ljust "Amazon" size=10 pad="-"}}]',
            "[Amazon    ] [Amazon----]",
        ),
        (
            '[{{rjust "Amazon" size=10}}] [{{rjust "Amazon" size=9 pad="ab"}}]',
            "[    Amazon] [abaAmazon]",
        ),
        ("{{lower 'HELLO World'}} {{upper Attributes.Customer.FirstName}}", "hello world JANE"),
        (
            "{{ordinalize 1}} {{ordinalize 2}} {{ordinalize 3}} {{ordinalize 4}} "
            "{{ordinalize 11}} {{ordinalize 12}} {{ordinalize 13}} {{ordinalize 21}} "
            "{{ordinalize 22}} {{ordinalize 103}}",
            "1st 2nd 3rd 4th 11th 12th 13th 21st 22nd 103rd",
        ),
        ("{{ordinalize Attributes.Custom.Count}}", "3rd"),
        ('{{replace "Hello World" "o" "0"}}', "Hell0 W0rld"),
        (
            '{{slugify "Join Us!"}} {{slugify "  Crème brûlée -- 2 go "}}',
            "join-us creme-brulee-2-go",
        ),
        ("{{stripTags html}}", "Hi there"),
        (
            '{{substring "Amazon" 0 3}} {{substring "Amazon" 3}} {{substring "Amazon" 4 99}}',
            "Ama zon on",
        ),
        (
            "{{yesno Attributes.Customer.Attributes.Vip}} {{yesno false}} "
            "{{yesno Attributes.Custom.X}} "
            '{{yesno "true" yes="Y"}} {{yesno false no="N"}} {{yesno null maybe="?"}}',
            "yes no maybe Y N ?",
        ),
        # Helpers compose through subexpressions.
        ("{{upper (abbreviate Attributes.Customer.LastName 6)}}", "ROD..."),
        ("{{capitalizeFirst (lower 'JANE')}}", "Jane"),
        # A missing value is empty, as with lookup (no placeholder is left behind).
        ("[{{upper Attributes.Custom.Missing}}]", "[]"),
    ],
)
def test_string_helpers(source: str, expected: str) -> None:
    assert rendered(source) == expected


def test_helper_output_is_escaped_in_html_unless_triple_stashed() -> None:
    source = '{{upper "a<b"}} {{{upper "a<b"}}}'
    assert rendered(source, escape=True) == "A&lt;B A<B"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{add 1 2}} {{add Attributes.Custom.Count 1.5}}", "3 4.5"),
        (
            "{{subtract 5 7.5}} {{multiply 3 '4'}} {{divide 7 2}} {{divide 1 0}}",
            "-2.5 12 3.5 Infinity",
        ),
        ("{{mod 7 3}} {{mod -7 3}}", "1 -1"),
        ("{{ceiling 1.2}} {{floor 1.8}} {{round 2.5}} {{round 2.4}} {{round -2.5}}", "2 1 3 2 -2"),
        ("{{multiply Attributes.Customer.Attributes.Points 0.1}}", "150"),
        ("{{add 'x' 1}}", "NaN"),
    ],
)
def test_math_helpers(source: str, expected: str) -> None:
    assert rendered(source) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{#upper x}}y{{/upper}}", "upper cannot be used as a block"),
        ("{{eq 1}}", "eq takes exactly 2 arguments"),
        ("{{#not a b}}x{{/not}}", "not takes exactly 1 argument"),
        ("{{replace 'a' 'b'}}", "replace takes exactly 3 arguments"),
        ("{{substring 'a'}}", "substring takes 2 to 3 arguments"),
        ("{{join 'a'}}", "join takes at least 2 arguments"),
        ('{{center "x" width=3}}', "center takes no width= argument"),
        ("{{shout x}}", "unknown helper 'shout'"),
        ("{{#with Attributes}}x{{/with}}", "with helper is not supported"),
        ("{{> partial}}", "partials are not supported"),
    ],
)
def test_misused_and_unknown_helpers_are_refused(source: str, message: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(message)):
        parse(source)


def test_a_padding_too_wide_is_refused_when_rendering() -> None:
    with pytest.raises(TemplateError, match="width"):
        render(parse("{{ljust 'x' size=100000000}}"), {}, escape=False)


def test_the_allow_list_is_the_built_ins_and_the_implemented_helpers() -> None:
    assert set(HELPERS) == BUILT_IN_HELPERS | set(helper_table.HELPERS)
    assert "with" not in HELPERS
