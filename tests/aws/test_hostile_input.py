"""Hostile input: every malformed request gets a 4xx in AWS's error shape and changes nothing.

Oversized, malformed, deeply nested, mis-encoded and control-character-laden requests, URI
labels that try to climb out of their segment, and HTTP that is barely HTTP, against a real
server on SQLite and on PostgreSQL. The server never answers 500 and never hangs.
"""

from __future__ import annotations

import select
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.aws.conftest import QuietServer
from tests.aws.dbstate import DatabaseState, differences
from tests.aws.shape_strategies import FORGED_TOKENS
from tests.support.connect import Outpost, make_outpost
from tests.support.server import ServerProcess
from tests.support.wire import Answer, exchange, host_port, send, sign, signed


@pytest.fixture(scope="module")
def server(quiet_server: QuietServer) -> ServerProcess:
    return quiet_server.server


@pytest.fixture(scope="module")
def state(quiet_server: QuietServer) -> Iterator[DatabaseState]:
    found = quiet_server.state()
    yield found
    found.close()


@pytest.fixture(scope="module")
def outpost(server: ServerProcess) -> Outpost:
    return make_outpost(server.client())


@pytest.fixture(scope="module", autouse=True)
def no_internal_errors(server: ServerProcess) -> Iterator[None]:
    """After the module: nothing reached the catch-all that answers 500, and it still serves."""
    yield
    assert "unhandled error" not in server.log()
    assert server.client().list_instances()["InstanceSummaryList"] is not None


@contextmanager
def changes_nothing(state: DatabaseState) -> Iterator[None]:
    before = state.snapshot()
    yield
    assert differences(before, state.snapshot()) == {}


def assert_aws_error(answer: Answer, status: int, code: str | None = None) -> None:
    """AWS's error shape: the status, `x-amzn-ErrorType`, and a JSON body with a message."""
    assert answer.status == status, answer
    assert answer.error_type, answer
    if code is not None:
        assert answer.error_type == code, answer
    assert answer.headers["content-type"] == "application/json"
    assert answer.message


# -- sizes ---------------------------------------------------------------------------------

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose largest legal request is 64 KiB, so that going over it is cheap."""
    server = ServerProcess(
        tmp_path_factory.mktemp("small"),
        ["--no-deliver"],
        {"CONNECTMAIL_MAX_REQUEST_BYTES": str(LIMIT)},
    ).start()
    yield server
    server.stop()


def parse_raw_answer(raw: bytes) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(status_line.split()[1]), headers, body)


def complete_answer(received: bytes) -> Answer | None:
    if b"\r\n\r\n" not in received:
        return None
    answer = parse_raw_answer(received)
    return answer if len(answer.body) >= int(answer.headers["content-length"]) else None


def test_declared_oversized_body_is_refused_unread(small_server: ServerProcess) -> None:
    """The answer comes although not one byte of the declared body was sent."""
    raw = exchange(
        small_server.endpoint,
        b"PUT /contact/create-contact HTTP/1.1\r\nHost: x\r\n"
        + f"Content-Length: {10 * LIMIT}\r\n\r\n".encode(),
    )
    answer = parse_raw_answer(raw)
    assert_aws_error(answer, 413, "RequestEntityTooLargeException")
    assert answer.headers["connection"] == "close"


def chunked_head(server: ServerProcess, *, signed_by_a_key: bool) -> bytes:
    """The head of a chunked PUT, signed by the server's root key or by no key."""
    lines = [b"PUT /contact/create-contact HTTP/1.1", b"Transfer-Encoding: chunked"]
    if signed_by_a_key:
        headers = sign(server.endpoint, "PUT", "/contact/create-contact", server.credentials)
        lines += [f"{name}: {value}".encode() for name, value in headers]
    else:
        lines.append(b"Host: x")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def test_chunked_oversized_body_is_refused_before_it_ends(small_server: ServerProcess) -> None:
    """No Content-Length: the server counts as it reads, and answers once past the limit."""
    chunk = b"x" * 8192
    most = 2000  # 16 MiB, which the server must never need
    with socket.create_connection(host_port(small_server.endpoint), timeout=30) as sock:
        sock.sendall(chunked_head(small_server, signed_by_a_key=True))
        sent = 0
        for _ in range(most):
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        else:
            pytest.fail("the server read 16 MiB of a body over its 64 KiB limit")
        received = b""
        while not (answer := complete_answer(received)):
            part = sock.recv(65536)
            assert part, f"connection closed without a whole answer: {received!r}"
            received += part
    assert sent < most * len(chunk)
    assert_aws_error(answer, 413, "RequestEntityTooLargeException")


