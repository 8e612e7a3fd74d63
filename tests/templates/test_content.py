"""The content of a message template: what its checks refuse, and its attribute types."""

from __future__ import annotations

from typing import Any

import pytest

from connectmail.errors import ServiceError
from connectmail.jsontext import dumps
from connectmail.templates import content, handlebars, parsed
from connectmail.templates.content import Limits
from connectmail.templates.errors import validation

EMAIL: dict[str, Any] = {
    "email": {
        "subject": "Order {{Attributes.Custom.OrderId}}",
        "body": {"html": {"content": "<p>Hi {{Attributes.Customer.FirstName}}</p>"}},
    }
}


def test_attribute_types_are_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # As for a template too large for the parse cache: what check_syntax read is remembered.
    monkeypatch.setattr(parsed, "_TEMPLATES", parsed.Kept(0))
    content.check_syntax(EMAIL)

    def unread(text: str) -> handlebars.Template:
        raise AssertionError("parsed again")

    monkeypatch.setattr(handlebars, "parse", unread)
    # By the JSON text as stored, which is what GetMessageTemplate has.
    assert content.attribute_types(dumps(EMAIL)) == ["CUSTOM", "CUSTOMER_PROFILE"]


def test_attribute_types_of_content_not_yet_read() -> None:
    stored = dumps({"email": {"subject": "{{Attributes.System.Name}} {{Attributes.Case.Id}}"}})
    assert content.attribute_types(stored) == ["SYSTEM", "CASE"]


def test_the_quota_is_checked_without_reading_the_content() -> None:
    unreadable = {"email": {"subject": "s", "body": {"html": {"content": "{{#with x}}" * 10}}}}
    with pytest.raises(ServiceError) as exc:
        content.check_fits("EMAIL", unreadable, Limits(email_template_characters=100))
    assert exc.value.code == "ServiceQuotaExceededException"
    with pytest.raises(ServiceError) as exc:
        content.check_fits(
            None, unreadable, Limits(email_template_characters=100), over_quota=validation
        )
    assert exc.value.code == "ValidationException"
    assert "at most 100 characters" in exc.value.message
