"""The measurements: accept rate (RAW, TEMPLATE, with a long history), the references (bare
ASGI, moto's SES v2), delivery throughput against aiosmtplib alone, accept-to-arrival latency.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.credentials import Credentials

from bench import seed
from bench.loadgen import LoadResult, open_loop, run_wrk, write_requests
from bench.processes import (
    MemoryWatch,
    Program,
    cpu_seconds,
    cpu_used,
    free_port,
    postgres_processes,
    process_tree,
)
from bench.signing import SignedRequest, raw_message, sign, signed_sends
from connectmail.store.store import Store
from tests.support.databases import postgres_database
from tests.support.server import ServerProcess

REGION = "us-east-1"
PYTHON = sys.executable


@dataclass
class Options:
    runs: int = 3
    seconds: float = 10.0
    connections: int = 50
    expected_rate: float = 12_000.0  # sizes the pre-signed pool so no request is sent twice
    history: int = 1_000_000
    delivery_messages: int = 20_000  # 5,000 took under 2 s: start-up weighed on the rate
    latency_rate: float = 500.0
    latency_seconds: float = 10.0
    workers: int = 1
    processes: int = 2  # the API processes of the `processes` scenario
    soak_seconds: float = 0.0
    soak_rate: float = 1_000.0
    counted_requests: int = 1_500  # sends counted by callgrind (`bench.instructions`)
    counted_warmup: int = 200

    @property
    def per_run(self) -> int:
        return int(self.expected_rate * (self.seconds + 1) * 1.2)


@contextmanager
def database(backend: str, directory: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'connectmail.db'}"
        return
    with postgres_database() as url:
        yield url


def _server_args(url: str, options: Options, *extra: str) -> list[str]:
    args = ["--database-url", url, *extra]
    if options.workers > 1:
        args += ["--workers", str(options.workers)]
    return args


def _median(results: list[LoadResult]) -> dict[str, Any]:
    best = sorted(results, key=lambda r: r.rate)[len(results) // 2]
    return {
        "rate": round(statistics.median(r.rate for r in results), 1),
        "p50_ms": round(best.p50_ms, 2),
        "p99_ms": round(best.p99_ms, 2),
        "non_2xx": sum(r.non_2xx for r in results),
        "errors": sum(r.errors for r in results),
        "runs": [round(r.rate, 1) for r in results],
        "p99_runs_ms": [round(r.p99_ms, 2) for r in results],
        **_cpu(results),
        **_checkpoints(results),
    }


def _checkpoints(results: list[LoadResult]) -> dict[str, Any]:
    """PostgreSQL's checkpoints in each run, requested and timed, beside `p99_runs_ms`; the
    WAL it wrote per accepted request (KB, the median and each run's), and the files its
    WAL directory gained in each run (less those a checkpoint removed)."""
    runs = [(r.requests, r.wal) for r in results if r.wal is not None]
    if not runs or len(runs) < len(results):
        return {}
    per_request = [round(wal.wal_bytes / max(1, requests) / 1024, 2) for requests, wal in runs]
    return {
        "checkpoints_requested_runs": [wal.checkpoints_requested for _, wal in runs],
        "checkpoints_timed_runs": [wal.checkpoints_timed for _, wal in runs],
        "wal_kb_per_request": round(statistics.median(per_request), 2),
        "wal_kb_per_request_runs": per_request,
        "wal_files_added_runs": [wal.wal_files for _, wal in runs],
    }


def _cpu(results: list[LoadResult]) -> dict[str, Any]:
    """Median CPU per request (µs) of each kind the runs measured, and every run's."""
    found: dict[str, Any] = {}
    for kind in ("server", "database"):
        values = [getattr(r, f"{kind}_cpu_us") for r in results]
        if values and all(v is not None for v in values):
            found[f"{kind}_cpu_us"] = round(statistics.median(values), 1)
            found[f"{kind}_cpu_us_runs"] = values
    return found


def _pid(server: ServerProcess) -> int:
    assert server.process is not None
    return server.process.pid


def _program_pid(program: Program) -> int:
    assert program.process is not None
    return program.process.pid


def _credentials(server: ServerProcess) -> Credentials:
    stored = server.credentials
    return Credentials(stored["aws_access_key_id"], stored["aws_secret_access_key"])


def _template_payloads(
    server: ServerProcess, outpost: seed.Outpost, ids: list[str]
) -> Iterator[dict[str, Any]]:
    qconnect = server.client("qconnect", region=REGION)
    kb = qconnect.create_knowledge_base(
        name=f"bench-{uuid.uuid4().hex[:6]}", knowledgeBaseType="MESSAGE_TEMPLATES"
    )
    kb_id = kb["knowledgeBase"]["knowledgeBaseId"]
    template = qconnect.create_message_template(
        knowledgeBaseId=kb_id,
        name="shipped",
        channelSubtype="EMAIL",
        content={
            "email": {
                "subject": "Your order {{Attributes.Custom.Order}} has shipped",
                "body": {
                    "html": {
                        "content": "<p>Hello {{Attributes.Customer.FirstName}}, order "
                        "<b>{{Attributes.Custom.Order}}</b> is on its way.</p>"
                    },
                    "plainText": {
                        "content": "Hello {{Attributes.Customer.FirstName}}, order "
                        "{{Attributes.Custom.Order}} is on its way."
                    },
                },
            }
        },
    )
    template_id = template["messageTemplate"]["messageTemplateId"]
    version = qconnect.create_message_template_version(
        knowledgeBaseId=kb_id, messageTemplateId=template_id
    )
    qconnect.activate_message_template(
        knowledgeBaseId=kb_id,
        messageTemplateId=template_id,
        versionNumber=version["messageTemplate"]["versionNumber"],
    )
    for contact_id in ids:
        payload = raw_message(contact_id, outpost.instance_id, outpost.sender)
        payload["EmailMessage"] = {
            "MessageSourceType": "TEMPLATE",
            "TemplatedMessageConfig": {
                "KnowledgeBaseId": kb_id,
                "MessageTemplateId": template_id,
                "TemplateAttributes": {
                    "CustomAttributes": {"Order": "#1234"},
                    "CustomerProfileAttributes": json.dumps({"FirstName": "Jane"}),
                },
            },
        }
        yield payload


def signed_requests(
    server: ServerProcess, outpost: seed.Outpost, ids: list[str], source: str
) -> list[SignedRequest]:
    """One signed StartOutboundEmailContact for each contact of `ids`, RAW or TEMPLATE."""
    payloads = (
        _template_payloads(server, outpost, ids)
        if source == "TEMPLATE"
        else (raw_message(i, outpost.instance_id, outpost.sender) for i in ids)
    )
    return list(signed_sends(server.endpoint, _credentials(server), REGION, payloads))


def accept_rate(
    backend: str, options: Options, work: Path, *, source: str = "RAW", history: int = 0
) -> dict[str, Any]:
    """StartOutboundEmailContact accepted (committed) per second, delivery off."""
    directory = work / f"accept-{backend}-{source}-{history}-{options.workers}"
    with database(backend, directory) as url:
        server = ServerProcess(directory, _server_args(url, options, "--no-deliver")).start()
        watch = MemoryWatch(_pid(server)).start()
        try:
            store = Store(url)
            outpost = seed.make_outpost(store, server.account_id)
            if history:
                seed.add_history(store, outpost, history)
            ids = seed.add_contacts(store, outpost, options.per_run * options.runs)
            seed.settle(store)
            store.close()
            # The seeder's rows on disk before the server is measured: otherwise the kernel
            # writes them back during the runs and SQLite's fsyncs wait behind that (RAW on
            # an empty store measured 1,032/s against 1,972/s with a million rows, synced).
            os.sync()
            signed = signed_requests(server, outpost, ids, source)
            results = []
            for run in range(options.runs):
                chunk = signed[run * options.per_run : (run + 1) * options.per_run]
                path = directory / f"requests-{run}.txt"
                write_requests(path, chunk)
                results.append(
                    run_wrk(
                        server.endpoint,
                        path,
                        seconds=options.seconds,
                        connections=options.connections,
                        server=_pid(server),
                        database=backend == "postgresql",
                    )
                )
        finally:
            watch.stop()
            server.stop()
    return {**_median(results), "peak_rss_mb": round(watch.peak / 2**20, 1)}


def bare_asgi_rate(
    options: Options, work: Path, signed: list[SignedRequest], *, app: str = "asgi"
) -> dict[str, Any]:
    """The bare endpoint (`bench.bare_asgi`) with `options.workers` processes; `app` is
    `asgi` (the ceiling) or `starlette`."""
    port = free_port()
    command = [PYTHON, "-m", "bench.bare_asgi", str(port), str(options.workers), app]
    program = Program(command).start()
    try:
        _wait_port(port)
        path = work / f"bare-{app}.txt"
        write_requests(path, signed)
        results = [
            run_wrk(
                f"http://127.0.0.1:{port}",
                path,
                seconds=options.seconds,
                connections=options.connections,
                server=_program_pid(program),
            )
            for _ in range(options.runs)
        ]
    finally:
        program.stop()
    return _median(results)


def moto_rate(options: Options, work: Path) -> dict[str, Any]:
    """moto's server doing SES v2 SendEmail, signed like any AWS request, sender verified."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = shutil_which("moto_server")
    program = Program(
        [moto, "-H", "127.0.0.1", "-p", str(port)], ready_url=f"{endpoint}/moto-api/"
    ).start()
    try:
        credentials = Credentials("AKIDMOTOBENCH", "moto-secret")
        ses = boto3.client(
            "sesv2",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=credentials.access_key,
            aws_secret_access_key=credentials.secret_key,
        )
        ses.create_email_identity(EmailIdentity="bench@example.com")
        count = int(2_000 * (options.seconds + 1))
        signed = [
            sign(
                endpoint,
                credentials,
                REGION,
                "ses",
                "POST",
                "/v2/email/outbound-emails",
                {
                    "FromEmailAddress": "bench@example.com",
                    "Destination": {"ToAddresses": [f"c-{n}@example.org"]},
                    "Content": {
                        "Simple": {
                            "Subject": {"Data": "Your order has shipped"},
                            "Body": {"Html": {"Data": "<p>Hello, order <b>#1234</b></p>"}},
                        }
                    },
                },
            )
            for n in range(count)
        ]
        path = work / "moto.txt"
        write_requests(path, signed)
        results = [
            run_wrk(
                endpoint,
                path,
                seconds=options.seconds,
                connections=options.connections,
                server=_program_pid(program),
            )
            for _ in range(options.runs)
        ]
    finally:
        program.stop()
    return _median(results)


def shutil_which(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(PYTHON).parent))
    if found is None:
        raise SystemExit(f"{name} not found (pip install 'moto[server]')")
    return found


def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Relay:
    """bench.relay in its own process."""

    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.out = work / f"arrivals-{self.port}.json"
        self.program = Program([PYTHON, "-m", "bench.relay", str(self.port), str(self.out)])
        self.count = 0

    def __enter__(self) -> Relay:
        self.program.start(stdout=subprocess.PIPE)
        assert self.program.process is not None and self.program.process.stdout is not None
        self.program.process.stdout.readline()  # "ready"
        return self

    def wait_for(
        self, count: int, timeout: float = 300.0, failed: Callable[[], bool] = lambda: False
    ) -> None:
        """Until the relay has `count` arrivals; `failed` says the sender has given up."""
        assert self.program.process is not None and self.program.process.stdout is not None
        deadline = time.monotonic() + timeout
        while self.count < count:
            if time.monotonic() > deadline or failed():
                raise RuntimeError(f"relay got {self.count} of {count}")
            self.count = int(self.program.process.stdout.readline())

    def cpu_per_message(
        self,
        count: int,
        watched: dict[str, Callable[[], list[int]]],
        failed: Callable[[], bool] = lambda: False,
    ) -> dict[str, float]:
        """Wait for `count` arrivals; return the CPU (µs) each of `watched`'s process groups
        used per message arriving between a tenth and nine tenths of them, past start-up and
        before the tail. Empty when too few arrived in between to say (a smoke run)."""
        self.wait_for(count // 10, failed=failed)
        first, before = self.count, {k: cpu_seconds(pids()) for k, pids in watched.items()}
        self.wait_for(count * 9 // 10, failed=failed)
        last, after = self.count, {k: cpu_seconds(pids()) for k, pids in watched.items()}
        self.wait_for(count, failed=failed)
        if last - first < 100:
            return {}
        return {
            f"{k}_cpu_us": round(cpu_used(before[k], after[k]) * 1e6 / (last - first), 1)
            for k in watched
        }

    def arrivals(self) -> list[tuple[float, str, str]]:
        self.program.stop()
        return [(float(t), str(r), str(m)) for t, r, m in json.loads(self.out.read_text())]

    def __exit__(self, *exc: object) -> None:
        self.program.stop()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?tls=none"


def delivery_rate(backend: str, options: Options, work: Path) -> dict[str, Any]:
    """Emails per second arriving at a loopback relay, against aiosmtplib alone: the run
    with the median ratio of `options.runs`, each measuring both."""
    runs = sorted(
        (_delivery_once(backend, options, work, run) for run in range(options.runs)),
        key=lambda r: float(r["ratio"]),
    )
    return {**runs[len(runs) // 2], "ratios": [r["ratio"] for r in runs]}


def _delivery_once(backend: str, options: Options, work: Path, run: int) -> dict[str, Any]:
    count = options.delivery_messages
    with Relay(work) as relay:
        baseline = subprocess.Popen(
            [PYTHON, "-m", "bench.smtp_baseline", str(relay.port), str(count)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            baseline_cpu = relay.cpu_per_message(
                count,
                {"sender": lambda: [baseline.pid], "relay": lambda: [_program_pid(relay.program)]},
                failed=lambda: baseline.poll() not in (None, 0),
            )
        except BaseException:
            baseline.kill()
            raise
        out, _ = baseline.communicate()
        if baseline.returncode:
            raise RuntimeError(f"bench.smtp_baseline failed ({baseline.returncode})")
        baseline_rate = count / float(out)
        relay.arrivals()
    directory = work / f"delivery-{backend}-{run}"
    with database(backend, directory) as url, Relay(work) as relay:
        server = ServerProcess(directory, _server_args(url, options, "--no-deliver")).start()
        store = Store(url)
        outpost = seed.make_outpost(store, server.account_id)
        ids = seed.add_contacts(store, outpost, count)
        store.close()
        signed = signed_requests(server, outpost, ids, "RAW")
        open_loop(server.endpoint, signed, rate=100_000.0)  # every one, as fast as it goes
        server.stop()
        server.args = _server_args(url, options, "--relay", relay.url)
        watch_started = time.time()
        server.start()
        watched = {
            "server": lambda: process_tree(_pid(server)),
            "relay": lambda: [_program_pid(relay.program)],
        }
        if backend == "postgresql":
            watched["database"] = postgres_processes
        assert server.process is not None
        process = server.process
        try:
            cpu = relay.cpu_per_message(count, watched, failed=lambda: process.poll() is not None)
        finally:
            server.stop()
        arrivals = sorted(a[0] for a in relay.arrivals())
    rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else 0.0
    return {
        "rate": round(rate, 1),
        "baseline_rate": round(baseline_rate, 1),
        "ratio": round(rate / baseline_rate, 2),
        "messages": len(arrivals),
        "first_arrival_after_start_s": round(arrivals[0] - watch_started, 2),
        # CPU per email (µs) of connectmail's process, the database's and the relay's; and
        # of the baseline's sender and relay. The two compete for this machine's cores.
        **cpu,
        **{f"baseline_{k}": v for k, v in baseline_cpu.items()},
    }


def arrival_latency(
    backend: str, options: Options, work: Path, *, separate_worker: bool = False
) -> dict[str, Any]:
    """Accept-to-arrival latency at a fixed offered rate, delivery in the server process or,
    with `separate_worker`, in a `connectmail worker` beside `serve --no-deliver`."""
    count = int(options.latency_rate * options.latency_seconds)
    directory = work / f"latency-{backend}-{'worker' if separate_worker else 'server'}"
    with database(backend, directory) as url, Relay(work) as relay:
        delivery = ["--no-deliver"] if separate_worker else ["--relay", relay.url]
        server = ServerProcess(directory, _server_args(url, options, *delivery)).start()
        worker = None
        if separate_worker:
            command = [PYTHON, "-m", "connectmail", "worker", "--data-dir", str(directory)]
            command += ["--database-url", url, "--relay", relay.url]
            worker = Program(command, log=directory / "worker.log")
        try:
            if worker is not None:
                worker.start()  # its start-up overlaps the seeding and signing
            store = Store(url)
            outpost = seed.make_outpost(store, server.account_id)
            ids = seed.add_contacts(store, outpost, count)
            store.close()
            payloads = [raw_message(i, outpost.instance_id, outpost.sender) for i in ids]
            signed = list(
                signed_sends(server.endpoint, _credentials(server), REGION, iter(payloads))
            )
            if worker is not None:
                worker.wait_for_log("delivering from")
            sent = open_loop(server.endpoint, signed, options.latency_rate)
            relay.wait_for(count)
        finally:
            if worker is not None:
                worker.stop()
            server.stop()
        arrived = {recipient: at for at, recipient, _ in relay.arrivals()}
    latencies = sorted(
        (arrived[payloads[i]["DestinationEmailAddress"]["EmailAddress"]] - sent[i]) * 1000
        for i in range(count)
    )
    return {
        "offered_rate": options.latency_rate,
        "messages": count,
        "p50_ms": round(latencies[len(latencies) // 2], 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
    }


def soak(backend: str, options: Options, work: Path) -> dict[str, Any]:
    """RSS over a long run of fresh sends at a fixed rate: the end within 10% of the level
    after warm-up (the first 30 s, or a tenth of a shorter run).

    Every request is a new email to its own contact, so the whole run is the path users
    take. (Under wrk at full speed the pre-signed pool ran out within a minute and the rest
    were client-token replays: another path, with its own RSS plateau.)"""
    directory = work / f"soak-{backend}"
    count = int(options.soak_rate * options.soak_seconds)
    with database(backend, directory) as url:
        server = ServerProcess(directory, _server_args(url, options, "--no-deliver")).start()
        watch = MemoryWatch(_pid(server)).start()
        try:
            store = Store(url)
            outpost = seed.make_outpost(store, server.account_id)
            ids = seed.add_contacts(store, outpost, count)
            store.close()
            signed = signed_requests(server, outpost, ids, "RAW")
            loaded_at = time.monotonic()
            open_loop(server.endpoint, signed, options.soak_rate)
            elapsed = time.monotonic() - loaded_at
        finally:
            watch.stop()
            server.stop()
    warm_up = min(30.0, options.soak_seconds / 10)
    settled = [rss for at, rss in watch.samples if at - loaded_at > warm_up] or [0]
    start, end = settled[0], settled[-1]
    return {
        "seconds": options.soak_seconds,
        "offered_rate": options.soak_rate,
        "rate": round(count / elapsed, 1),
        "rss_after_warmup_mb": round(start / 2**20, 1),
        "rss_end_mb": round(end / 2**20, 1),
        "growth": round(end / start - 1, 3) if start else None,
    }


def temporary_directory() -> Path:
    return Path(tempfile.mkdtemp(prefix="connectmail-bench-"))
