"""Composing outbound messages: encoding, exact headers, the same bytes every time."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from connectmail.mail.compose import compose
from connectmail.mail.threading import reply_subject
from tests.support.mail import display_name

ENCODED_WORD = re.compile(rb"=\?[^?]+\?[bBqQ]\?[^?]*\?=")


def spec(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "from": {"address": "support@example.com", "name": "Support"},
        "to": [{"address": "jane@example.org", "name": None}],
        "cc": [],
        "subject": "Hello",
        "text": "Hi Jane",
        "html": None,
        "headers": [],
        "message_id": "<m1@example.com>",
        "in_reply_to": None,
        "references": [],
        "date": 1_800_000_000.0,
    }
    base.update(changes)
    return base


def parsed(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_same_spec_same_bytes() -> None:
    html = spec(html="<p>Hi</p>", text=None)
    assert compose(html) == compose(html)


@pytest.mark.parametrize(
    "text",
    [
        "Grüße, ünïcode ✓ 日本語",
        "=?utf-8?q?looks=20encoded?=",
        "tab\tinside",
        "x" * 300,
        "word " * 200,
        'quotes " and \\ backslashes, commas; <angles>',
        "ab" * 128,
        "Ünïcode " * 30,
    ],
)
def test_subject_and_names_round_trip_exactly(text: str) -> None:
    message = spec(subject=text, to=[{"address": "jane@example.org", "name": text}])
    data = compose(message)
    header = data.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 998 for line in header.split(b"\r\n"))
    assert header.isascii()
    # RFC 2047 section 2: an encoded word may not be more than 75 characters long.
    assert all(len(word) <= 75 for word in ENCODED_WORD.findall(header))
    result = parsed(data)
    assert str(result["Subject"]) == text
    assert display_name(data, "To").split() == text.split()
    assert result["To"].addresses[0].addr_spec == "jane@example.org"


def test_threading_headers() -> None:
    data = compose(spec(in_reply_to="<b@x>", references=["<a@x>", "<b@x>"]))
    result = parsed(data)
    assert result["In-Reply-To"] == "<b@x>"
    assert result["References"].split() == ["<a@x>", "<b@x>"]


def test_html_goes_with_a_derived_plain_part() -> None:
    result = parsed(compose(spec(text=None, html="<h1>Title</h1><p>One &amp; two</p>")))
    assert result.get_content_type() == "multipart/alternative"
    plain, html = result.iter_parts()
    assert "Title" in plain.get_content() and "One & two" in plain.get_content()
    assert "MIME-Version" not in plain and "MIME-Version" not in html
    assert html.get_content().strip() == "<h1>Title</h1><p>One &amp; two</p>"


def test_extra_headers_are_encoded_not_parsed() -> None:
    data = compose(spec(headers=[["X-Campaign", "=?utf-8?q?x=0D=0ABcc=3A_y?="]]))
    header = data.split(b"\r\n\r\n", 1)[0]
    assert b"Bcc" not in header
    assert str(parsed(data)["X-Campaign"]) == "=?utf-8?q?x=0D=0ABcc=3A_y?="


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Order 42", "Re: Order 42"),
        ("Re: Order 42", "Re: Order 42"),
        ("RE: re:Order 42", "Re: Order 42"),
        ("Re[2]: Order 42", "Re: Order 42"),
        ("AW: Bestellung", "Re: Bestellung"),
        ("Regarding your order", "Re: Regarding your order"),
        # "Ref:" is a reference, not a reply prefix: the agent wrote it.
        ("Ref: Order 42", "Re: Ref: Order 42"),
    ],
)
def test_reply_subject_adds_one_re(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected
