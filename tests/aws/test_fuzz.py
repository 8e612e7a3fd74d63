"""Property-based fuzzing of every operation connectmail implements, against a real server.

Hypothesis draws requests from the botocore input shapes, valid or one mutation away from
valid (a wrong type, a length, a range, an enum, a pattern, a missing member, control
characters, deep nesting), and sends them signed over HTTP. For every call: no 5xx, every
error parses in botocore as an error with a code, and a refused call leaves the database
exactly as it was. The figures are printed at the end of the run.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import botocore.parsers
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from connectmail.aws import ServiceModel, load_service_model
from tests.aws.botocore_wire import botocore_model, operation_model, serialize
from tests.aws.conftest import QuietServer
from tests.aws.dbstate import DatabaseState, differences
from tests.aws.shape_strategies import (
    FORGED_TOKENS,
    RequestStrategies,
    locate_mutations,
    replace_at,
)
from tests.support.connect import Outpost, make_outpost
from tests.support.figures import record as record_figures
from tests.support.wire import Answer, send, sign

# Examples per operation: about 40 operations, so some 500 calls per backend. The examples are
# the same on every run (CI); CONNECTMAIL_FUZZ_EXPLORE=1 draws new ones, to hunt.
EXAMPLES = int(os.environ.get("CONNECTMAIL_FUZZ_EXAMPLES", "12"))
EXPLORE = bool(os.environ.get("CONNECTMAIL_FUZZ_EXPLORE"))
SERVICES = ("connect", "qconnect")
# What issue 5 names; anything else registered is fuzzed too.
REQUIRED = {
    ("connect", "CreateInstance"),
    ("connect", "CreateEmailAddress"),
    ("connect", "CreateContact"),
    ("connect", "StartOutboundEmailContact"),
    ("connect", "DescribeContact"),
    ("connect", "SearchEmailAddresses"),
    ("connect", "StopContact"),
}
# Member names that refer to another resource of the same kind.
SAME_KIND = {"RelatedContactId": "ContactId", "PreviousContactId": "ContactId"}
# Where the model allows much that the service refuses, mostly what a real caller sends (the
# mutations take care of the rest).
REALISTIC_MEMBERS = {
    "Channel": ["EMAIL", "EMAIL", "EMAIL", "TASK", "VOICE", "CHAT"],
    "InitiationMethod": ["OUTBOUND", "AGENT_REPLY", "FLOW", "API", "INBOUND"],
    "MessageSourceType": ["RAW", "RAW", "TEMPLATE"],
    "ContentType": ["text/plain", "text/html", "application/pdf"],
    "knowledgeBaseType": ["MESSAGE_TEMPLATES", "MESSAGE_TEMPLATES", "CUSTOM"],
    "channelSubtype": ["EMAIL", "EMAIL", "SMS"],
}


@dataclass
class Figures:
    tried: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    server_errors: int = 0
    by_operation: Counter[str] = field(default_factory=Counter)
    mutations: Counter[str] = field(default_factory=Counter)

    def summary(self, label: str) -> str:
        codes = ", ".join(f"{code} {count}" for code, count in self.rejected.most_common())
        mutated = ", ".join(f"{name} {count}" for name, count in self.mutations.most_common())
        return (
            f"fuzz [{label}]: {self.tried} calls to {len(self.by_operation)} operations, "
            f"{self.accepted} accepted, {sum(self.rejected.values())} rejected ({codes}), "
            f"5xx {self.server_errors}; mutations: {mutated}"
        )


@dataclass
class Pool:
    """Identifiers the server handed out, to put where a member names one."""

    known: dict[str, list[str]] = field(default_factory=dict)
    created: dict[str, list[str]] = field(default_factory=dict)

    def add(self, key: str, value: str, created: bool = False) -> None:
        self.known.setdefault(key, []).append(value)
        if created:
            self.created.setdefault(key, []).append(value)

    def pick(self, key: str, index: int, created: bool = False) -> str:
        found = (self.created if created else self.known).get(key) or [f"no-{key}"]
        return found[index % len(found)]

    def learn(self, operation: str, output: Any) -> None:
        """Record the identifiers in an answer; what Create* made may be deleted later."""
        creating = operation.startswith("Create")
        if creating and isinstance(output, dict) and isinstance(output.get("Id"), str):
            self.add(operation[len("Create") :] + "Id", output["Id"], created=True)
        for key, value in _identifiers(output):
            self.add(key, value, created=creating)


def _identifiers(value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and key.endswith("Id") and key != "Id":
                yield key, item
            else:
                yield from _identifiers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _identifiers(item)


class Target:
    """The server under fuzzing and what the fuzzing knows (a plain class: hypothesis prints
    a dataclass argument field by field, and this one holds a lot)."""

    def __init__(
        self,
        quiet: QuietServer,
        state: DatabaseState,
        outpost: Outpost,
        operations: list[tuple[str, str]],
        models: dict[str, ServiceModel],
        strategies: dict[tuple[str, bool], RequestStrategies],
        pool: Pool,
    ) -> None:
        self.quiet = quiet
        self.state = state
        self.outpost = outpost
        self.operations = operations
        self.models = models
        self.strategies = strategies
        self.pool = pool
        self.figures = Figures()

    def __repr__(self) -> str:
        return f"Target({self.quiet.server.endpoint}, {len(self.operations)} operations)"


def implemented(quiet: QuietServer, models: dict[str, ServiceModel]) -> list[tuple[str, str]]:
    """Ask the server: an operation it lacks answers UnknownOperationException."""
    server = quiet.server
    found = []
    for service, model in models.items():
        for operation in model.operations:
            shape = operation_model(service, operation).input_shape
            params = {}
            if shape is not None:
                params = {
                    name: "x"
                    for name, member in shape.members.items()
                    if member.serialization.get("location") == "uri"
                }
            wire = serialize(service, operation, params)
            target = wire.raw_path + (f"?{wire.query_string}" if wire.query_string else "")
            headers = sign(
                server.endpoint,
                wire.method,
                target,
                server.credentials,
                body=wire.body,
                headers=wire.headers,
                service=model.signing_name,
            )
            answer = send(server.endpoint, wire.method, target, headers, wire.body)
            if answer.error_type == "InvalidSignatureException":
                break  # this server does not serve the service at all
            if answer.error_type != "UnknownOperationException":
                found.append((service, operation))
    return found


def hints_for(pool: Pool, outpost: Outpost, account: str, deleting: bool) -> Any:
    index = st.integers(0, 2**16)

    def hints(member: str, shape: str) -> st.SearchStrategy[Any] | None:
        key = SAME_KIND.get(member, member)
        if member == "InstanceId":
            if deleting:
                return index.map(lambda i: pool.pick("InstanceId", i, created=True))
            arn = f"arn:aws:connect:us-east-1:{account}:instance/{outpost.instance_id}"
            return st.sampled_from([outpost.instance_id] * 5 + [arn, "not-an-instance"])
        if member == "InstanceAlias":
            return st.uuids().map(lambda u: f"fz{u.hex[:12]}")
        if member == "EmailAddress":
            fresh = st.uuids().map(lambda u: f"fz-{u.hex[:10]}@example.com")
            return st.one_of(st.sampled_from([outpost.sender, "jane@example.org"]), fresh)
        if member == "ClientToken":
            return st.one_of(st.just("fuzz-token"), st.uuids().map(str))
        if member in ("NextToken", "nextToken"):
            return st.sampled_from(FORGED_TOKENS)
        if member in REALISTIC_MEMBERS:
            return st.sampled_from(REALISTIC_MEMBERS[member])
        if key.endswith("Id") and key not in ("UserId",):
            return index.map(lambda i: pool.pick(key, i, created=deleting))
        return None

    return hints


@pytest.fixture(scope="module")
def target(quiet_server: QuietServer) -> Iterator[Target]:
    models = {service: load_service_model(service) for service in SERVICES}
    outpost = make_outpost(quiet_server.server.client())
    pool = Pool()
    pool.add("InstanceId", outpost.instance_id)
    pool.add("EmailAddressId", outpost.sender_id)
    for _ in range(3):
        pool.add("ContactId", outpost.contact())
    seed_templates(quiet_server.server, pool)
    operations = implemented(quiet_server, models)
    assert set(operations) >= REQUIRED, sorted(REQUIRED - set(operations))
    strategies = {
        (service, deleting): RequestStrategies(
            models[service], hints_for(pool, outpost, quiet_server.server.account_id, deleting)
        )
        for service in models
        for deleting in (False, True)
    }
    state = quiet_server.state()
    yield Target(quiet_server, state, outpost, operations, models, strategies, pool)
    state.close()


def seed_templates(server: Any, pool: Pool) -> None:
    """A knowledge base with a template, where Q in Connect is served, for calls to refer to."""
    client = server.client("qconnect")
    try:
        knowledge_base = client.create_knowledge_base(
            name="fuzz", knowledgeBaseType="MESSAGE_TEMPLATES"
        )["knowledgeBase"]
        pool.add("knowledgeBaseId", knowledge_base["knowledgeBaseId"])
        template = client.create_message_template(
            knowledgeBaseId=knowledge_base["knowledgeBaseId"],
            name="fuzz-template",
            channelSubtype="EMAIL",
            content={"email": {"subject": "Hi", "body": {"plainText": {"content": "Hello"}}}},
        )["messageTemplate"]
        pool.add("messageTemplateId", template["messageTemplateId"])
    except ClientError as error:
        if error.response["Error"]["Code"] not in (
            "UnknownOperationException",
            "InvalidSignatureException",
        ):
            raise


def send_request(
    target: Target, service: str, operation: str, params: dict[str, Any], whole_body: Any = None
) -> Answer:
    """Location members through botocore's serializer, the JSON body exactly as drawn (or
    `whole_body` instead, when not None)."""
    model = target.models[service]
    shape = operation_model(service, operation).input_shape
    located: dict[str, Any] = {}
    body: Any = {}
    for name, member in (shape.members if shape is not None else {}).items():
        if member.serialization.get("location") == "uri":
            located[name] = ""  # a missing label: a path no operation has
    for name, value in params.items():
        member = shape.members.get(name)
        if member is None:
            body[name] = value  # not in the model: the server must ignore it
        elif member.serialization.get("location") in ("uri", "querystring", "header"):
            located[name] = value
        else:
            body[member.serialization.get("name", name)] = value
    if whole_body is not None:
        body = whole_body
    wire = serialize(service, operation, located)
    raw = json.dumps(body, ensure_ascii=False).encode() if body != {} else b""
    path = wire.raw_path + (f"?{wire.query_string}" if wire.query_string else "")
    server = target.quiet.server
    headers = sign(
        server.endpoint,
        wire.method,
        path,
        server.credentials,
        body=raw,
        headers={k: v for k, v in wire.headers.items() if k != "content-length"},
        service=model.signing_name,
    )
    return send(server.endpoint, wire.method, path, headers, raw)


def botocore_reads(service: str, operation: str, answer: Answer) -> dict[str, Any]:
    parser = botocore.parsers.create_parser(botocore_model(service).metadata["protocol"])
    parsed: dict[str, Any] = parser.parse(
        {"status_code": answer.status, "headers": answer.headers, "body": answer.body},
        operation_model(service, operation).output_shape,
    )
    return parsed


def kind_of(mutation: str) -> str:
    """ "missing Name" and "hostile CRLF" are kinds with many members."""
    return mutation.split()[0] if mutation.startswith(("missing", "hostile")) else mutation


def location_safe(replacement: Any) -> bool:
    """Members in the URI, query string and headers are text on the wire."""
    return isinstance(replacement, str | int) and not isinstance(replacement, bool)


def test_fuzz(target: Target) -> None:
    for service, operation in target.operations:
        fuzz_operation(target, service, operation)


@settings(
    max_examples=EXAMPLES,
    derandomize=not EXPLORE,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking against a server with state
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def fuzz_operation(target: Target, service: str, operation: str, data: st.DataObject) -> None:
    # Choices through a seeded Random: uniform, where hypothesis favours the first items.
    choose = random.Random(data.draw(st.integers(0, 2**64), label="seed"))
    figures = target.figures
    deleting = operation.startswith(("Delete", "Stop", "Deactivate", "Remove"))
    strategies = target.strategies[(service, deleting)]
    params = data.draw(strategies.request(operation), label="valid request")
    body: Any = None
    input_shape = target.models[service].operations[operation].input_shape
    if input_shape is not None and choose.random() < 0.5:
        shape = operation_model(service, operation).input_shape
        choices = [
            (spot, name, replacement)
            for spot, name, replacement in locate_mutations(strategies, params, input_shape)
            if spot.path == ()
            or shape.members[spot.path[0]].serialization.get("location") is None
            or (len(spot.path) == 1 and location_safe(replacement))
        ]
        # A kind of mutation first, then a place for it: strings are many, but each kind
        # gets its turn.
        kinds = sorted({kind_of(name) for _, name, _ in choices})
        kind = choose.choice(kinds)
        spot, name, replacement = choose.choice([c for c in choices if kind_of(c[1]) == kind])
        note(f"mutation: {name} at {spot.path}")
        figures.mutations[kind] += 1
        if spot.path == ():
            body = replacement  # the whole body; the URI, query and headers stay
        else:
            params = replace_at(params, spot.path, replacement)
    note(f"{service} {operation} {params!r:.2000} body={body!r:.200}")

    before = target.state.snapshot()
    answer = send_request(target, service, operation, params, body)
    figures.tried += 1
    figures.by_operation[operation] += 1
    note(f"answer {answer.status} {answer.body[:500]!r}")
    if answer.status >= 500:
        figures.server_errors += 1
    assert answer.status < 500
    parsed = botocore_reads(service, operation, answer)
    if answer.status < 300:
        figures.accepted += 1
        target.pool.learn(operation, parsed)
        return
    code = parsed.get("Error", {}).get("Code")
    assert code, parsed
    assert answer.error_type == code
    figures.rejected[code] += 1
    assert differences(before, target.state.snapshot()) == {}


def test_figures(target: Target, request: pytest.FixtureRequest) -> None:
    """Runs after the fuzzing in this module: report what it did, and that it did enough."""
    figures = target.figures
    print(figures.summary(request.node.callspec.id))
    record_figures(
        f"fuzz [{request.node.callspec.id}]",
        calls_tried=figures.tried,
        operations=len(figures.by_operation),
        accepted=figures.accepted,
        rejected=sum(figures.rejected.values()),
        rejected_by_code=dict(figures.rejected.most_common()),
        mutations=sum(figures.mutations.values()),
        answers_5xx=figures.server_errors,
    )
    assert figures.server_errors == 0
    assert figures.tried >= EXAMPLES * len(target.operations) * 0.9
    assert figures.accepted > 0 and sum(figures.rejected.values()) > 0
    untouched = {op for _, op in REQUIRED} - set(figures.by_operation)
    assert not untouched, f"never fuzzed: {sorted(untouched)}"
