"""The Handlebars engine of message templates.

The expected outputs of the first table were produced by Handlebars.js 4.7 itself; the engine
must agree with it byte for byte, whitespace included.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectmail.templates.handlebars import (
    MAX_EACH_ITEMS,
    TemplateError,
    escape_html,
    parse,
    render,
)

CONTEXT: dict[str, Any] = {
    "name": "Jane",
    "empty": "",
    "zero": 0,
    "html": '<b>Tom & "Jerry"</b> \'=`',
    "items": ["a", "b", "c"],
    "people": [{"name": "Ann", "tags": ["x", "y"]}, {"name": "Bob", "tags": []}],
    "Attributes": {
        "Customer": {"FirstName": "Jane", "Attributes": {"Loyalty Tier": "Gold"}},
        "Custom": {"OrderId": "42"},
    },
}

# (template, HTML escaping on, what Handlebars.js renders)
AS_HANDLEBARS_JS = [
    ("Hello {{name}}!", True, "Hello Jane!"),
    (
        "{{html}}|{{{html}}}|{{&html}}",
        True,
        "&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt; &#x27;&#x3D;&#x60;"
        '|<b>Tom & "Jerry"</b> \'=`|<b>Tom & "Jerry"</b> \'=`',
    ),
    ("{{html}}", False, '<b>Tom & "Jerry"</b> \'=`'),
    ("{{#if name}}Hi {{name}}{{else}}Hi there{{/if}}", True, "Hi Jane"),
    (
        "{{#if empty}}yes{{else}}no{{/if}} {{#if zero}}yes{{else}}no{{/if}} "
        "{{#if zero includeZero=true}}yes{{else}}no{{/if}}",
        True,
        "no no yes",
    ),
    ("{{#unless empty}}no value{{else}}value{{/unless}}", True, "no value"),
    ("{{#if empty}}1{{else if name}}2{{else}}3{{/if}}", True, "2"),
    (
        "{{#each items}}{{@index}}={{this}}{{#unless @last}}, {{/unless}}{{/each}}",
        True,
        "0=a, 1=b, 2=c",
    ),
    ("{{#each Attributes.Custom}}{{@key}}:{{this}}{{/each}}", True, "OrderId:42"),
    (
        "{{#each people}}{{name}}({{#each tags}}{{this}}{{../name}}{{else}}none{{/each}}) "
        "{{/each}}",
        True,
        "Ann(xAnnyAnn) Bob(none) ",
    ),
    ("{{#each people as |person i|}}{{i}}.{{person.name}} {{/each}}", True, "0.Ann 1.Bob "),
    ("{{#each nothing}}x{{else}}empty{{/each}}", True, "empty"),
    (
        "{{lookup items 1}} {{lookup Attributes.Customer.Attributes 'Loyalty Tier'}} "
        "{{Attributes.Customer.Attributes.[Loyalty Tier]}}",
        True,
        "b Gold Gold",
    ),
    ("{{@root.name}}{{#each items}}{{@root.name}}{{/each}}", True, "JaneJaneJaneJane"),
    ("\\{{name}} \\\\{{name}}", True, "{{name}} \\Jane"),
    ("a{{! note }}b{{!-- }} --}}c", True, "abc"),
    ("x  {{~name~}}  y", True, "xJaney"),
    (
        "<ul>\n  {{#each items}}\n  <li>{{this}}</li>\n  {{/each}}\n</ul>\n",
        True,
        "<ul>\n  <li>a</li>\n  <li>b</li>\n  <li>c</li>\n</ul>\n",
    ),
    (
        "Dear {{name}},\n{{#if empty}}\nSomething\n{{else}}\nNothing\n{{/if}}\nBye\n",
        True,
        "Dear Jane,\nNothing\nBye\n",
    ),
    ("{{#items}}[{{.}}]{{/items}}{{^empty}}(empty){{/empty}}", True, "[a][b][c]"),
    ("{{items}} {{people.length}} {{zero}}", True, "a,b,c 2 0"),
    ("{{log name}}ok", True, "ok"),
    (
        "{{#if empty}}\n  A\n{{else if name}}\n  B\n{{else}}\n  C\n{{/if}}\nend\n",
        True,
        "  B\nend\n",
    ),
    (
        "<ul>\n{{#each items as |item|}}\n  <li>{{~item~}}</li>\n{{/each}}\n</ul>",
        True,
        "<ul>\n  <li>a</li>\n  <li>b</li>\n  <li>c</li>\n</ul>",
    ),
    ("{{!-- note --}}\nHello\n", True, "Hello\n"),
    ("  {{#unless empty}}\n  yes\n  {{/unless}}\n", True, "  yes\n"),
    ("{{#if name}}{{~! comment ~}} x {{/if}}", True, "x "),
    ("a\n{{^empty}}\nnone\n{{else}}\nsome\n{{/empty}}\nb", True, "a\nsome\nb"),
    (
        "{{#each items}}\n{{#if @first}}\nfirst: {{this}}\n{{else}}\nnext: {{this}}\n{{/if}}\n"
        "{{/each}}",
        True,
        "first: a\nnext: b\nnext: c\n",
    ),
]


# JavaScript's rules for values, each checked against Handlebars.js 4.7.10: (template, context,
# what Handlebars.js renders).
JS_VALUES: dict[str, Any] = {
    "1": "one",
    "true": "T",
    "1.5": "x",
    "s": "abc",
    "emoji": "a\U0001f600b",
    "list": ["p", "q", "r"],
    "zero": 0,
    "numbers": [1e21, 0.000001, 1e-7, 2.0, 123456789012345678901234, -1.5e-10, 1.5e300, -0.0],
    "obj": {"b": 1, "10": 2, "2": 3, "a": 4, "01": 5, "4294967295": 6, "4294967294": 7},
    "nested": [{"x": ["a", "b"]}, {"x": ["c"]}],
    "odd": {"x]y": "XY", "this": "THIS"},
}
AS_HANDLEBARS_JS_VALUES = [
    # A literal in head position is a name to look up.
    ("{{1}} {{true}} {{1.50}}", "one T x"),
    # Strings have characters (UTF-16 code units) and a length.
    ("{{s.[0]}}{{s.[2]}} {{s.length}} {{lookup s 1}} {{emoji.length}} {{emoji.[3]}}", "ac 3 b 4 b"),
    # Property keys as JavaScript converts them.
    ("{{lookup list true}}|{{lookup list 1.0}}|{{lookup list '1'}}|{{lookup list -1}}", "|q|q|"),
    ("{{lookup zero 'x'}}", "0"),
    (
        "{{#each numbers}}{{this}} {{/each}}",
        "1e+21 0.000001 1e-7 2 1.2345678901234569e+23 -1.5e-10 1.5e+300 0 ",
    ),
    # Object keys in JavaScript's order: integer-like keys ascending, then as inserted.
    (
        "{{#each obj}}{{@key}}={{this}},{{/each}}",
        "2=3,10=2,4294967294=7,b=1,a=4,01=5,4294967295=6,",
    ),
    ("{{#each obj as |v k|}}{{k}} {{/each}}", "2 10 4294967294 b a 01 4294967295 "),
    ("{{#each list}}{{@key}}-{{@index}} {{/each}}", "0-0 1-1 2-2 "),
    (
        "{{#each nested}}{{#each x}}{{@../index}}.{{@index}} {{/each}}{{/each}}",
        "0.0 0.1 1.0 ",
    ),
    ("{{#each nested}}{{@../root.s}}{{/each}}", "abcabc"),
    ("{{odd.[x\\]y]}} {{odd.[this]}}", "XY THIS"),
]


@pytest.mark.parametrize(("source", "expected"), AS_HANDLEBARS_JS_VALUES)
def test_values_follow_javascript_as_in_handlebars_js(source: str, expected: str) -> None:
    rendered = render(parse(source), JS_VALUES, escape=False)
    assert rendered.text == expected
    assert rendered.missing == []


@pytest.mark.parametrize(
    "source", ["{{list.[01]}}", "{{list.[+1]}}", "{{list.[ 1]}}", "{{list.[3]}}", "{{s.[9]}}"]
)
def test_what_javascript_does_not_index_names_nothing(source: str) -> None:
    # Handlebars.js prints nothing; here the placeholder stays and is reported.
    rendered = render(parse(source), JS_VALUES, escape=False)
    assert (rendered.text, rendered.missing) == (source, [source[2:-2]])


def test_each_keeps_the_first_fifteen_keys_in_javascript_order() -> None:
    pairs = {"name": "n", **{str(n): str(n) for n in range(20, 0, -1)}}
    rendered = render(parse("{{#each m}}{{@key}} {{/each}}"), {"m": pairs}, escape=False)
    assert rendered.text == "".join(f"{n} " for n in range(1, 16))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        # Handlebars.js: "Expecting 'ID', got 'NUMBER'" (or 'BOOLEAN'), "Invalid path".
        ("{{A.C.1}}", "invalid path"),
        ("{{list/1}}", "invalid path"),
        ("{{a.true}}", "invalid path"),
        ("{{s.this}}", "invalid path"),
    ],
)
def test_refuses_paths_handlebars_js_refuses(source: str, message: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(message)):
        parse(source)


@pytest.mark.parametrize(("source", "escape", "expected"), AS_HANDLEBARS_JS)
def test_renders_as_handlebars_js_does(source: str, escape: bool, expected: str) -> None:
    rendered = render(parse(source), CONTEXT, escape=escape)
    assert rendered.text == expected
    assert rendered.missing == []


def test_escaping_applies_only_when_asked() -> None:
    template = parse("{{v}} {{{v}}}")
    context = {"v": "<a href='x'>&</a>"}
    assert render(template, context, escape=False).text == "<a href='x'>&</a> <a href='x'>&</a>"
    assert render(template, context, escape=True).text == (
        "&lt;a href&#x3D;&#x27;x&#x27;&gt;&amp;&lt;/a&gt; <a href='x'>&</a>"
    )


def test_a_missing_value_keeps_its_placeholder_and_is_reported_once() -> None:
    source = (
        "Hi {{Attributes.Customer.FirstName}}, {{ Attributes.Custom.[Order Id] }} "
        "{{{Attributes.Agent.FirstName}}} {{Attributes.Customer.FirstName}}"
    )
    rendered = render(parse(source), {"Attributes": {}}, escape=True)
    assert rendered.text == source  # never escaped: it is the template's own text
    assert rendered.missing == [
        "Attributes.Customer.FirstName",
        "Attributes.Custom.[Order Id]",
        "Attributes.Agent.FirstName",
    ]


def test_a_missing_value_in_a_condition_is_false_not_missing() -> None:
    source = (
        "{{#if Attributes.Customer.FirstName}}Hi {{Attributes.Customer.FirstName}}{{else}}Hi{{/if}}"
    )
    rendered = render(parse(source), {}, escape=True)
    assert rendered.text == "Hi"
    assert rendered.missing == []


def test_an_empty_value_is_a_value() -> None:
    rendered = render(parse("[{{x}}]"), {"x": ""}, escape=True)
    assert rendered.text == "[]"
    assert rendered.missing == []


def test_each_visits_at_most_fifteen_items() -> None:
    items = [str(n) for n in range(MAX_EACH_ITEMS + 5)]
    rendered = render(parse("{{#each items}}{{this}},{{/each}}"), {"items": items}, escape=False)
    assert rendered.text == "".join(f"{n}," for n in range(MAX_EACH_ITEMS))
    pairs = {f"k{n:02}": str(n) for n in range(20)}
    rendered = render(parse("{{#each m}}{{@key}} {{/each}}"), {"m": pairs}, escape=False)
    assert rendered.text.split() == [f"k{n:02}" for n in range(MAX_EACH_ITEMS)]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{#with Attributes}}{{x}}{{/with}}", "with helper is not supported"),
        ("{{with Attributes}}", "with helper is not supported"),
        ("{{> footer}}", "partials are not supported"),
        ("{{#> layout}}x{{/layout}}", "partial blocks are not supported"),
        ("{{{{raw}}}}x{{{{/raw}}}}", "raw blocks"),
        ("{{#if a}}x", "unclosed block {{#if a}}"),
        ("{{#if a}}x{{/unless}}", "does not close {{#if a}}"),
        ("x{{/if}}", "closes no block"),
        ("{{else}}", "outside a block"),
        ("{{#if a}}1{{else}}2{{else}}3{{/if}}", "only one {{else}}"),
        ("{{if a}}", "must be used as a block"),
        ("{{#if}}x{{/if}}", "exactly one argument"),
        ("{{#each a b}}x{{/each}}", "exactly one argument"),
        ("{{shout name}}", "unknown helper 'shout'"),
        ("{{lookup a}}", "lookup takes exactly two arguments"),
        ("{{name", "unclosed tag"),
        ("{{!-- never closed", "unclosed comment"),
        ("{{}}", "empty tag"),
        ("{{a..b}}", "invalid path"),
        ("{{lookup a 'open}}", "unclosed tag"),
        ("x\n\n{{#each}}{{/each}}", "line 3"),
    ],
)
def test_refuses_what_it_cannot_render(source: str, message: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(message)):
        parse(source)


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(TemplateError, match="nested too deeply"):
        parse("{{#if a}}" * 100 + "{{/if}}" * 100)


@pytest.mark.parametrize("depth", [65, 500, 5000])
def test_deeply_nested_subexpressions_are_refused_not_a_crash(depth: int) -> None:
    source = "{{lookup " + "(lookup " * depth + "Attributes 'x'" + ") 'y'" * depth + "}}"
    with pytest.raises(TemplateError, match="subexpressions are nested too deeply"):
        parse(source)


def test_subexpressions_nest_up_to_the_limit() -> None:
    source = "{{lookup " + "(lookup " * 63 + "a 'x'" + ") 'x'" * 63 + "}}"
    nested: dict[str, Any] = {"x": "end"}
    for _ in range(63):
        nested = {"x": nested}
    assert render(parse(source), {"a": nested}, escape=False).text == "end"


def test_paths_lists_every_name_used() -> None:
    template = parse(
        "{{#if Attributes.Customer.FirstName}}{{Attributes.Customer.FirstName}}{{/if}}"
        "{{#each Attributes.Custom}}{{@key}}{{/each}}{{lookup Attributes.System 'Name'}}"
    )
    originals = [path.original for path in template.paths()]
    assert originals == [
        "Attributes.Customer.FirstName",
        "Attributes.Customer.FirstName",
        "Attributes.Custom",
        "@key",
        "Attributes.System",
    ]


@given(st.text().filter(lambda s: "{{" not in s and not s.endswith("\\")))
def test_text_without_tags_renders_as_itself(text: str) -> None:
    rendered = render(parse(text), {}, escape=True)
    assert rendered.text == text


@given(st.text())
def test_values_are_escaped_in_html_and_verbatim_elsewhere(value: str) -> None:
    template = parse("{{v}}|{{{v}}}")
    assert render(template, {"v": value}, escape=True).text == f"{escape_html(value)}|{value}"
    assert render(template, {"v": value}, escape=False).text == f"{value}|{value}"


@given(st.text(alphabet="<>&\"'`=ab"))
def test_escaped_values_carry_no_markup(value: str) -> None:
    escaped = escape_html(value)
    assert not any(char in escaped for char in "<>\"'`=")


@settings(max_examples=500)
@given(st.text(alphabet=" {}#/^!~&.@[]()\"'=|abcelsifhnwt-\n\\0123", max_size=50))
def test_any_text_parses_or_is_refused_and_then_renders(source: str) -> None:
    # Whatever a template says, the answer is a TemplateError or a rendering: never a crash.
    try:
        template = parse(source)
    except TemplateError:
        return
    context = {"a": "A", "b": ["x", {"c": "y"}], "e": "", "this": "t", "else": "E"}
    render(template, context, escape=True)
