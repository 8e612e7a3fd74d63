"""The benchmark runs end to end (a few seconds of each measurement), so it cannot rot."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.loadgen import run_wrk, write_requests
from bench.processes import postgres_wal
from bench.signing import SignedRequest
from tests.support.databases import PG_ADMIN_URL

# A smoke run takes one to two and a half minutes, the callgrind counts about as long as the
# rest together; each half is a test of its own, so the two can run side by side, and each may
# take longer than the suite's default timeout on a slow hour of the machine.
SMOKE_TIMEOUT = 480


def smoke(tmp_path: Path, *args: str) -> tuple[dict[str, Any], str]:
    """`python -m bench --smoke` with `args`: its report, and what it printed. Whatever it
    started is killed with it when it fails or times out (a server left under callgrind would
    slow every test after it)."""
    out = tmp_path / "bench.json"
    command = [sys.executable, "-m", "bench", "--smoke", *args, "--out", str(out)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as bench:
        try:
            printed, errors = bench.communicate(timeout=SMOKE_TIMEOUT - 30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(bench.pid, signal.SIGKILL)
    assert bench.returncode == 0, errors[-3000:]
    return json.loads(out.read_text()), printed


@pytest.mark.timeout(SMOKE_TIMEOUT)
def test_bench_smoke_run(tmp_path: Path) -> None:
    report, printed = smoke(tmp_path, "--skip", "instructions")
    sqlite = report["backends"]["sqlite"]
    assert "instructions" not in sqlite
    for name in (
        "accept_raw",
        "accept_raw_processes",
        "accept_template",
        "accept_raw_with_history",
    ):
        assert sqlite[name]["rate"] > 0 and sqlite[name]["non_2xx"] == 0, name
    assert sqlite["delivery"]["messages"] == report["options"]["delivery_messages"]
    assert sqlite["arrival_latency"]["p99_ms"] > 0
    assert sqlite["arrival_latency_worker"]["p99_ms"] > 0
    assert sqlite["soak"]["rss_end_mb"] > 0 and sqlite["soak"]["growth"] is not None
    assert report["bare_asgi"]["rate"] > 0 and report["moto_sesv2"]["rate"] > 0
    assert report["bare_starlette"]["rate"] > 0 and report["bare_asgi_processes"]["rate"] > 0
    # CPU per request: the server's; there is no database process to measure.
    assert sqlite["accept_raw"]["server_cpu_us"] > 0
    assert "database_cpu_us" not in sqlite["accept_raw"]
    assert report["bare_asgi"]["server_cpu_us"] > 0
    assert "StartOutboundEmailContact RAW, accepted/s" in printed
    assert "CPU µs per request: server / database" in printed
    assert "CPU µs per email: connectmail / database / relay" in printed
    assert "  with a separate `connectmail worker`" in printed


@pytest.mark.timeout(SMOKE_TIMEOUT)
def test_bench_smoke_on_postgresql(tmp_path: Path) -> None:
    """What differs on PostgreSQL: its process's CPU and WAL beside the server's, delivery's
    claims, and a separate worker woken by NOTIFY."""
    report, printed = smoke(tmp_path, "--backends", "postgresql", "--only", "raw,delivery,latency")
    assert list(report["backends"]) == ["postgresql"]
    postgresql = report["backends"]["postgresql"]
    raw = postgresql["accept_raw"]
    assert raw["rate"] > 0 and raw["non_2xx"] == 0
    assert raw["server_cpu_us"] > 0 and raw["database_cpu_us"] > 0
    assert raw["wal_kb_per_request"] > 0 and len(raw["wal_files_added_runs"]) == 1
    assert postgresql["delivery"]["messages"] == report["options"]["delivery_messages"]
    assert postgresql["arrival_latency"]["p99_ms"] > 0
    assert postgresql["arrival_latency_worker"]["p99_ms"] > 0
    assert "PostgreSQL WAL KB per request; WAL files added in the runs" in printed
    assert "| measurement | postgresql |" in printed


@pytest.mark.timeout(SMOKE_TIMEOUT)
def test_bench_smoke_instructions(tmp_path: Path) -> None:
    report, printed = smoke(tmp_path, "--only", "instructions")
    sqlite = report["backends"]["sqlite"]
    # Instructions per send under callgrind: about a million here, more for a template (it is
    # rendered); a count of the idle server, or of its start-up, would be far from it.
    counted = sqlite["instructions"]
    assert counted["RAW"]["requests"] == 40
    assert 200_000 < counted["RAW"]["per_request"] < counted["TEMPLATE"]["per_request"]
    assert counted["TEMPLATE"]["per_request"] < 10_000_000, counted
    assert Path(counted["RAW"]["callgrind_file"]).stat().st_size > 0
    # A send with the smoke run's history stored (5,000 contacts) costs about what it does on
    # the empty store. Loosely: 40 sends' counts move by up to a sixth between runs (something
    # of the event loop's, 6 million instructions, lands in the window or not), and the count
    # of the seeding, were it in the window, would be many times a send's.
    assert counted["HISTORY"]["requests"] == 40
    assert 0.5 < counted["HISTORY"]["per_request"] / counted["RAW"]["per_request"] < 2
    # Delivering an email (the claim, composing, SMTP, the record) costs about what accepting
    # it does here.
    assert counted["DELIVERY"]["requests"] > 0
    assert 200_000 < counted["DELIVERY"]["per_request"] < 10_000_000, counted
    assert "API process instructions per request (callgrind): RAW / TEMPLATE" in printed
    assert "connectmail's instructions per email (callgrind)" in printed
    assert "  its instructions per request (callgrind)" in printed


def test_postgres_wal_counts_a_requested_checkpoint_and_the_wal_written() -> None:
    before = postgres_wal()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        # A WAL record of 100 KB (a logical decoding message, outside any transaction).
        admin.execute("SELECT pg_logical_emit_message(false, 'bench', repeat('x', 100000))")
        admin.execute("CHECKPOINT")
    # The checkpointer reports its counts just after it wakes CHECKPOINT's caller.
    deadline = time.monotonic() + 10
    while (
        after := postgres_wal()
    ).checkpoints_requested == before.checkpoints_requested and time.monotonic() < deadline:
        time.sleep(0.05)
    change = after.since(before)
    assert change.checkpoints_requested >= 1
    assert change.checkpoints_timed >= 0
    assert change.wal_bytes >= 100 * 1000
    assert after.wal_files >= 1


class _Slow(BaseHTTPRequestHandler):
    """Answers every request after 1.1 s."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(1.1)
        try:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
        except ConnectionError:  # wrk closes its connections when its time is up
            pass

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def slow_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_wrk_latencies_of_a_second_or_more_are_read(slow_endpoint: str, tmp_path: Path) -> None:
    # wrk prints such a latency as "1.10s " (padded to the width of "ms"); the bench once
    # stopped there with "wrk printed no latency percentiles".
    path = tmp_path / "requests.txt"
    request = SignedRequest("POST", "/slow", {"Content-Type": "application/json"}, b"{}")
    write_requests(path, [request] * 8)
    result = run_wrk(slow_endpoint, path, seconds=3, connections=2)
    assert result.requests >= 2 and result.non_2xx == 0
    assert 1_000 <= result.p50_ms <= result.p99_ms < 3_000


def test_an_unknown_source_of_instructions_is_refused_before_anything_runs(tmp_path: Path) -> None:
    # A misspelt source was dropped without a word, and the count left out.
    command = [sys.executable, "-m", "bench.instructions", "--sources", "RAW,HISTROY"]
    command += ["--work", str(tmp_path / "work"), "--out", str(tmp_path / "out.json")]
    ran = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 2
    assert "unknown sources HISTROY" in ran.stderr
    assert not (tmp_path / "work").exists() and not (tmp_path / "out.json").exists()