def test_a_request_without_a_key_is_refused_before_its_body(
    small_server: ServerProcess,
) -> None:
    """A client without a key cannot make the server read (and hold) a body: the 403 comes
    at once, and a client that waits for `100 Continue` is never asked for the body."""
    with socket.create_connection(host_port(small_server.endpoint), timeout=10) as sock:
        sock.sendall(chunked_head(small_server, signed_by_a_key=False))
        received = b""
        while not (answer := complete_answer(received)):
            part = sock.recv(65536)
            assert part, f"connection closed without a whole answer: {received!r}"
            received += part
    assert_aws_error(answer, 403, "MissingAuthenticationTokenException")
    assert answer.headers["connection"] == "close"

    with socket.create_connection(host_port(small_server.endpoint), timeout=10) as sock:
        stranger = {"aws_access_key_id": "AKIANOSUCHKEY0000000", "aws_secret_access_key": "x"}
        headers = sign(small_server.endpoint, "PUT", "/contact/create-contact", stranger)
        lines = [b"PUT /contact/create-contact HTTP/1.1", b"Expect: 100-continue"]
        lines += [f"{name}: {value}".encode() for name, value in headers]
        lines.append(b"Content-Length: 60000")
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        received = b""
        while not (answer := complete_answer(received)):
            part = sock.recv(65536)
            assert part, f"connection closed without a whole answer: {received!r}"
            received += part
    assert not received.startswith(b"HTTP/1.1 100")
    assert_aws_error(answer, 403, "UnrecognizedClientException")


def test_a_body_at_the_limit_is_read(small_server: ServerProcess) -> None:
    body = orjson.dumps({"InstanceId": str(uuid.uuid4()), "Channel": "EMAIL"})
    body += b" " * (LIMIT - len(body))
    answer = signed(
        small_server.endpoint, "PUT", "/contact/create-contact", small_server.credentials, body=body
    )
    assert_aws_error(answer, 400, "InvalidRequestException")  # InitiationMethod is missing


# -- bodies --------------------------------------------------------------------------------


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def criteria(levels: int) -> bytes:
    """SearchCriteria nested `levels` deep (as text: orjson writes at most 254 levels)."""
    inner = b'{"StringCondition": {"FieldName": "name", "Value": "x"}}'
    return b'{"OrConditions": [' * levels + inner + b"]}" * levels


