"""Pre-signed StartOutboundEmailContact requests, so the load generator only sends bytes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

PATH = "/contact/outbound-email"


@dataclass(frozen=True)
class SignedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def raw_message(contact_id: str, instance_id: str, sender: str) -> dict[str, Any]:
    return {
        "InstanceId": instance_id,
        "ContactId": contact_id,
        "FromEmailAddress": {"EmailAddress": sender, "DisplayName": "Bench Support"},
        "DestinationEmailAddress": {
            "EmailAddress": f"c-{contact_id}@example.org",
            "DisplayName": "Bench Customer",
        },
        "EmailMessage": {
            "MessageSourceType": "RAW",
            "RawMessage": {
                "Subject": "Your order has shipped",
                "Body": "<p>Hello, your order <b>#1234</b> is on its way.</p>",
                "ContentType": "text/html",
            },
        },
        "ClientToken": str(uuid.uuid4()),
    }


def sign(
    endpoint: str,
    credentials: Credentials,
    region: str,
    service: str,
    method: str,
    path: str,
    payload: dict[str, Any],
) -> SignedRequest:
    body = json.dumps(payload, separators=(",", ":")).encode()
    request = AWSRequest(
        method=method, url=endpoint + path, data=body, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(credentials, service, region).add_auth(request)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
    return SignedRequest(method, path, headers, body)


def signed_sends(
    endpoint: str, credentials: Credentials, region: str, payloads: Iterator[dict[str, Any]]
) -> Iterator[SignedRequest]:
    for payload in payloads:
        yield sign(endpoint, credentials, region, "connect", "PUT", PATH, payload)
