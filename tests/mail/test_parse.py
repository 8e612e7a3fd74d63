"""Reading received mail, and composing mail with attachments that reads back byte for byte."""

from __future__ import annotations

import os
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from connectmail.mail.compose import Attachment, compose
from connectmail.mail.parse import message_ids, parse, safe_file_name


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


def test_a_client_message_with_everything() -> None:
    raw = (
        b"From: =?utf-8?q?J=C3=BCrgen?= <jurgen@example.org>\r\n"
        b'To: "Support, EU" <support@example.com>, other@example.net\r\n'
        b"Cc: boss@example.org\r\n"
        b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
        b"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
        b"Message-ID: <new@mail.example.org>\r\n"
        b"In-Reply-To: <b@example.com>\r\n"
        b"References: <a@example.com>\r\n <b@example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="X"\r\n'
        b"\r\n"
        b"--X\r\n"
        b'Content-Type: multipart/alternative; boundary="Y"\r\n'
        b"\r\n"
        b"--Y\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n"
        b"\r\n"
        b"Gr=C3=BC=C3=9Fe\r\n"
        b"--Y\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n"
        b"\r\n"
        b"<p>Hi</p>\r\n"
        b"--Y--\r\n"
        b"--X\r\n"
        b"Content-Type: application/pdf\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''R%C3%A9sum%C3%A9.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"\r\n"
        b"JVBERi0=\r\n"
        b"--X\r\n"
        b"Content-Type: image/png\r\n"
        b"Content-ID: <logo>\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"\r\n"
        b"iVBORw==\r\n"
        b"--X--\r\n"
    )
    parsed = parse(raw)
    assert parsed.message_id == "<new@mail.example.org>"
    assert parsed.in_reply_to == ("<b@example.com>",)
    assert parsed.references == ("<a@example.com>", "<b@example.com>")
    assert parsed.thread_references == ["<a@example.com>", "<b@example.com>"]
    assert parsed.subject == "Grüße"
    assert parsed.sender is not None and parsed.sender.name == "Jürgen"
    assert [(p.address, p.name) for p in parsed.to] == [
        ("support@example.com", "Support, EU"),
        ("other@example.net", None),
    ]
    assert [p.address for p in parsed.cc] == ["boss@example.org"]
    assert parsed.date == 1_700_000_000.0
    assert parsed.text is not None and parsed.text.strip() == "Grüße"
    assert parsed.html is not None and parsed.html.strip() == "<p>Hi</p>"
    assert [(a.name, a.content_type, a.data) for a in parsed.attachments] == [
        ("Résumé.pdf", "application/pdf", b"%PDF-"),
        ("attachment-2.png", "image/png", b"\x89PNG"),
    ]


def test_thread_references_fall_back_to_in_reply_to() -> None:
    raw = b"From: a@example.org\r\nIn-Reply-To: <x@y> <z@w>\r\nSubject: s\r\n\r\nbody\r\n"
    parsed = parse(raw)
    assert parsed.thread_references == ["<x@y>"]
    assert parsed.message_id is None
    assert parsed.plain_text is not None and parsed.plain_text.strip() == "body"


def test_an_html_only_message_has_plain_text_too() -> None:
    raw = b"From: a@example.org\r\nContent-Type: text/html\r\n\r\n<h1>Title</h1><p>Text</p>\r\n"
    parsed = parse(raw)
    assert parsed.text is None
    assert parsed.plain_text is not None and "Title" in parsed.plain_text


def test_malformed_headers_yield_nothing_rather_than_an_error() -> None:
    raw = (
        b"From: <<<@@@>>>\r\nTo: ,,,;;;\r\nMessage-ID: not an id\r\n"
        b"Date: yesterday\r\nSubject: \xff\xfe\r\n\r\n\xff body\r\n"
    )
    parsed = parse(raw)
    assert parsed.sender is None and parsed.to == ()
    assert parsed.message_id is None and parsed.date is None


def test_an_attached_message_is_one_attachment() -> None:
    inner = EmailMessage()
    inner["Subject"] = "Forwarded"
    inner.set_content("inner body")
    outer = EmailMessage()
    outer["From"] = "a@example.org"
    outer.set_content("see attached")
    outer.add_attachment(inner)
    parsed = parse(outer.as_bytes())
    (attachment,) = parsed.attachments
    assert attachment.content_type == "message/rfc822"
    assert attachment.name == "attachment-1.eml"
    assert b"inner body" in attachment.data
    assert parsed.text is not None and parsed.text.strip() == "see attached"


def test_message_ids_are_kept_only_when_well_formed() -> None:
    assert message_ids("<a@b> junk <c@d>\r\n <a@b>") == ["<a@b>", "<c@d>"]
    assert message_ids("<has space@b> <ok@b>") == ["<ok@b>"]
    assert message_ids(None) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("bad\r\nname.txt", "badname.txt"),
        (None, "attachment-3.pdf"),
        ("x" * 300 + ".pdf", "x" * 252 + ".pdf"),
    ],
)
def test_file_names_are_made_safe(name: str | None, expected: str) -> None:
    assert safe_file_name(name, "application/pdf", 3) == expected


def test_attachments_compose_byte_for_byte_and_deterministically() -> None:
    files = [
        Attachment("scan.pdf", "application/pdf", os.urandom(10_000)),
        Attachment("Ünïcödé " * 30 + ".txt", "text/plain", "ümlaut\r\n".encode()),
        Attachment('quote".csv', "text/csv", b"a,b\n"),
    ]
    data = compose(spec(), files)
    assert data == compose(spec(), files)
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message.get_content_type() == "multipart/mixed"
    body, *parts = message.iter_parts()
    assert body.get_content().strip() == "Hi Jane"
    assert [(p.get_filename(), p.get_payload(decode=True)) for p in parts] == [
        (f.name, f.data) for f in files
    ]


def test_a_file_name_cannot_add_a_header() -> None:
    smuggled = Attachment("x=?utf-8?q?=0D=0ABcc:_evil@example.net?=.pdf", "application/pdf", b"1")
    data = compose(spec(), [smuggled])
    message = message_from_bytes(data, policy=policy.default)
    assert "Bcc" not in message
    assert all(not part.get("Bcc") for part in message.walk())
    (part,) = list(message.iter_attachments())
    assert part.get_filename() == smuggled.name