MALFORMED = {
    "truncated JSON": b'{"Channel": "EMA',
    "trailing comma": b'{"Channel": "EMAIL",}',
    "invalid UTF-8": b'{"Name": "\xff\xfe"}',
    "encoded surrogate": b'{"Name": "\xed\xa0\x80"}',
    "lone surrogate escape": b'{"Name": "\\udc00"}',
    "NaN": b'{"ExpiryDurationInMinutes": NaN}',
    "number too large for a double": b'{"ExpiryDurationInMinutes": 1e400}',
    "integer too large": b'{"ExpiryDurationInMinutes": 99999999999999999999}',
    "nested past the parser's limit": nested(100_000),
    "array": b"[]",
    "string": b'"CreateContact"',
    "null": b"null",
    "number": b"42",
    "BOM": b'\xef\xbb\xbf{"Channel": "EMAIL"}',
    "NUL byte": b'{"Channel": "EMAIL"}\x00',
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_bodies(
    server: ServerProcess, state: DatabaseState, outpost: Outpost, body: bytes
) -> None:
    with changes_nothing(state):
        answer = signed(
            server.endpoint, "PUT", "/contact/create-contact", server.credentials, body=body
        )
    assert_aws_error(answer, 400, "InvalidRequestException")


def create_contact_body(outpost: Outpost, **members: Any) -> dict[str, Any]:
    return {
        "InstanceId": outpost.instance_id,
        "Channel": "EMAIL",
        "InitiationMethod": "FLOW",
        **members,
    }


WRONG_TYPES = {
    "InstanceId": 7,
    "Channel": ["EMAIL"],
    "ExpiryDurationInMinutes": "60",
    "Attributes": ["k", "v"],
    "References": {"r": "URL"},
    "UserInfo": "agent-1",
    "SegmentAttributes": {"connect:Subject": {"ValueString": {"nested": True}}},
    "Name": {"first": "x"},
    "InitiateAs": True,
}


@pytest.mark.parametrize(("member", "value"), WRONG_TYPES.items(), ids=WRONG_TYPES.keys())
def test_wrong_types(
    server: ServerProcess, state: DatabaseState, outpost: Outpost, member: str, value: Any
) -> None:
    body = create_contact_body(outpost, **{member: value})
    with changes_nothing(state):
        answer = signed(
            server.endpoint, "PUT", "/contact/create-contact", server.credentials, body=body
        )
    assert_aws_error(answer, 400, "InvalidRequestException")
    assert f"'{member}" in answer.message


HUGE = {
    "a map over its size": {"Tags": {f"k{n}": "v" for n in range(200_000)}},
    "a map with no size limit": {"Attributes": {f"k{n}": "v" for n in range(100_000)}},
    "a list over its length": {
        "AdditionalRecipients": {"CcEmailAddresses": [{"EmailAddress": "a@example.org"}] * 100_000}
    },
    "a string over its length": {"Name": "n" * 2_000_000},
}


@pytest.mark.parametrize("members", HUGE.values(), ids=HUGE.keys())
def test_huge_values(
    server: ServerProcess, state: DatabaseState, outpost: Outpost, members: dict[str, Any]
) -> None:
    if "AdditionalRecipients" in members:
        target = "/contact/outbound-email"
        body = {
            "InstanceId": outpost.instance_id,
            "ContactId": outpost.contact(),
            "DestinationEmailAddress": {"EmailAddress": "jane@example.org"},
            "EmailMessage": {"MessageSourceType": "RAW"},
            **members,
        }
    elif "Tags" in members:
        target = "/email-addresses/" + outpost.instance_id
        body = {"EmailAddress": f"x{uuid.uuid4().hex[:8]}@example.com", **members}
    else:
        target = "/contact/create-contact"
        body = create_contact_body(outpost, **members)
    with changes_nothing(state):
        answer = signed(server.endpoint, "PUT", target, server.credentials, body=body)
    assert_aws_error(answer, 400, "InvalidRequestException")


def test_deep_nesting_in_a_recursive_member(
    server: ServerProcess, state: DatabaseState, outpost: Outpost
) -> None:
    """SearchCriteria contains itself; 500 levels fit the JSON parser but not the stack."""

    def search(levels: int) -> Answer:
        body = b'{"InstanceId": "%s", "SearchCriteria": %s}' % (
            outpost.instance_id.encode(),
            criteria(levels),
        )
        return signed(
            server.endpoint, "POST", "/search-email-addresses", server.credentials, body=body
        )

    with changes_nothing(state):
        answer = search(500)
    assert_aws_error(answer, 400, "InvalidRequestException")
    assert "levels deep" in answer.message
    assert search(20).status == 200


def test_deep_nesting_in_unknown_members_is_ignored(
    server: ServerProcess, outpost: Outpost
) -> None:
    body = (
        b'{"InstanceId": "' + outpost.instance_id.encode() + b'", "Unknown": ' + nested(1000) + b"}"
    )
    answer = signed(
        server.endpoint, "POST", "/search-email-addresses", server.credentials, body=body
    )
    assert answer.status == 200
    assert answer.json["EmailAddresses"][0]["EmailAddress"] == outpost.sender


# -- control characters in every string member ---------------------------------------------

INJECTIONS = {
    "CRLF": "\r\nBcc: evil@example.net",
    "LF": "\nBcc: evil@example.net",
    "NUL": "\x00",
    "LINE SEPARATOR": "\u2028Bcc: evil@example.net",
}


def requests_to_poison(outpost: Outpost) -> list[tuple[str, str, dict[str, Any]]]:
    """A valid request for each writing operation, every string member filled in."""
    related = outpost.contact()
    return [
        (
            "PUT",
            "/instance",
            {
                "ClientToken": f"t-{uuid.uuid4()}",
                "IdentityManagementType": "CONNECT_MANAGED",
                "InstanceAlias": f"p{uuid.uuid4().hex[:12]}",
                "InboundCallsEnabled": True,
                "OutboundCallsEnabled": True,
                "Tags": {"Team": "mail"},
            },
        ),
        (
            "PUT",
            f"/email-addresses/{outpost.instance_id}",
            {
                "EmailAddress": f"p{uuid.uuid4().hex[:8]}@example.com",
                "DisplayName": "Poison",
                "Description": "An address",
                "Tags": {"Team": "mail"},
                "ClientToken": f"t-{uuid.uuid4()}",
            },
        ),
        (
            "PUT",
            "/contact/create-contact",
            {
                "InstanceId": outpost.instance_id,
                "ClientToken": f"t-{uuid.uuid4()}",
                "RelatedContactId": related,
                "Attributes": {"order": "42"},
                "References": {
                    "link": {"Value": "https://example.com", "Type": "URL", "StatusReason": "ok"}
                },
                "Channel": "EMAIL",
                "InitiationMethod": "OUTBOUND",
                "UserInfo": {"UserId": "agent-1"},
                "Name": "A contact",
                "Description": "About an order",
                "SegmentAttributes": {"custom:Note": {"ValueString": "note"}},
            },
        ),
        (
            "PUT",
            "/contact/outbound-email",
            {
                "InstanceId": outpost.instance_id,
                "ContactId": "(a new contact)",
                "FromEmailAddress": {"EmailAddress": outpost.sender, "DisplayName": "Support"},
                "DestinationEmailAddress": {
                    "EmailAddress": "jane@example.org",
                    "DisplayName": "Jane",
                },
                "AdditionalRecipients": {
                    "CcEmailAddresses": [{"EmailAddress": "cc@example.org", "DisplayName": "Cc"}]
                },
                "EmailMessage": {
                    "MessageSourceType": "RAW",
                    "RawMessage": {
                        "Subject": "Hello",
                        "Body": "Hello there",
                        "ContentType": "text/plain",
                    },
                },
                "ClientToken": f"t-{uuid.uuid4()}",
            },
        ),
    ]


def string_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths to every string in a JSON value, map keys included (as ("key", name))."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            if path and path[-1] in ("Tags", "Attributes", "References", "SegmentAttributes"):
                yield (*path, ("key", key))
            yield from string_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from string_paths(item, (*path, index))


def poisoned(value: Any, path: tuple[Any, ...], injection: str) -> Any:
    head, *rest = path
    if isinstance(head, tuple):  # a map key
        return {(k + injection if k == head[1] else k): v for k, v in value.items()}
    copy = list(value) if isinstance(value, list) else dict(value)
    copy[head] = (
        value[head] + injection if not rest else poisoned(value[head], tuple(rest), injection)
    )
    return copy


# Members where line breaks are content (a body, descriptions), not a way into a header.
MULTILINE = {"Body", "Description", "Name", "StatusReason", "order", "Value", "Team"}


@pytest.mark.parametrize("injection", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_control_characters_in_every_string_member(
    server: ServerProcess, state: DatabaseState, outpost: Outpost, injection: str
) -> None:
    outcomes = []
    for method, target, body in requests_to_poison(outpost):
        for path in string_paths(body):
            request = poisoned(body, path, injection)
            if request.get("ContactId") == "(a new contact)":
                request["ContactId"] = outpost.contact()
            if "ClientToken" in request and path != ("ClientToken",):
                request["ClientToken"] = f"t-{uuid.uuid4()}"
            before = state.snapshot()
            answer = signed(server.endpoint, method, target, server.credentials, body=request)
            assert answer.status < 500, (path, answer)
            if answer.status >= 400:
                assert_aws_error(answer, answer.status)
                assert differences(before, state.snapshot()) == {}, (path, answer)
            outcomes.append((target, path, answer.status))
    refused = {path for _, path, status in outcomes if status >= 400}
    if injection == "\x00":
        assert all(status == 400 for _, _, status in outcomes)
    else:
        # Nothing that ends up in a mail header may carry a line break.
        for header_member in (
            ("DestinationEmailAddress", "DisplayName"),
            ("FromEmailAddress", "DisplayName"),
            ("AdditionalRecipients", "CcEmailAddresses", 0, "DisplayName"),
            ("EmailMessage", "RawMessage", "Subject"),
            ("DestinationEmailAddress", "EmailAddress"),
        ):
            assert header_member in refused, header_member


# -- URI labels ----------------------------------------------------------------------------

LABEL_TRICKS = [
    "..",
    ".",
    "%2E%2E",
    "..%2F..%2Finstance",
    "%2F",
    "%252F",
    "%25",
    "%",
    "%ZZ",
    "%00",
    "%0D%0ABcc:%20x",
    "%C0%AE%C0%AE",
    "%E2%80%AE",
    "x" * 5000,
    "arn:aws:connect:us-east-1:000000000000:instance/x",
]


@pytest.mark.parametrize("trick", LABEL_TRICKS)
def test_path_tricks_in_uri_labels(
    server: ServerProcess, state: DatabaseState, outpost: Outpost, trick: str
) -> None:
    targets = [
        ("GET", f"/contacts/{outpost.instance_id}/{trick}"),
        ("GET", f"/contacts/{trick}/{trick}"),
        ("GET", f"/instance/{trick}"),
        ("GET", f"/email-addresses/{outpost.instance_id}/{trick}"),
        ("DELETE", f"/email-addresses/{outpost.instance_id}/{trick}"),
        ("DELETE", f"/instance/{trick}"),
        ("PUT", f"/email-addresses/{trick}"),
    ]
    with changes_nothing(state):
        for method, target in targets:
            body = orjson.dumps({"EmailAddress": "x@example.com"}) if method == "PUT" else b""
            answer = signed(server.endpoint, method, target, server.credentials, body=body)
            assert 400 <= answer.status < 500, (method, target, answer)
            assert_aws_error(answer, answer.status)


def test_dot_segments_do_not_reach_another_resource(
    server: ServerProcess, outpost: Outpost
) -> None:
    """The signature covers the normalized path, but routing takes the path as sent."""
    target = f"/email-addresses/{outpost.instance_id}/../{outpost.instance_id}/{outpost.sender_id}"
    answer = signed(server.endpoint, "DELETE", target, server.credentials)
    assert_aws_error(answer, 404, "UnknownOperationException")
    described = server.client().describe_email_address(
        InstanceId=outpost.instance_id, EmailAddressId=outpost.sender_id
    )
    assert described["EmailAddress"] == outpost.sender


# -- HTTP that is barely HTTP --------------------------------------------------------------


def signed_head(server: ServerProcess, target: str = "/instance") -> bytes:
    lines = [f"{n}: {v}" for n, v in sign(server.endpoint, "GET", target, server.credentials)]
    return f"GET {target} HTTP/1.1\r\n".encode() + "\r\n".join(lines).encode() + b"\r\n"


def without(head: bytes, name: bytes) -> bytes:
    return b"\r\n".join(
        line for line in head.split(b"\r\n") if not line.lower().startswith(name + b":")
    )


def header(head: bytes, name: bytes) -> bytes:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(name + b":"):
            return line
    raise AssertionError(name)


ODD_HTTP = {
    "no host, unsigned": lambda s: b"GET /instance HTTP/1.1\r\n\r\n",
    "no host, signed": lambda s: without(signed_head(s), b"host") + b"\r\n",
    "HTTP/1.0": lambda s: b"GET /instance HTTP/1.0\r\n\r\n",
    "two hosts": lambda s: signed_head(s) + b"Host: other.example\r\n\r\n",
    "two dates": lambda s: signed_head(s) + header(signed_head(s), b"x-amz-date") + b"\r\n\r\n",
    "two authorizations": lambda s: (
        signed_head(s) + header(signed_head(s), b"authorization") + b"\r\n\r\n"
    ),
    "absurd content-length": lambda s: (
        b"PUT /instance HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999999\r\n\r\n"
    ),
    "negative content-length": lambda s: (
        b"PUT /instance HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"
    ),
    "content-length in letters": lambda s: (
        b"PUT /instance HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n"
    ),
    "two different content-lengths": lambda s: (
        b"PUT /instance HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"
    ),
    "content-length and chunked": lambda s: (
        b"PUT /instance HTTP/1.1\r\nHost: x\r\n"
        b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "bad chunk size": lambda s: (
        b"PUT /instance HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    ),
    "unknown method": lambda s: b"BREW /instance HTTP/1.1\r\nHost: x\r\n\r\n",
    "NUL in the path": lambda s: b"GET /inst\x00ance HTTP/1.1\r\nHost: x\r\n\r\n",
    "raw UTF-8 in the path": lambda s: "GET /instance/ü HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
    "header without a colon": lambda s: b"GET /instance HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
    "header with NUL": lambda s: b"GET /instance HTTP/1.1\r\nHost: x\r\nX-A: b\x00c\r\n\r\n",
    "TLS handshake": lambda s: b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
    "a very long header": lambda s: (
        b"GET /instance HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 1_000_000 + b"\r\n\r\n"
    ),
    "a very long path": lambda s: b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("request_bytes", ODD_HTTP.values(), ids=ODD_HTTP.keys())
def test_odd_http(server: ServerProcess, state: DatabaseState, request_bytes: Any) -> None:
    with changes_nothing(state):
        raw = exchange(server.endpoint, request_bytes(server))
    assert raw, "no answer"
    answer = parse_raw_answer(raw)
    assert 400 <= answer.status < 500, answer
    assert_aws_error(answer, answer.status)


def test_unsigned_garbage_gets_the_missing_token_error(server: ServerProcess) -> None:
    answer = send(server.endpoint, "GET", "/instance", [("Host", "x")])
    assert_aws_error(answer, 403, "MissingAuthenticationTokenException")


# -- pagination tokens ---------------------------------------------------------------------


def test_forged_pagination_tokens(
    server: ServerProcess, state: DatabaseState, outpost: Outpost
) -> None:
    """A token is opaque to the client, so the client can send anything as one."""
    unchecked = Config(parameter_validation=False, retries={"max_attempts": 1})
    connect = server.client(config=unchecked)
    qconnect = server.client("qconnect", config=unchecked)
    calls: list[tuple[str, Any]] = [
        ("ListInstances", lambda token: connect.list_instances(NextToken=token)),
        (
            "SearchEmailAddresses",
            lambda token: connect.search_email_addresses(
                InstanceId=outpost.instance_id, NextToken=token
            ),
        ),
        ("ListKnowledgeBases", lambda token: qconnect.list_knowledge_bases(nextToken=token)),
    ]
    try:
        knowledge_base = qconnect.create_knowledge_base(
            name=f"kb-{uuid.uuid4().hex[:8]}", knowledgeBaseType="MESSAGE_TEMPLATES"
        )["knowledgeBase"]["knowledgeBaseId"]
    except ClientError:
        knowledge_base = None  # Q in Connect is not served here
    if knowledge_base is not None:
        calls += [
            (
                "ListMessageTemplates",
                lambda token: qconnect.list_message_templates(
                    knowledgeBaseId=knowledge_base, nextToken=token
                ),
            ),
            (
                "SearchMessageTemplates",
                lambda token: qconnect.search_message_templates(
                    knowledgeBaseId=knowledge_base, searchExpression={}, nextToken=token
                ),
            ),
        ]
    refused = 0
    with changes_nothing(state):
        for name, call in calls:
            for token in FORGED_TOKENS:
                try:
                    call(token)  # a well-formed position past the end is an empty page
                except ClientError as error:
                    status = error.response["ResponseMetadata"]["HTTPStatusCode"]
                    assert status == 400, (name, token, error.response["Error"])
                    refused += 1
    assert refused >= len(calls) * (len(FORGED_TOKENS) - 2)


# -- nothing waits on a client that stops --------------------------------------------------


def test_stalled_clients_do_not_hold_up_others(server: ServerProcess) -> None:
    address = host_port(server.endpoint)
    with (
        socket.create_connection(address, timeout=10) as mid_body,
        socket.create_connection(address, timeout=10) as mid_headers,
        socket.create_connection(address, timeout=10) as mid_chunk,
    ):
        mid_body.sendall(
            b"PUT /contact/create-contact HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"
        )
        mid_headers.sendall(b"GET /instance HTTP/1.1\r\nHost: x\r\nX-Half: ")
        mid_chunk.sendall(
            b"PUT /instance HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFF\r\nab"
        )
        client = server.client()
        for _ in range(5):
            assert client.list_instances()["ResponseMetadata"]["HTTPStatusCode"] == 200
