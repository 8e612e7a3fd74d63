"""Message template attachments: uploaded to the $LATEST draft, kept by versions, downloaded
from signed URLs that need no credentials, and read by the send path."""

from __future__ import annotations

import asyncio
import base64
import re
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from connectmail.domain import sent_files
from connectmail.domain.file_urls import FileUrls
from connectmail.store.store import Store
from connectmail.store.tables_templates import message_templates
from connectmail.templates import attachments, knowledge_bases
from connectmail.templates import message_templates as message_templates_domain
from connectmail.templates.identifiers import Scope
from connectmail.templates.message_templates import select_qualifier
from tests.qconnect.kit import KnowledgeBase, email_content, error_code, make_knowledge_base
from tests.support.server import REGION, ServerProcess

PDF = b"%PDF-1.4 terms and conditions\n"
UUID = re.compile(r"[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}")


def download(url: str) -> tuple[bytes, Any]:
    """Fetch a URL as anyone may: no credentials."""
    with urllib.request.urlopen(url, timeout=30) as answer:
        return answer.read(), answer.headers


def gone(url: str) -> int:
    with pytest.raises(urllib.error.HTTPError) as exc:
        download(url)
    return exc.value.code


def names(template: dict[str, Any]) -> list[str]:
    return [a["name"] for a in template.get("attachments", [])]


def test_an_attachment_is_uploaded_shown_and_downloaded(kb: KnowledgeBase) -> None:
    template = kb.create_template()
    template_id = template["messageTemplateId"]
    before = datetime.now(UTC)
    attachment = kb.attach(template_id, "Terms & conditions.pdf", PDF)
    assert UUID.fullmatch(attachment["attachmentId"])
    assert attachment["name"] == "Terms & conditions.pdf"
    assert attachment["contentDisposition"] == "ATTACHMENT"
    assert before - timedelta(seconds=5) <= attachment["uploadedTime"] <= datetime.now(UTC)
    assert attachment["urlExpiry"] > datetime.now(UTC) + timedelta(minutes=4)

    data, headers = download(attachment["url"])
    assert data == PDF
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Disposition"] == (
        "attachment; filename*=UTF-8''Terms%20%26%20conditions.pdf"
    )

    # The draft shows it, with a URL of its own.
    found = kb.get(template_id)
    assert [a["attachmentId"] for a in found["attachments"]] == [attachment["attachmentId"]]
    assert found["attachments"][0]["name"] == "Terms & conditions.pdf"
    assert download(found["attachments"][0]["url"])[0] == PDF
    assert names(kb.get(f"{template_id}:$LATEST")) == ["Terms & conditions.pdf"]
    rendered = kb.render(template_id)
    assert [a["attachmentId"] for a in rendered["attachments"]] == [attachment["attachmentId"]]
    assert download(rendered["attachments"][0]["url"])[0] == PDF


def test_a_template_without_attachments_shows_none(kb: KnowledgeBase) -> None:
    template_id = kb.create_template()["messageTemplateId"]
    assert "attachments" not in kb.get(template_id)
    assert "attachments" not in kb.render(template_id)
    assert "attachments" not in kb.version(template_id)


def test_the_checksum_covers_the_attachments(kb: KnowledgeBase) -> None:
    template = kb.create_template(content=email_content("first"))
    template_id = template["messageTemplateId"]
    bare = template["messageTemplateContentSha256"]
    first = kb.version(template_id)

    attachment = kb.attach(template_id, "a.txt", b"a")
    with_file = kb.get(template_id)["messageTemplateContentSha256"]
    assert with_file != bare
    assert kb.get(template_id)["lastModifiedTime"] >= template["lastModifiedTime"]
    # The draft changed: a new version, which has the file; the first has none.
    second = kb.version(template_id)
    assert second["versionNumber"] == 2
    assert second["messageTemplateContentSha256"] == with_file
    assert names(second) == ["a.txt"]
    assert names(kb.get(f"{template_id}:1")) == []
    with pytest.raises(ClientError) as exc:
        kb.client.create_message_template_version(
            knowledgeBaseId=kb.id, messageTemplateId=template_id, messageTemplateContentSha256=bare
        )
    assert error_code(exc) == "ConflictException"

    # Content changed and changed back: the attachment still counts.
    for subject in ("other", "first"):
        kb.client.update_message_template(
            knowledgeBaseId=kb.id, messageTemplateId=template_id, content=email_content(subject)
        )
    assert kb.get(template_id)["messageTemplateContentSha256"] == with_file
    assert kb.version(template_id)["versionNumber"] == 2

    kb.detach(template_id, attachment["attachmentId"])
    assert kb.get(template_id)["messageTemplateContentSha256"] == bare
    assert first["messageTemplateContentSha256"] == bare
    # The same file uploaded again: the draft is as it was (the checksum is of names and
    # bytes, not ids), so versioning it gives version 2 again.
    kb.attach(template_id, "a.txt", b"a")
    assert kb.get(template_id)["messageTemplateContentSha256"] == with_file
    assert kb.version(template_id)["versionNumber"] == 2


