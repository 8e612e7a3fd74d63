"""A received HTML body is turned into message.txt without holding up the database.

HTML to text takes seconds for a large body of tables (a report, a newsletter). It used to run
inside the message's write, on SQLite's only writer, so every API write waited for it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from tests.support.connect import make_outpost
from tests.support.inbound import SmtpReply, deliver, file_bytes, references
from tests.support.server import ServerProcess

ROWS = 20_000


def cpu_seconds(pid: int) -> float:
    """The user and system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_api_writes_go_on_while_a_large_html_body_is_converted(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, ["--smtp-port", "0"]).start()
    try:
        assert server.process is not None
        client = server.client()
        outpost = make_outpost(client)
        html = "".join(f"<table><tr><td>row {n}</td></tr></table>\r\n" for n in range(ROWS))
        data = (
            b"From: reports@example.org\r\nSubject: Daily report\r\n"
            b"Content-Type: text/html; charset=utf-8\r\n\r\n" + html.encode()
        )
        replies: list[SmtpReply] = []
        sending = threading.Thread(
            target=lambda: replies.append(deliver(server, data, recipients=[outpost.sender]))
        )
        before = cpu_seconds(server.process.pid)
        sending.start()
        # Converting those rows takes the server seconds of CPU (reading and parsing them, a
        # few tenths): once it has spent 0.8 s on the message it is surely converting it.
        while cpu_seconds(server.process.pid) - before < 0.8 and sending.is_alive():
            sending.join(0.02)
        assert sending.is_alive(), "the message was stored before it could be observed"

        contact_id = outpost.contact()  # a write, while the conversion goes on
        assert sending.is_alive(), "the API's write waited for the received message"

        sending.join()
        (reply,) = replies
        assert reply.accepted, reply.data
        received = reply.data[1].rsplit(" ", 1)[1] if reply.data else ""
        contact = client.describe_contact(InstanceId=outpost.instance_id, ContactId=received)
        (text,) = references(client, outpost.instance_id, received, "EMAIL_MESSAGE_PLAIN_TEXT")
        plain = file_bytes(
            client,
            outpost.instance_id,
            contact["Contact"]["Arn"],
            text["EmailMessagePlainText"]["Arn"],
        ).decode()
        assert plain.split()[:2] == ["row", "0"] and f"row {ROWS - 1}" in plain
        assert contact_id != received
    finally:
        server.stop()
