"""A large template is rendered outside the send's write, and what is sent is still the
template that the write finds: other sends are not held meanwhile, and a template changed
under the render is rendered again.

The first two tests run the real StartOutboundEmailContact handler and store in this process,
on the server's database, with the render wrapped to look (it runs where the send would
render): the server makes everything else and delivers the email.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from connectmail.aws import Principal, RequestContext
from connectmail.config import Settings
from connectmail.connect.base import Deps
from connectmail.connect.contacts import ContactHandlers
from connectmail.store.store import Store
from connectmail.templates import rendering
from tests.qconnect.kit import KnowledgeBase, email_content, error_message, make_knowledge_base
from tests.support.connect import SEND_PATHS, Outpost, make_outpost
from tests.support.server import REGION
from tests.templates.conftest import MailServer
from tests.templates.test_sending import parse, parts, recipient, templated

# Over sending.RENDERED_OUTSIDE: 2,000 tags, 66,000 characters.
LARGE_HTML = "<p>Line of order {{Attributes.Custom.OrderId}}.</p>\n" * 2_000
# How long a wrapped render waits for what should happen meanwhile before going on without it
# (so that a send which holds everything while it renders fails instead of hanging).
LIVENESS = 20.0


def large_content(subject: str) -> dict[str, Any]:
    return email_content(subject, html=LARGE_HTML, text=None)


@pytest.fixture(scope="module")
def setup(mail_server: MailServer) -> tuple[Outpost, KnowledgeBase]:
    server = mail_server.server
    return make_outpost(server.client()), make_knowledge_base(server.client("qconnect"))


def active_large_template(kb: KnowledgeBase, subject: str) -> str:
    template_id = kb.create_template(content=large_content(subject))["messageTemplateId"]
    kb.version(template_id)
    kb.activate(template_id, 1)
    return str(template_id)


@pytest.fixture
def handlers(mail_server: MailServer) -> Iterator[ContactHandlers]:
    """The StartOutboundEmailContact handler in this process, on the server's database."""
    args = mail_server.server.args
    store = Store(args[args.index("--database-url") + 1])
    try:
        yield ContactHandlers(Deps(store=store, settings=Settings(deliver=False)))
    finally:
        store.close()


def context(mail_server: MailServer) -> RequestContext:
    return RequestContext(
        service="connect",
        operation="StartOutboundEmailContact",
        region=REGION,
        request_id=str(uuid.uuid4()),
        principal=Principal(mail_server.server.account_id, "AKIDTEST", "secret"),
    )


@SEND_PATHS
def test_other_sends_are_written_while_a_large_template_renders(
    mail_server: MailServer,
    setup: tuple[Outpost, KnowledgeBase],
    handlers: ContactHandlers,
    monkeypatch: pytest.MonkeyPatch,
    batched: bool,
) -> None:
    outpost, kb = setup
    template_id = active_large_template(kb, "Large order {{Attributes.Custom.OrderId}}")
    started = threading.Event()
    raw_sent = threading.Event()
    seen: list[str] = []
    render = rendering.render_content

    def held(*args: Any, **kwargs: Any) -> Any:
        # Rendered in the write (on SQLite: by the event loop, with the write turn), the RAW
        # send below could not be written until this went on without it.
        started.set()
        seen.append("RAW sent meanwhile" if raw_sent.wait(LIVENESS) else "RAW held")
        return render(*args, **kwargs)

    monkeypatch.setattr("connectmail.templates.sending.render_content", held)
    to = recipient()
    request = templated(
        outpost, kb.id, template_id, to, CustomAttributes={"OrderId": "42"}
    ) | outpost.sent_from(batched)
    raw = {
        "InstanceId": outpost.instance_id,
        "ContactId": outpost.contact(),
        "DestinationEmailAddress": {"EmailAddress": recipient()},
        "EmailMessage": {
            "MessageSourceType": "RAW",
            "RawMessage": {"Subject": "Small", "Body": "Hello", "ContentType": "text/plain"},
        },
        **outpost.sent_from(),
    }

    async def sends() -> dict[str, Any]:
        large = asyncio.ensure_future(
            handlers.start_outbound_email_contact(context(mail_server), request)
        )
        assert await asyncio.to_thread(started.wait, LIVENESS)
        answer = await handlers.start_outbound_email_contact(context(mail_server), raw)
        assert answer == {"ContactId": raw["ContactId"]}
        raw_sent.set()
        return await large

    assert asyncio.run(sends()) == {"ContactId": request["ContactId"]}
    assert seen == ["RAW sent meanwhile"]
    message = parse(mail_server.mail_to(to).data)
    assert str(message["Subject"]) == "Large order 42"
    assert parts(message)[1].count("<p>Line of order 42.</p>") == 2_000