def test_versions_keep_their_attachments(kb: KnowledgeBase) -> None:
    template_id = kb.create_template()["messageTemplateId"]
    terms = kb.attach(template_id, "terms.pdf", PDF)
    price = kb.attach(template_id, "prices.csv", b"item,price\nbook,12\n")
    one = kb.version(template_id)
    assert names(one) == ["terms.pdf", "prices.csv"]
    kb.activate(template_id, 1)

    kb.detach(template_id, terms["attachmentId"])
    assert names(kb.get(template_id)) == ["prices.csv"]
    # "Attachments on available message template versions will remain unchanged".
    kept = kb.get(f"{template_id}:1")
    assert names(kept) == ["terms.pdf", "prices.csv"]
    assert [a["attachmentId"] for a in kept["attachments"]] == [
        terms["attachmentId"],
        price["attachmentId"],
    ]
    assert download(kept["attachments"][0]["url"])[0] == PDF
    assert names(kb.get(f"{template_id}:$ACTIVE_VERSION")) == ["terms.pdf", "prices.csv"]
    rendered = kb.render(f"{template_id}:1")
    assert [a["name"] for a in rendered["attachments"]] == ["terms.pdf", "prices.csv"]

    # The name is free again in the draft; the version keeps the old file.
    kb.attach(template_id, "terms.pdf", b"%PDF new terms")
    two = kb.version(template_id)
    assert names(two) == ["prices.csv", "terms.pdf"]
    assert download(two["attachments"][1]["url"])[0] == b"%PDF new terms"
    assert download(kb.get(f"{template_id}:1")["attachments"][0]["url"])[0] == PDF
    # One copy of prices.csv serves both versions.
    assert one["attachments"][1]["attachmentId"] == two["attachments"][0]["attachmentId"]


def test_bytes_nothing_holds_are_deleted(shared_server: ServerProcess, kb: KnowledgeBase) -> None:
    store = Store(shared_server.args[shared_server.args.index("--database-url") + 1])

    def stored(attachment: dict[str, Any]) -> bytes | None:
        """The bytes kept (a URL says 404 once the row goes, whatever became of them)."""
        return store.read_now(lambda c: attachments.content_of(c, attachment["attachmentId"]))

    template_id = kb.create_template()["messageTemplateId"]
    # Off the draft, in no version: gone at once.
    draft_only = kb.attach(template_id, "draft.txt", b"draft only")
    kb.detach(template_id, draft_only["attachmentId"])
    assert gone(draft_only["url"]) == 404
    assert stored(draft_only) is None

    # Held by a version: gone when the version is.
    versioned = kb.attach(template_id, "versioned.txt", b"in version 1")
    kb.version(template_id)
    kb.detach(template_id, versioned["attachmentId"])
    url = kb.get(f"{template_id}:1")["attachments"][0]["url"]
    assert download(url)[0] == b"in version 1"
    assert stored(versioned) == b"in version 1"
    kb.client.delete_message_template(knowledgeBaseId=kb.id, messageTemplateId=f"{template_id}:1")
    assert gone(url) == 404
    assert stored(versioned) is None

    # The whole template: every attachment goes.
    kept = kb.attach(template_id, "kept.txt", b"kept")
    kb.version(template_id)
    kb.client.delete_message_template(knowledgeBaseId=kb.id, messageTemplateId=template_id)
    assert gone(kept["url"]) == 404
    assert stored(kept) is None
    store.close()


def test_a_knowledge_base_with_attachments_can_be_deleted(qconnect: Any) -> None:
    kb = make_knowledge_base(qconnect)
    template_id = kb.create_template()["messageTemplateId"]
    attachment = kb.attach(template_id, "a.txt", b"a")
    kb.version(template_id)
    qconnect.delete_knowledge_base(knowledgeBaseId=kb.id)
    assert gone(attachment["url"]) == 404


