"""`python -m bench.micro`: CPU per StartOutboundEmailContact on the API path, without HTTP.

Pre-signed requests (botocore's SigV4Auth, unique ClientTokens) go straight into the ASGI app
with in-memory `receive` and `send`; nothing awaits anything, so each coroutine is driven to
its end with one `send(None)` and no event loop is measured. The store is a stand-in whose
`write_batched` answers at once, so what is timed is everything before the database and after
it: SigV4, routing, parsing, validation, guards, the handler's checks and the response.

    python -m bench.micro                # µs of CPU per request for each phase
    python -m bench.micro --profile asgi # and where that phase's time goes (cProfile)

Phases: `asgi` is the whole path from `Application.__call__` (headers, body, response);
`handle` is `AwsApi.handle` with a handler that does nothing; `parse` is the protocol's
parsing and validation alone; `handler` is StartOutboundEmailContact up to the store.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast

from botocore.credentials import Credentials

from bench.signing import SignedRequest, raw_message, sign
from connectmail.access.guards import authorize
from connectmail.aws import AwsApi, Principal, RequestContext, Service, load_service_model
from connectmail.aws.restjson import RestJsonProtocol
from connectmail.config import Settings
from connectmail.connect.base import Deps
from connectmail.connect.contacts import ContactHandlers
from connectmail.server import Application
from connectmail.store.store import Store

HOST = "127.0.0.1:4566"
REGION = "us-east-1"
ACCOUNT = "123456789012"
KEY = Principal(ACCOUNT, "AKIDMICROBENCH", "micro-secret")


class Keys:
    async def principal(self, access_key_id: str) -> Principal | None:
        return KEY if access_key_id == KEY.access_key_id else None


class AnsweringStore:
    """Answers `write_batched` at once, as if the batch had committed."""

    async def write_batched(self, batch: Any, job: Any) -> dict[str, Any]:
        return {"ContactId": job.request.contact_id}


def finish(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends to its end."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("the coroutine waited on something")


@dataclass
class Fixture:
    requests: list[SignedRequest]
    api: AwsApi  # the real StartOutboundEmailContact handler, stopped at the store
    noop_api: AwsApi  # a handler that answers at once
    app: Application
    protocol: RestJsonProtocol
    handlers: ContactHandlers


def build(count: int) -> Fixture:
    credentials = Credentials(KEY.access_key_id, KEY.secret_access_key)
    requests = [
        sign(
            f"http://{HOST}",
            credentials,
            REGION,
            "connect",
            "PUT",
            "/contact/outbound-email",
            raw_message(str(uuid.uuid4()), str(uuid.uuid4()), "support@example.com"),
        )
        for _ in range(count)
    ]
    model = load_service_model("connect")
    deps = Deps(store=cast(Store, AnsweringStore()), settings=Settings(deliver=False))
    handlers = ContactHandlers(deps)

    async def noop(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"ContactId": params["ContactId"]}

    real = {"StartOutboundEmailContact": handlers.start_outbound_email_contact}
    api = AwsApi([Service(model, real)], Keys(), guards=[authorize])
    noop_api = AwsApi(
        [Service(model, {"StartOutboundEmailContact": noop})], Keys(), guards=[authorize]
    )
    app = Application(
        settings=Settings(deliver=False),
        store=cast(Store, None),
        api=api,
        admin=cast(Any, None),
        worker=None,
        root=cast(Any, None),
    )
    return Fixture(requests, api, noop_api, app, RestJsonProtocol(model), handlers)


def phases(fixture: Fixture) -> dict[str, Callable[[SignedRequest], Any]]:
    model = fixture.protocol.model
    operation = model.operations["StartOutboundEmailContact"]
    context = RequestContext(
        service="connect",
        operation=operation.name,
        region=REGION,
        request_id=str(uuid.uuid4()),
        principal=KEY,
    )
    # Parsed once per request up front, so `handler` times the handler alone.
    parsed: dict[int, dict[str, Any]] = {}

    def headers_of(request: SignedRequest) -> dict[str, str]:
        found = {k.lower(): v for k, v in request.headers.items()}
        return {"host": HOST, **found, "content-length": str(len(request.body))}

    def asgi(request: SignedRequest) -> Any:
        raw_headers = [(k.encode(), v.encode()) for k, v in headers_of(request).items()]
        scope = {
            "type": "http",
            "method": request.method,
            "path": request.path,
            "raw_path": request.path.encode(),
            "query_string": b"",
            "headers": raw_headers,
        }
        sent: list[Any] = []
        body = {"type": "http.request", "body": request.body, "more_body": False}

        async def receive() -> dict[str, Any]:
            return body

        async def send(message: Any) -> None:
            sent.append(message)

        return lambda: finish(fixture.app(scope, receive, send))

    def handle(request: SignedRequest) -> Any:
        headers = headers_of(request)
        return lambda: finish(
            fixture.noop_api.handle(
                request.method, request.path, "", headers, request.body, "request-id"
            )
        )

    def parse(request: SignedRequest) -> Any:
        headers = headers_of(request)
        return lambda: fixture.protocol.parse(operation, {}, {}, headers, request.body)

    def handler(request: SignedRequest) -> Any:
        key = id(request)
        if key not in parsed:
            parsed[key] = fixture.protocol.parse(
                operation, {}, {}, headers_of(request), request.body
            )
        params = parsed[key]
        return lambda: finish(fixture.handlers.start_outbound_email_contact(context, params))

    return {"asgi": asgi, "handle": handle, "parse": parse, "handler": handler}


def measure(calls: list[Callable[[], Any]], repeats: int) -> float:
    """Median over `repeats` passes of the CPU time per call, in microseconds."""
    for call in calls[: len(calls) // 4]:
        call()  # warm caches (compiled shapes, signing keys)
    samples = []
    for _ in range(repeats):
        start = time.process_time_ns()
        for call in calls:
            call()
        samples.append((time.process_time_ns() - start) / len(calls) / 1000)
    return statistics.median(samples)


def check_answers(fixture: Fixture) -> None:
    """The path under test must really accept the requests, or the numbers mean nothing."""
    request = fixture.requests[0]
    headers = {"host": HOST, **{k.lower(): v for k, v in request.headers.items()}}
    response = finish(
        fixture.api.handle(request.method, request.path, "", headers, request.body, "check")
    )
    if response.status != 200:
        raise SystemExit(f"the request was refused: {response.status} {response.body!r}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.micro", description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--only", default="", help="comma-separated phases")
    parser.add_argument("--profile", default="", help="profile one phase with cProfile")
    args = parser.parse_args()
    fixture = build(args.requests)
    check_answers(fixture)
    available = phases(fixture)
    if args.profile:
        calls = [available[args.profile](r) for r in fixture.requests]
        measure(calls, 1)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(5):
            for call in calls:
                call()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        return
    wanted = [p for p in args.only.split(",") if p] or list(available)
    print("| phase | µs CPU per request |")
    print("| --- | --- |")
    for name in wanted:
        calls = [available[name](r) for r in fixture.requests]
        print(f"| {name} | {measure(calls, args.repeats):.1f} |")


if __name__ == "__main__":
    main()
