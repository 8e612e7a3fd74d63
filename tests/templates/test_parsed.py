"""Parsed templates are kept, within a memory budget, for the next render or write."""

from __future__ import annotations

import uuid

import pytest

from connectmail.templates import handlebars, parsed
from connectmail.templates.rendering import render_content


def test_a_large_template_is_parsed_once_for_many_renders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    real = handlebars.parse

    def counted(text: str) -> handlebars.Template:
        calls.append(len(text))
        return real(text)

    monkeypatch.setattr(handlebars, "parse", counted)
    text = f"{uuid.uuid4()} " + "{{Attributes.Custom.A}}." * 10_000  # 240,000 characters
    content = {"email": {"subject": "s", "body": {"plainText": {"content": text}}}}
    for value in ("1", "2", "3"):
        context = {"Attributes": {"Custom": {"A": value}}}
        rendered = render_content(content, context).content["email"]["body"]["plainText"]
        assert rendered["content"].endswith(f"{value}." * 3)
    assert calls.count(len(text)) == 1


def test_kept_drops_the_least_recently_used_to_stay_in_budget() -> None:
    kept: parsed.Kept[str, int] = parsed.Kept(3)
    for key in "abc":
        kept.put(key, ord(key))
    assert kept.get("a") == ord("a")  # now the most recently used
    kept.put("d", ord("d"))
    assert kept.get("b") is None
    assert [kept.get(key) for key in "acd"] == [ord("a"), ord("c"), ord("d")]


def test_what_weighs_more_than_the_budget_is_not_kept() -> None:
    kept: parsed.Kept[str, str] = parsed.Kept(10, lambda key, value: len(value))
    kept.put("small", "x" * 4)
    kept.put("large", "x" * 11)
    assert kept.get("large") is None
    assert kept.get("small") == "xxxx"


def test_the_estimate_counts_tags() -> None:
    assert parsed.size_of("plain") == 10
    assert parsed.size_of("{{a}}{{b}}") == 20 + 2 * 700
