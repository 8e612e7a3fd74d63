"""connectmail's own endpoints: health, and reading the captured mailbox a page at a time."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support.connect import Outpost, make_outpost, unique_address
from tests.support.proxy import postgres_behind_proxy
from tests.support.server import ServerProcess


def admin(server: ServerProcess, path: str) -> tuple[int, Any]:
    """The status and JSON body of a request to /_connectmail/`path`, errors included (a body
    that is not JSON as its text)."""
    url = f"{server.endpoint}/_connectmail/{path}"
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode(errors="replace")


def ids_sent_to(server: ServerProcess, to: str, **page: str) -> list[int]:
    status, body = admin(server, "mailbox?" + urllib.parse.urlencode({"to": to, **page}))
    assert status == 200, body
    return [m["Id"] for m in body["Messages"]]


def captured(server: ServerProcess, outpost: Outpost, to: str, **extra: Any) -> int:
    """Send to `to`; the Id of the message once it is in the captured mailbox."""
    contact_id = outpost.contact()
    outpost.send(contact_id, to=to, **extra)
    deadline = time.monotonic() + 10
    while not (found := server.mailbox(contact_id=contact_id)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert found, f"nothing captured for {to}"
    return int(found[0]["Id"])


def test_to_filters_before_the_limit(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    jane = unique_address("jane")
    for _ in range(3):
        captured(shared_server, outpost, unique_address("someone-else"))
    first = captured(shared_server, outpost, jane)
    in_cc = captured(
        shared_server,
        outpost,
        unique_address("someone-else"),
        AdditionalRecipients={"CcEmailAddresses": [{"EmailAddress": jane.upper()}]},
    )
    captured(shared_server, outpost, unique_address("someone-else"))

    # The three older messages to others do not use up the page.
    assert ids_sent_to(shared_server, jane, limit="3") == [first, in_cc]
    assert ids_sent_to(shared_server, jane, limit="1") == [first]
    assert ids_sent_to(shared_server, jane, limit="1", after=str(first)) == [in_cc]
    assert ids_sent_to(shared_server, jane, after=str(in_cc)) == []
    # One whole address, in any case; not a part of one.
    assert ids_sent_to(shared_server, jane.upper()) == [first, in_cc]
    assert ids_sent_to(shared_server, jane[1:]) == []
    assert ids_sent_to(shared_server, jane.split("@")[0]) == []


def test_to_finds_messages_beyond_a_thousand_others(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    jane = unique_address("jane")
    first = captured(shared_server, outpost, jane)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: outpost.send(to=unique_address("bulk")), range(1000)))
    last = captured(shared_server, outpost, jane)
    assert last - first > 1000  # the thousand were captured in between

    assert ids_sent_to(shared_server, jane) == [first, last]
    assert ids_sent_to(shared_server, jane, after=str(first)) == [last]


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=-1",
        "after=-1",
        "after=99999999999999999999999",
        f"after={2**63}",
        "limit=ten",
        "after=1.5",
    ],
)
def test_parameters_out_of_range_are_refused(shared_server: ServerProcess, query: str) -> None:
    status, body = admin(shared_server, f"mailbox?{query}")
    assert status == 400
    assert set(body) == {"message"} and ("limit" in body["message"] or "after" in body["message"])


def test_parameters_at_their_bounds_are_served(shared_server: ServerProcess) -> None:
    outpost = make_outpost(shared_server.client())
    captured(shared_server, outpost, unique_address("bound"))
    assert admin(shared_server, f"mailbox?after={2**63 - 1}") == (200, {"Messages": []})
    assert admin(shared_server, f"mailbox?after={2**31}") == (200, {"Messages": []})
    status, body = admin(shared_server, "mailbox?after=0&limit=1")
    assert status == 200 and len(body["Messages"]) == 1
    # More than a page asks for a page.
    status, body = admin(shared_server, "mailbox?limit=99999999999999999999999")
    assert status == 200 and 1 <= len(body["Messages"]) <= 1000


def test_health_answers_503_at_once_while_the_database_is_away(tmp_path: Path) -> None:
    outage_seconds = 6
    with postgres_behind_proxy() as (proxied, proxy):
        server = ServerProcess(
            tmp_path,
            ["--database-url", proxied],
            {"CONNECTMAIL_DATABASE_OUTAGE_SECONDS": str(outage_seconds)},
        )
        try:
            server.start()
            proxy.cut()
            try:
                started = time.monotonic()
                status, body = admin(server, "health")
                waited = time.monotonic() - started
                assert status == 503, body
                assert body["status"] == "unavailable" and body["message"]
                assert waited < 4  # not the store's whole outage deadline
                # What must read the database answers once the store gives up, in JSON.
                status, body = admin(server, "mailbox")
                assert status == 503 and "database is unavailable" in body["message"]
            finally:
                proxy.restore()
            deadline = time.monotonic() + outage_seconds + 5
            while (answer := admin(server, "health"))[0] != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert answer == (200, {"status": "ok"})
        finally:
            server.stop()


@pytest.mark.parametrize(
    ("method", "path", "status", "error_type"),
    [
        ("GET", "no-such-endpoint", 404, "NotFoundException"),
        ("POST", "mailbox", 405, "MethodNotAllowedException"),
        ("GET", "mailbox?limit=0", 400, "BadRequestException"),
    ],
)
def test_errors_come_in_the_apis_shape(
    shared_server: ServerProcess, method: str, path: str, status: int, error_type: str
) -> None:
    """Every error of connectmail's own endpoints, Starlette's 404 and 405 included, is JSON
    with a message, an `x-amzn-ErrorType` and an `x-amzn-RequestId`, as the API's are."""
    request = urllib.request.Request(f"{shared_server.endpoint}/_connectmail/{path}", method=method)
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=15)
    error = raised.value
    assert error.code == status
    assert error.headers["x-amzn-ErrorType"] == error_type
    assert error.headers["x-amzn-RequestId"]
    assert json.loads(error.read())["message"]


@pytest.mark.parametrize("name", ["contact_id", "message_id"])
def test_an_id_with_a_nul_matches_nothing(shared_server: ServerProcess, name: str) -> None:
    """PostgreSQL refuses a NUL in a parameter: the mailbox answered a bare 500."""
    status, body = admin(shared_server, f"mailbox?{name}=%00")
    assert (status, body) == (200, {"Messages": []})


@pytest.mark.parametrize("path", ["health", "mailbox"])
def test_basic_credentials_beyond_ascii_are_unauthorized(
    shared_server: ServerProcess, path: str
) -> None:
    """Not base64 as the decoder saw it (a ValueError of its own): the mailbox answered 500 and
    health said the database was unavailable."""
    request = urllib.request.Request(f"{shared_server.endpoint}/_connectmail/{path}")
    request.add_header("Authorization", "Basic \xe9t\xe9")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=15)
    assert refused.value.code == 401
    assert refused.value.headers["x-amzn-ErrorType"] == "UnauthorizedException"
