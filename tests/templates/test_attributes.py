"""Where `{{Attributes....}}` values come from: qconnect's attributes and Customer Profiles."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connectmail.errors import ServiceError
from connectmail.templates import attributes


def test_message_template_attributes_become_namespaces() -> None:
    context = attributes.from_message_template_attributes(
        {
            "systemAttributes": {
                "name": "Jane",
                "customerEndpoint": {"address": "jane@example.org"},
                "systemEndpoint": {"address": "help@example.com"},
            },
            "agentAttributes": {"firstName": "Sam"},
            "customerProfileAttributes": {
                "firstName": "Jane",
                "profileARN": "arn:aws:profile:x",
                "billingCity": "Oslo",
                "custom": {"loyalty tier": "gold"},
                "calculatedAttributes": {"_spend": "12"},
                "recommendations": [
                    {
                        "score": 0.9,
                        "catalogItem": {"name": "Kettle", "attributes": {"colour": "red"}},
                    }
                ],
            },
            "customAttributes": {"OrderId": "42"},
            "caseAttributes": {"Status": "open"},
        }
    )
    assert context == {
        "Attributes": {
            "System": {
                "Name": "Jane",
                "CustomerEndpointAddress": "jane@example.org",
                "SystemEmailAddress": "help@example.com",
                "SystemEndpointAddress": "help@example.com",
            },
            "Agent": {"FirstName": "Sam"},
            "Customer": {
                "FirstName": "Jane",
                "ProfileARN": "arn:aws:profile:x",
                "BillingCity": "Oslo",
                "Attributes": {"loyalty tier": "gold"},
                "CalculatedAttributes": {"_spend": "12"},
                "Recommendations": [
                    {
                        "Score": 0.9,
                        "CatalogItem": {"Name": "Kettle", "Attributes": {"colour": "red"}},
                    }
                ],
            },
            "Custom": {"OrderId": "42"},
            "Case": {"Status": "open"},
        }
    }


def test_a_customer_profile_also_gives_flat_address_names() -> None:
    profile = {
        "FirstName": "Jane",
        "Address": {"City": "Paris", "Address1": "1 rue"},
        "ShippingAddress": {"City": "Lyon"},
        "Attributes": {"Tier": "Gold"},
    }
    customer = attributes.from_customer_profile(json.dumps(profile))["Attributes"]["Customer"]
    assert customer["City"] == "Paris"
    assert customer["Address1"] == "1 rue"
    assert customer["ShippingCity"] == "Lyon"
    assert customer["Address"] == {"City": "Paris", "Address1": "1 rue"}
    assert customer["Attributes"] == {"Tier": "Gold"}


@pytest.mark.parametrize("serialized", ["", "nope", "[]", "null", "3"])
def test_a_customer_profile_must_be_a_json_object(serialized: str) -> None:
    with pytest.raises(ServiceError) as exc:
        attributes.from_customer_profile(serialized)
    assert exc.value.code == "InvalidRequestException"


def test_later_attributes_win_value_by_value() -> None:
    defaults = {"Attributes": {"Customer": {"FirstName": "Friend", "LastName": "Doe"}}}
    request = {"Attributes": {"Customer": {"FirstName": "Jane"}, "Custom": {"A": "1"}}}
    merged = attributes.merge(defaults, request)
    assert merged == {
        "Attributes": {
            "Customer": {"FirstName": "Jane", "LastName": "Doe"},
            "Custom": {"A": "1"},
        }
    }
    assert defaults["Attributes"]["Customer"]["FirstName"] == "Friend"  # inputs untouched


@pytest.mark.parametrize("padding", [0, 70_000], ids=["kept parsed", "too long to keep"])
def test_a_template_renders_again_with_other_values(padding: int) -> None:
    """Parsed templates are reused: each rendering still sees only its own attributes."""
    from connectmail.templates.rendering import render_content

    html = "<p>{{Attributes.Custom.Name}}{{#if Attributes.Custom.Vip}} (VIP){{/if}}</p>"
    content: dict[str, Any] = {
        "email": {"subject": "Hi", "body": {"html": {"content": html + " " * padding}}}
    }

    def body(custom: dict[str, str]) -> str:
        rendered = render_content(content, {"Attributes": {"Custom": custom}})
        assert rendered.missing == ([] if "Name" in custom else ["Attributes.Custom.Name"])
        text: str = rendered.content["email"]["body"]["html"]["content"]
        return text.rstrip(" ")

    assert body({"Name": "Ann", "Vip": "yes"}) == "<p>Ann (VIP)</p>"
    assert body({"Name": "<Bo>"}) == "<p>&lt;Bo&gt;</p>"
    assert body({}) == "<p>{{Attributes.Custom.Name}}</p>"
    assert content["email"]["body"]["html"]["content"].startswith(html)  # the template itself