@SEND_PATHS
def test_a_template_changed_under_the_render_is_sent_as_the_write_finds_it(
    mail_server: MailServer,
    setup: tuple[Outpost, KnowledgeBase],
    handlers: ContactHandlers,
    monkeypatch: pytest.MonkeyPatch,
    batched: bool,
) -> None:
    """Each of the first two renders sees a new version activated while it renders: the
    first is rendered again, the second (changed again) is rendered in the write."""
    outpost, kb = setup
    template_id = active_large_template(kb, "Version 1 of {{Attributes.Custom.OrderId}}")
    subjects: list[str] = []
    render = rendering.render_content

    def changing(content: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        subjects.append(content["email"]["subject"])
        if len(subjects) <= 2:  # through the server, between this send's writes
            kb.client.update_message_template(
                knowledgeBaseId=kb.id,
                messageTemplateId=template_id,
                content=large_content(
                    f"Version {len(subjects) + 1} of {{{{Attributes.Custom.OrderId}}}}"
                ),
            )
            kb.activate(template_id, kb.version(template_id)["versionNumber"])
        return render(content, *args, **kwargs)

    monkeypatch.setattr("connectmail.templates.sending.render_content", changing)
    to = recipient()
    request = templated(
        outpost, kb.id, template_id, to, CustomAttributes={"OrderId": "7"}
    ) | outpost.sent_from(batched)
    answer = asyncio.run(handlers.start_outbound_email_contact(context(mail_server), request))
    assert answer == {"ContactId": request["ContactId"]}
    assert [subject.split(" of ")[0] for subject in subjects] == [
        "Version 1",
        "Version 2",
        "Version 3",
    ]
    assert str(parse(mail_server.mail_to(to).data)["Subject"]) == "Version 3 of 7"


def test_a_large_template_sends_and_fails_as_a_small_one(
    mail_server: MailServer, setup: tuple[Outpost, KnowledgeBase]
) -> None:
    """Through the server: the errors, the replay of a client token, the email."""
    outpost, kb = setup
    connect = mail_server.server.client()
    template_id = active_large_template(
        kb, "Order {{Attributes.Custom.OrderId}} for {{Attributes.Customer.FirstName}}"
    )
    with pytest.raises(connect.exceptions.InvalidRequestException) as missing:
        connect.start_outbound_email_contact(
            **templated(outpost, kb.id, template_id, recipient(), CustomAttributes={"OrderId": "1"})
        )
    assert error_message(missing) == (
        f"Message template {template_id} needs values for: Attributes.Customer.FirstName. "
        "Give them in TemplateAttributes or as the template's default attributes."
    )
    to = recipient()
    request = templated(
        outpost,
        kb.id,
        template_id,
        to,
        CustomAttributes={"OrderId": "2"},
        CustomerProfileAttributes='{"FirstName": "Jane"}',
    ) | {"ClientToken": f"large-{uuid.uuid4()}"}
    first = connect.start_outbound_email_contact(**request)["ContactId"]
    assert connect.start_outbound_email_contact(**request)["ContactId"] == first
    changed = request | {"DestinationEmailAddress": {"EmailAddress": recipient()}}
    with pytest.raises(connect.exceptions.IdempotencyException):
        connect.start_outbound_email_contact(**changed)
    with pytest.raises(connect.exceptions.InvalidRequestException, match="already been sent"):
        connect.start_outbound_email_contact(**request | {"ClientToken": str(uuid.uuid4())})
    assert str(parse(mail_server.mail_to(to).data)["Subject"]) == "Order 2 for Jane"
