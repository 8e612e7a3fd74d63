"""The parser's fast paths read what its general path reads, and nothing else.

Most tags are a plain path (`{{Attributes.Customer.FirstName}}`) or a helper on plain paths
(`{{#if a}}`); the parser reads those with one regular expression each. With the fast paths
turned off, every template must give the same tree, or the same error.
"""

from __future__ import annotations

import re
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from connectmail.templates.handlebars import Template, TemplateError, parse, render
from connectmail.templates.handlebars import parser as handlebars_parser

# Names, keywords, numbers and the punctuation and blanks (Unicode ones too) around them.
PIECES = [
    "a",
    "b",
    "x1",
    "_",
    "$",
    ":",
    "é",
    "1",
    "-",
    "-1",
    "1.5",
    "this",
    "thisX",
    "this$",
    "true",
    "null",
    "undefined",
    "as",
    "if",
    "each",
    "upper",
    "lookup",
    "with",
    "else",
    ".",
    "..",
    "/",
    "./",
    "../",
    "@",
    "[a b]",
    "[",
    "]",
    "=",
    "|",
    "(",
    ")",
    "'",
    '"',
    "~",
    " ",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\f",
    "\v",
    "\u00a0",
    "\x1c",
]
bodies = st.lists(st.sampled_from(PIECES), min_size=1, max_size=8).map("".join)
names = st.sampled_from(["a", "b", "if", "each", "upper", "x-y", "é", "true", "this", "1"])
plain_paths = st.lists(names, min_size=1, max_size=3).flatmap(
    lambda parts: st.sampled_from([".", "/"]).map(lambda sep: sep.join(parts))
)
plain_bodies = st.builds(
    lambda lead, paths, sep, trail: lead + sep.join(paths) + trail,
    st.sampled_from(["", " ", "\n"]),
    st.lists(plain_paths, min_size=1, max_size=3),
    st.sampled_from([" ", "  ", "\t", "\n ", " \u00a0"]),
    st.sampled_from(["", " ", "\f", "\u00a0 ", "\n"]),
)


def parse_result(source: str) -> Template | str:
    try:
        return parse(source)
    except TemplateError as problem:
        return str(problem)


def parse_without_fast_paths(source: str) -> Template | str:
    never = re.compile(r"(?!)")
    with (
        mock.patch.object(handlebars_parser, "_PLAIN_TAG", never),
        mock.patch.object(handlebars_parser, "_plain_call", lambda body: None),
    ):
        return parse_result(source)


@settings(max_examples=1000)
@given(st.one_of(bodies, plain_bodies))
def test_a_plain_body_reads_as_the_general_reader_reads_it(body: str) -> None:
    fast = handlebars_parser._plain_call(body)
    if fast is not None:
        assert handlebars_parser._parse_call(body, 1) == (fast, ())


tags = st.builds(
    lambda left, sigil, body, right, close: "{{" + left + sigil + body + right + close,
    st.sampled_from(["", "", "~"]),
    st.sampled_from(["", "", "", "#", "^", "/", "&", "{", "!", "else ", "#if ", "#each "]),
    st.one_of(bodies, plain_bodies),
    st.sampled_from(["", "", "~"]),
    st.sampled_from(["}}", "}}", "}}}", "}"]),
)
texts = st.sampled_from(["", " ", "x", "\n", "  \n", "\\", "\\\\", "{{/if}}", "{{else}}", "{{/a}}"])


@settings(max_examples=1000)
@given(st.lists(st.one_of(tags, texts), max_size=8).map("".join))
def test_templates_parse_the_same_with_and_without_the_fast_paths(source: str) -> None:
    assert parse_result(source) == parse_without_fast_paths(source)


def test_repeated_tags_each_keep_their_own_source() -> None:
    # Equal tags share what they read; a missing value still shows each one as written.
    rendered = render(parse("{{a}} {{ a }} {{a}} {{~a~}} x"), {}, escape=True)
    assert rendered.text == "{{a}} {{ a }} {{a}}{{~a~}}x"
    assert rendered.missing == ["a"]