def test_names_are_unique_in_the_draft(kb: KnowledgeBase) -> None:
    template_id = kb.create_template()["messageTemplateId"]
    first = kb.attach(template_id, "terms.pdf", PDF)
    with pytest.raises(ClientError) as exc:
        kb.attach(template_id, "terms.pdf", b"%PDF other")
    assert error_code(exc) == "ConflictException"
    # Names are the template's own: another template may use it.
    other_id = kb.create_template()["messageTemplateId"]
    kb.attach(other_id, "terms.pdf", PDF)
    kb.detach(template_id, first["attachmentId"])
    assert kb.attach(template_id, "terms.pdf", b"%PDF again")["name"] == "terms.pdf"


def test_a_client_token_makes_one_attachment(kb: KnowledgeBase) -> None:
    template_id = kb.create_template()["messageTemplateId"]
    first = kb.attach(template_id, "a.txt", b"a", clientToken="token-1")
    time.sleep(1.1)  # URLs are signed to the second: the replay's is signed later
    again = kb.attach(template_id, "a.txt", b"a", clientToken="token-1")
    assert again["attachmentId"] == first["attachmentId"]
    assert again["uploadedTime"] == first["uploadedTime"]
    # The replay's URL is signed for it: the first one's five minutes may be long gone.
    assert again["urlExpiry"] > first["urlExpiry"]
    assert download(again["url"])[0] == b"a"
    assert names(kb.get(template_id)) == ["a.txt"]
    with pytest.raises(ClientError) as exc:
        kb.attach(template_id, "b.txt", b"b", clientToken="token-1")
    assert error_code(exc) == "ConflictException"


def test_what_cannot_be_attached(kb: KnowledgeBase) -> None:
    template_id = kb.create_template()["messageTemplateId"]

    def refused(**changes: Any) -> str:
        request = {
            "knowledgeBaseId": kb.id,
            "messageTemplateId": template_id,
            "contentDisposition": "ATTACHMENT",
            "name": "a.txt",
            "body": base64.b64encode(b"a").decode(),
            **changes,
        }
        with pytest.raises(ClientError) as exc:
            kb.client.create_message_template_attachment(**request)
        return error_code(exc)

    assert refused(body="not base64!") == "ValidationException"
    assert refused(body="YQ") == "ValidationException"  # padding missing
    assert refused(name="setup.exe") == "ValidationException"
    assert refused(name="page.html") == "ValidationException"
    assert refused(messageTemplateId=f"{template_id}:$LATEST") == "ValidationException"
    assert refused(messageTemplateId="00000000-0000-4000-8000-000000000000") == (
        "ResourceNotFoundException"
    )
    sms = kb.create_template(
        channelSubtype="SMS", content={"sms": {"body": {"plainText": {"content": "Hi"}}}}
    )
    assert refused(messageTemplateId=sms["messageTemplateId"]) == "ValidationException"
    assert "attachments" not in kb.get(template_id)

    with pytest.raises(ClientError) as exc:
        kb.detach(template_id, "00000000-0000-4000-8000-000000000000")
    assert error_code(exc) == "ResourceNotFoundException"
    # An attachment of another template is not this one's.
    other_id = kb.create_template()["messageTemplateId"]
    theirs = kb.attach(other_id, "a.txt", b"a")
    with pytest.raises(ClientError) as exc:
        kb.detach(template_id, theirs["attachmentId"])
    assert error_code(exc) == "ResourceNotFoundException"
    kb.detach(other_id, theirs["attachmentId"])
    with pytest.raises(ClientError) as exc:  # deleted once already
        kb.detach(other_id, theirs["attachmentId"])
    assert error_code(exc) == "ResourceNotFoundException"


def test_at_most_ten_attachments(kb: KnowledgeBase) -> None:
    template_id = kb.create_template()["messageTemplateId"]
    made = [kb.attach(template_id, f"file-{n}.txt", b"x") for n in range(10)]
    with pytest.raises(ClientError) as exc:
        kb.attach(template_id, "eleventh.txt", b"x")
    assert error_code(exc) == "ServiceQuotaExceededException"
    kb.detach(template_id, made[0]["attachmentId"])
    kb.attach(template_id, "eleventh.txt", b"x")
    assert len(kb.get(template_id)["attachments"]) == 10


