"""Load generators: wrk over pre-signed requests (closed loop, the throughput figure), and an
open-loop sender at a fixed rate (for accept-to-arrival latency)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from bench.processes import (
    WalReading,
    cpu_seconds,
    cpu_used,
    postgres_processes,
    postgres_wal,
    process_tree,
)
from bench.signing import SignedRequest

WRK_SCRIPT = Path(__file__).with_name("wrk.lua")


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    rate: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int
    # CPU per request (µs) over the run: the server's processes, and PostgreSQL's when the
    # server uses it. (Not wrk's: its reading of the request file, before the run, would
    # count; sampled during runs, wrk used about 12 µs a request.)
    server_cpu_us: float | None = None
    database_cpu_us: float | None = None
    # When the server uses PostgreSQL: its checkpoints during the run, the WAL it wrote and
    # the files its WAL directory gained (`WalReading.since`).
    wal: WalReading | None = None


def write_requests(path: Path, requests: Iterable[SignedRequest]) -> int:
    """Write `requests` for wrk, one a line, and sync the file to disk before returning.

    A run's file is about 135 MB. Left dirty, the kernel writes it back 30 s later
    (`vm.dirty_expire_centisecs`), in the middle of the next run or the one after, and the
    server's fsyncs wait behind it: the first of three runs had none of that to contend with.
    """
    count = 0
    with path.open("w") as handle:
        for request in requests:
            headers = "\x01".join(f"{k}:{v}" for k, v in request.headers.items())
            body = request.body.decode()
            assert "\t" not in body and "\n" not in body
            handle.write(f"{request.method}\t{request.path}\t{headers}\t{body}\n")
            count += 1
        handle.flush()
        os.fsync(handle.fileno())
    return count


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is not installed: `apt-get install wrk` (make bench does this)")
    return found


def run_wrk(
    endpoint: str,
    requests_file: Path,
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
    server: int | None = None,
    database: bool = False,
) -> LoadResult:
    """wrk's result; with `server` (a pid), also the CPU that process and its children, and
    with `database` PostgreSQL's processes, used per request meanwhile."""
    # PostgreSQL's WAL and checkpoints are read first and last: each reading is a
    # connection, whose backend would otherwise count in PostgreSQL's CPU.
    wal_before = postgres_wal() if database else None
    watched = process_tree(server) if server is not None else []
    server_before = cpu_seconds(watched)
    database_before = cpu_seconds(postgres_processes()) if database else {}
    output = subprocess.run(
        [
            require_wrk(),
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(WRK_SCRIPT),
            endpoint,
            "--",
            str(requests_file),
            str(threads),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    server_used = (
        cpu_used(server_before, cpu_seconds(process_tree(server))) if server is not None else None
    )
    database_used = (
        cpu_used(database_before, cpu_seconds(postgres_processes())) if database else None
    )
    wal = postgres_wal().since(wal_before) if wal_before is not None else None
    result = parse_wrk(output)
    per_request = 1e6 / max(1, result.requests)
    return replace(
        result,
        server_cpu_us=round(server_used * per_request, 1) if server_used is not None else None,
        database_cpu_us=(
            round(database_used * per_request, 1) if database_used is not None else None
        ),
        wal=wal,
    )


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def parse_wrk(output: str) -> LoadResult:
    requests = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", output)
    assert requests is not None, output
    seconds = float(requests.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[requests.group(3)]
    # wrk pads a one-letter unit ("1.09s ") to the width of two ("907.87ms").
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.MULTILINE))
    if set(latency) != {"50", "99"}:
        raise RuntimeError(f"wrk printed no latency percentiles:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return LoadResult(
        requests=int(requests.group(1)),
        seconds=seconds,
        rate=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(latency["50"]),
        p99_ms=_ms(latency["99"]),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


async def _open_loop(
    endpoint: str, requests: list[SignedRequest], rate: float, connections: int
) -> dict[int, float]:
    """Send request i at start + i/rate; return the send time of each by index."""
    parts = urlsplit(endpoint)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    sent: dict[int, float] = {}
    queue: asyncio.Queue[int | None] = asyncio.Queue()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        while (index := await queue.get()) is not None:
            request = requests[index]
            head = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
            writer.write(
                f"{request.method} {request.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{head}"
                f"Content-Length: {len(request.body)}\r\n\r\n".encode()
                + request.body
            )
            sent[index] = time.time()
            await writer.drain()
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            if b" 200 " not in status:
                raise RuntimeError(status.decode())
        writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    start = time.monotonic()
    for index in range(len(requests)):
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(index)
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return sent


def open_loop(
    endpoint: str, requests: list[SignedRequest], rate: float, connections: int = 32
) -> dict[int, float]:
    return asyncio.run(_open_loop(endpoint, requests, rate, connections))
