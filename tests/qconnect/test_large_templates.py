"""Large templates: reading one takes seconds, and the server serves others meanwhile."""

from __future__ import annotations

import threading
import time
import urllib.request
from typing import Any

from botocore.exceptions import ClientError

from tests.qconnect.kit import KnowledgeBase, email_content, unique_name
from tests.support.server import ServerProcess


def test_other_requests_are_answered_while_a_template_is_read(
    kb: KnowledgeBase, shared_server: ServerProcess
) -> None:
    # 60,000 different tags that the parser's fast paths do not take (quotes) take seconds
    # to read, and the `with` at the very end is found only once all of them are read: until
    # the answer comes, the server is reading.
    html = "".join(f'{{{{lookup a "{n}"}}}}' for n in range(60_000)) + "{{#with b}}{{/with}}"
    client = shared_server.client("qconnect")
    sent = threading.Event()
    client.meta.events.register(
        "before-send.qconnect.CreateMessageTemplate", lambda **kwargs: sent.set()
    )
    order: list[str] = []
    outcome: dict[str, Any] = {}

    def create() -> None:
        try:
            client.create_message_template(
                knowledgeBaseId=kb.id,
                name=unique_name(),
                channelSubtype="EMAIL",
                content=email_content("s", html=html, text=None),
            )
        except ClientError as error:
            outcome["code"] = error.response["Error"]["Code"]
        order.append("create")

    creating = threading.Thread(target=create)
    creating.start()
    assert sent.wait(60)
    time.sleep(0.5)  # for the request to arrive: what is checked is the order of answers
    # A server that stopped to read would answer the first of these with the create, and
    # the rest after it.
    for _ in range(10):
        with urllib.request.urlopen(f"{shared_server.endpoint}/_connectmail/health", timeout=300):
            order.append("health")
    creating.join(300)
    assert order == ["health"] * 10 + ["create"]
    assert outcome["code"] == "ValidationException"


def test_a_large_template_is_read_once_per_write(
    kb: KnowledgeBase, shared_server: ServerProcess
) -> None:
    # GetMessageTemplate's attributeTypes come from what the write read, and a version of
    # unchanged content is not read again either.
    body = "{{#if Attributes.Custom.A}}x{{/if}}" * 20_000 + "{{Attributes.Agent.FirstName}}"
    created = kb.create_template(content=email_content("s", html=body, text=None))
    template_id = created["messageTemplateId"]
    assert created["attributeTypes"] == ["CUSTOM", "AGENT"]
    assert kb.get(template_id)["attributeTypes"] == ["CUSTOM", "AGENT"]
    assert kb.version(template_id)["attributeTypes"] == ["CUSTOM", "AGENT"]
    assert kb.get(f"{template_id}:1")["attributeTypes"] == ["CUSTOM", "AGENT"]