def test_sizes_are_those_of_one_email(kb: KnowledgeBase) -> None:
    template_id = kb.create_template()["messageTemplateId"]
    with pytest.raises(ClientError) as exc:
        kb.attach(template_id, "huge.pdf", b"x" * (attachments.MAX_FILE_BYTES + 1))
    assert error_code(exc) == "ValidationException"
    half = attachments.MAX_TOTAL_BYTES // 2
    kb.attach(template_id, "one.pdf", b"1" * half)
    with pytest.raises(ClientError) as exc:
        kb.attach(template_id, "two.pdf", b"2" * (half + 1024))
    assert error_code(exc) == "ServiceQuotaExceededException"
    kb.attach(template_id, "two.pdf", b"2" * (attachments.MAX_TOTAL_BYTES - half))
    assert names(kb.get(template_id)) == ["one.pdf", "two.pdf"]


def test_a_url_is_for_its_file_only(kb: KnowledgeBase) -> None:
    template_id = kb.create_template()["messageTemplateId"]
    url = kb.attach(template_id, "a.txt", b"a")["url"]
    other = kb.attach(template_id, "b.txt", b"b")
    path, _, query = url.partition("?")
    assert gone(path.rsplit("/", 1)[0] + "/" + other["attachmentId"] + "?" + query) == 403
    assert gone(url[:-2] + ("AA" if not url.endswith("AA") else "BB")) == 403
    request = urllib.request.Request(url, data=b"overwrite", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request, timeout=30)
    assert exc.value.code == 403
    assert download(url)[0] == b"a"


def test_attachments_outlive_a_restart(start_server: Any, database_url: str) -> None:
    server = start_server("--database-url", database_url)
    kb = make_knowledge_base(server.client("qconnect"))
    template_id = kb.create_template()["messageTemplateId"]
    terms = kb.attach(template_id, "terms.pdf", PDF)
    kb.version(template_id)
    kb.detach(template_id, terms["attachmentId"])
    kb.attach(template_id, "prices.csv", b"a,b\n")

    server = server.restart()
    kb.client = server.client("qconnect")
    assert names(kb.get(template_id)) == ["prices.csv"]
    version = kb.get(f"{template_id}:1")
    assert names(version) == ["terms.pdf"]
    assert download(version["attachments"][0]["url"])[0] == PDF
    # A URL signed before the restart still works (on the new port).
    signed_before = server.endpoint + "/" + terms["url"].split("/", 3)[3]
    assert download(signed_before)[0] == PDF


def test_the_send_path_reads_a_versions_attachments(start_server: Any, database_url: str) -> None:
    server = start_server("--database-url", database_url)
    kb = make_knowledge_base(server.client("qconnect"))
    template_id = kb.create_template()["messageTemplateId"]
    terms = kb.attach(template_id, "terms.pdf", PDF)
    prices = kb.attach(template_id, "prices.csv", b"a,b\n")
    kb.version(template_id)
    kb.detach(template_id, terms["attachmentId"])
    unsent = kb.attach(template_id, "later.txt", b"never sent")

    store = Store(database_url)
    try:

        def taken(version: int | None) -> tuple[attachments.TemplateAttachment, ...]:
            def read(c: Any) -> tuple[attachments.TemplateAttachment, ...]:
                template = c.execute(
                    message_templates.select().where(message_templates.c.id == template_id)
                ).one()
                qualifier = None if version is None else str(version)
                return attachments.for_sending(c, select_qualifier(c, template, qualifier))

            return store.write_now(read)  # as a send does: in its write

        one = taken(1)
        assert one == (
            attachments.TemplateAttachment(terms["attachmentId"], "terms.pdf", "application/pdf"),
            attachments.TemplateAttachment(prices["attachmentId"], "prices.csv", "text/csv"),
        )
        assert [a.name for a in taken(None)] == ["prices.csv", "later.txt"]

        # A stored spec names them; composing reads their bytes.
        spec = {"attachments": [a.spec() for a in one]}
        files = store.read_now(lambda c: sent_files.attachments_of(c, spec))
        assert [(f.name, f.content_type, f.data) for f in files] == [
            ("terms.pdf", "application/pdf", PDF),
            ("prices.csv", "text/csv", b"a,b\n"),
        ]
        assert store.read_now(lambda c: attachments.content_of(c, prices["attachmentId"])) == (
            b"a,b\n"
        )

        # A sent email keeps the bytes it took after the template is gone; others go.
        store.write_now(lambda c: attachments.record_sent(c, "message-1", one))
        kb.client.delete_message_template(knowledgeBaseId=kb.id, messageTemplateId=template_id)
        files = store.read_now(lambda c: sent_files.attachments_of(c, spec))
        assert [f.data for f in files] == [PDF, b"a,b\n"]
        assert gone(terms["url"]) == 404  # but no longer downloadable
        with pytest.raises(LookupError):
            store.read_now(
                lambda c: sent_files.attachments_of(
                    c,
                    {
                        "attachments": [
                            attachments.TemplateAttachment(
                                unsent["attachmentId"], "later.txt", "text/plain"
                            ).spec()
                        ]
                    },
                )
            )
    finally:
        store.close()


