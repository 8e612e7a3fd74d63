"""The values a template's placeholders name, under `Attributes`, from wherever they come.

    {{Attributes.System.CustomerEndpointAddress}}   systemAttributes.customerEndpoint.address
    {{Attributes.System.SystemEmailAddress}}        systemAttributes.systemEndpoint.address
    {{Attributes.System.Name}}                      systemAttributes.name
    {{Attributes.Agent.FirstName}}                  agentAttributes.firstName (and LastName)
    {{Attributes.Customer.FirstName}}               customerProfileAttributes.firstName, ...
    {{Attributes.Customer.Attributes.X}}            customerProfileAttributes.custom.X
    {{Attributes.Customer.CalculatedAttributes.X}}  customerProfileAttributes.calculatedAttributes
    {{Attributes.Customer.Recommendations.[0]...}}  customerProfileAttributes.recommendations
    {{Attributes.Custom.X}}                         customAttributes.X
    {{Attributes.Case.X}}                           caseAttributes.X

The customer's names are those of Amazon Connect Customer Profiles (`FirstName`, `Address1`,
`ShippingCity`, ...), which is also the format StartOutboundEmailContact's
CustomerProfileAttributes arrives in.
"""

from __future__ import annotations

from typing import Any

import orjson

from connectmail.errors import invalid_request

Context = dict[str, Any]

# Customer Profiles' address objects and the prefix their fields take in the flat names.
_ADDRESSES = {
    "Address": "",
    "ShippingAddress": "Shipping",
    "MailingAddress": "Mailing",
    "BillingAddress": "Billing",
}


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def _pascal_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_pascal(key): _pascal_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_pascal_keys(item) for item in value]
    return value


def from_message_template_attributes(attributes: dict[str, Any]) -> Context:
    """Amazon Q in Connect's MessageTemplateAttributes (defaults, RenderMessageTemplate)."""
    namespaces: dict[str, Any] = {}
    system = attributes.get("systemAttributes") or {}
    system_values: dict[str, Any] = {}
    if "name" in system:
        system_values["Name"] = system["name"]
    customer_address = (system.get("customerEndpoint") or {}).get("address")
    if customer_address is not None:
        system_values["CustomerEndpointAddress"] = customer_address
    system_address = (system.get("systemEndpoint") or {}).get("address")
    if system_address is not None:
        system_values["SystemEmailAddress"] = system_address
        system_values["SystemEndpointAddress"] = system_address
    if system_values:
        namespaces["System"] = system_values
    agent = attributes.get("agentAttributes") or {}
    if agent:
        namespaces["Agent"] = {_pascal(key): value for key, value in agent.items()}
    profile = attributes.get("customerProfileAttributes") or {}
    if profile:
        customer: dict[str, Any] = {}
        for key, value in profile.items():
            if key == "custom":
                customer["Attributes"] = dict(value)
            elif key == "calculatedAttributes":
                customer["CalculatedAttributes"] = dict(value)
            elif key == "recommendations":
                customer["Recommendations"] = [_recommendation(item) for item in value]
            else:
                customer[_pascal(key)] = value
        namespaces["Customer"] = customer
    if attributes.get("customAttributes"):
        namespaces["Custom"] = dict(attributes["customAttributes"])
    if attributes.get("caseAttributes"):
        namespaces["Case"] = dict(attributes["caseAttributes"])
    return {"Attributes": namespaces}


def _recommendation(recommendation: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = _pascal_keys(recommendation)
    item = recommendation.get("catalogItem") or {}
    if "attributes" in item:
        # A catalog item's own attributes keep their keys as given: they are data, not fields.
        view["CatalogItem"]["Attributes"] = dict(item["attributes"])
    return view


def from_customer_profile(serialized: str) -> Context:
    """StartOutboundEmailContact's CustomerProfileAttributes: a Customer Profiles profile.

    Its address objects also give the flat names (`Address.City` is `City`,
    `ShippingAddress.City` is `ShippingCity`), and `Attributes` holds the custom fields.
    """
    try:
        profile = orjson.loads(serialized)
    except orjson.JSONDecodeError:
        profile = None
    if not isinstance(profile, dict):
        raise invalid_request(
            "TemplateAttributes.CustomerProfileAttributes must be a JSON object in the Customer "
            "Profiles profile format."
        )
    customer: dict[str, Any] = {}
    for key, value in profile.items():
        customer[key] = value
        prefix = _ADDRESSES.get(key)
        if prefix is not None and isinstance(value, dict):
            for field, item in value.items():
                customer.setdefault(f"{prefix}{field}", item)
    return {"Attributes": {"Customer": customer}}


def merge(*contexts: Context) -> Context:
    """Later contexts win, value by value (request attributes over a template's defaults)."""
    merged: Context = {}
    for context in contexts:
        _merge_into(merged, context)
    return merged


def _merge_into(target: dict[str, Any], source: dict[str, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_into(target[key], value)
        elif isinstance(value, dict):
            target[key] = {}
            _merge_into(target[key], value)
        else:
            target[key] = value