def test_deleting_a_knowledge_base_frees_its_bytes(start_server: Any, database_url: str) -> None:
    # The rows go with the templates by cascade, the bytes only through `forget_knowledge_base`
    # (they were left behind): those a sent email took stay.
    server = start_server("--database-url", database_url)
    kb = make_knowledge_base(server.client("qconnect"))
    template_id = kb.create_template()["messageTemplateId"]
    sent = kb.attach(template_id, "sent.txt", b"sent")
    unsent = kb.attach(template_id, "unsent.txt", b"unsent")
    kb.version(template_id)
    store = Store(database_url)
    try:
        taken = attachments.TemplateAttachment(sent["attachmentId"], "sent.txt", "text/plain")
        store.write_now(lambda c: attachments.record_sent(c, "message-1", [taken]))
        kb.client.delete_knowledge_base(knowledgeBaseId=kb.id)
        assert gone(unsent["url"]) == 404
        assert store.read_now(lambda c: attachments.content_of(c, unsent["attachmentId"])) is None
        assert store.read_now(lambda c: attachments.content_of(c, sent["attachmentId"])) == b"sent"
    finally:
        store.close()


def test_a_delete_waits_for_a_send_that_took_the_attachment(
    start_server: Any, database_url: str
) -> None:
    server = start_server("--database-url", database_url)
    kb = make_knowledge_base(server.client("qconnect"))
    template_id = kb.create_template()["messageTemplateId"]
    terms = kb.attach(template_id, "terms.pdf", PDF)
    store = Store(database_url)
    try:

        def send(c: Any) -> threading.Thread:
            template = c.execute(
                message_templates.select().where(message_templates.c.id == template_id)
            ).one()
            taken = attachments.for_sending(c, select_qualifier(c, template, None))
            deleting = threading.Thread(target=kb.detach, args=(template_id, terms["attachmentId"]))
            deleting.start()
            time.sleep(1.0)
            assert deleting.is_alive()  # waiting for the send to commit
            attachments.record_sent(c, "message-1", taken)
            return deleting

        store.write_now(send).join(30)
        assert "attachments" not in kb.get(template_id)
        assert store.read_now(lambda c: attachments.content_of(c, terms["attachmentId"])) == PDF
    finally:
        store.close()


@pytest.mark.parametrize("deleted", ["template", "knowledge base"])
def test_a_delete_racing_an_upload_leaves_no_bytes_behind(
    start_server: Any, database_url: str, deleted: str
) -> None:
    """An upload in flight (its rows written, not committed) and a delete of its template or
    knowledge base: the delete's cascade took the new attachment's row on PostgreSQL and left
    its bytes to no one."""
    server = start_server("--database-url", database_url)
    kb = make_knowledge_base(server.client("qconnect"))
    template_id = kb.create_template()["messageTemplateId"]
    store = Store(database_url)
    urls = FileUrls(store)
    try:
        signer = asyncio.run(urls.signer())
        links = attachments.Links(urls, signer, server.account_id, "127.0.0.1")
        upload = attachments.prepare(
            {"name": "late.txt", "contentDisposition": "ATTACHMENT", "body": "bGF0ZQ=="}
        )

        def uploading(c: Any) -> tuple[str, threading.Thread]:
            scope = Scope(server.account_id, REGION)
            knowledge_base = knowledge_bases.require(c, scope, kb.id)
            template, _ = message_templates_domain.require(c, scope, knowledge_base, template_id)
            made = attachments.create(
                c, scope, knowledge_base, template, upload, time.time(), links
            )
            if deleted == "template":
                target: Any = lambda: kb.client.delete_message_template(  # noqa: E731
                    knowledgeBaseId=kb.id, messageTemplateId=template_id
                )
            else:
                target = lambda: kb.client.delete_knowledge_base(knowledgeBaseId=kb.id)  # noqa: E731
            deleting = threading.Thread(target=target)
            deleting.start()
            time.sleep(1.0)  # the delete reaches its reads while the upload is open
            return made["attachment"]["attachmentId"], deleting

        attachment_id, deleting = store.write_now(uploading)
        deleting.join(30)
        assert not deleting.is_alive()
        assert store.read_now(lambda c: attachments.content_of(c, attachment_id)) is None
    finally:
        store.close()
