"""`python -m bench.instructions`: the API process's instructions per accepted
StartOutboundEmailContact, RAW and TEMPLATE, and per email it delivers (DELIVERY), counted by
valgrind's callgrind.

The accept rate and the CPU per request move 10 to 20% from run to run on this machine, and
its speed about 2x from hour to hour; an instruction count does not. The server runs under
callgrind with counting off; pre-signed, unique requests (contacts created beforehand) warm it
up, then counting is switched on (`callgrind_control -i on`), exactly `--requests` more are
sent over `--connections` connections, and counting is switched off and dumped. DELIVERY is
measured as `python -m bench` measures delivery: sends accepted with delivery off, then the
server restarted under callgrind with a loopback relay; counted while the middle seven ninths
of the emails arrive. Two runs of the same code agree within about 1%.

    python -m bench.instructions                 # RAW, TEMPLATE, DELIVERY; both databases
    python -m bench --only instructions          # the same, as rows of the bench's table
    python -m bench.instructions --backends sqlite --sources RAW --requests 2000

What is counted: every thread of the API process (user space; not the kernel, not the load
generator, not PostgreSQL's processes). Under callgrind the server runs about 40x slower and
its threads take turns; SQLite's groups still gather about 25 sends of the 50 connections, as
at full speed. SHA-256 runs in software under callgrind, so SigV4's hashes weigh more in the
count than in the time. Compare counts with each other (before and after a change), not with
the CPU per request of `python -m bench`. Each count's callgrind file is kept
(`callgrind_annotate FILE` shows where the instructions went).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bench import seed
from bench.loadgen import open_loop
from bench.scenarios import Options, Relay, database, signed_requests
from connectmail.store.store import Store
from tests.support.server import ServerProcess

RESULTS = Path(__file__).with_name("results")


def require_valgrind() -> tuple[str, str]:
    valgrind, control = shutil.which("valgrind"), shutil.which("callgrind_control")
    if valgrind is None or control is None:
        raise SystemExit("valgrind is not installed: `apt-get install valgrind`")
    return valgrind, control


class Callgrind:
    """A process under callgrind with counting off until `on`."""

    def __init__(self, directory: Path) -> None:
        valgrind, self.control = require_valgrind()
        self.out = directory / "callgrind.out"
        self.wrapper = [
            valgrind,
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={self.out}",
        ]

    def _control(self, server: ServerProcess, *args: str) -> None:
        assert server.process is not None
        command = [self.control, *args, str(server.process.pid)]
        subprocess.run(command, check=True, capture_output=True)

    def on(self, server: ServerProcess) -> None:
        self._control(server, "--instr=on")

    def off_and_dump(self, server: ServerProcess) -> tuple[int, Path]:
        """Counting off; the instructions counted, and the file they are in."""
        self._control(server, "--instr=off")
        self._control(server, "--dump")
        # The dump is callgrind.out.1 (the file written at exit, callgrind.out, counts nothing).
        dumped = self.out.with_name(f"{self.out.name}.1")
        totals = [line for line in dumped.read_text().splitlines() if line.startswith("totals:")]
        return int(totals[0].split()[1]), dumped


def count(
    backend: str, source: str, requests: int, warmup: int, connections: int, directory: Path
) -> dict[str, Any]:
    """Instructions per request of `requests` sends after `warmup` uncounted ones; or, with
    source DELIVERY, per email of about `requests` delivered to a loopback relay."""
    if source == "DELIVERY":
        return count_delivery(backend, requests, connections, directory)
    callgrind = Callgrind(directory)
    with database(backend, directory) as url:
        server = ServerProcess(
            directory, ["--database-url", url, "--no-deliver"], wrapper=callgrind.wrapper
        ).start(timeout=300)
        try:
            signed = signed_requests(server, *_seed(server, url, warmup + requests), source)
            rate = 1e9  # as fast as the connections are answered
            open_loop(server.endpoint, signed[:warmup], rate, connections)
            callgrind.on(server)
            open_loop(server.endpoint, signed[warmup:], rate, connections)
            instructions, dumped = callgrind.off_and_dump(server)
        finally:
            server.stop()
    return {
        "requests": requests,
        "instructions": instructions,
        "per_request": round(instructions / requests),
        "callgrind_file": str(dumped),
    }


def count_delivery(backend: str, emails: int, connections: int, directory: Path) -> dict[str, Any]:
    """As `python -m bench`'s delivery: sends accepted with delivery off, then the server
    restarted under callgrind with the relay. Counted from a ninth of the emails' arrivals to
    the ninth before the last (past start-up, before the tail), about `emails` in all."""
    callgrind = Callgrind(directory)
    total = emails * 9 // 7
    with database(backend, directory) as url, Relay(directory) as relay:
        server = ServerProcess(directory, ["--database-url", url, "--no-deliver"]).start()
        try:
            signed = signed_requests(server, *_seed(server, url, total), "RAW")
            open_loop(server.endpoint, signed, 1e9, connections)
        finally:
            server.stop()
        server.args = ["--database-url", url, "--relay", relay.url]
        server.wrapper = callgrind.wrapper
        server.start(timeout=300)
        try:
            # The relay says its count every tenth of a second; counting goes on and off
            # about as long after the count is read each time.
            relay.wait_for(total // 9, timeout=600)
            first = relay.count
            callgrind.on(server)
            relay.wait_for(total - total // 9, timeout=600)
            last = relay.count
            instructions, dumped = callgrind.off_and_dump(server)
        finally:
            server.stop()
    return {
        "requests": last - first,
        "instructions": instructions,
        "per_request": round(instructions / (last - first)),
        "callgrind_file": str(dumped),
    }


def _seed(server: ServerProcess, url: str, contacts: int) -> tuple[seed.Outpost, list[str]]:
    """An instance with a sender address, and `contacts` contacts to send to."""
    store = Store(url)
    try:
        outpost = seed.make_outpost(store, server.account_id)
        ids = seed.add_contacts(store, outpost, contacts)
        seed.settle(store)
    finally:
        store.close()
    return outpost, ids


def count_each(
    backend: str,
    sources: Iterable[str],
    requests: int,
    warmup: int,
    connections: int,
    work: Path,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """`count` for each source in turn, each in a directory of its own under `work`."""
    for source in sources:
        directory = work / f"{backend}-{source}"
        directory.mkdir(parents=True)
        yield source, count(backend, source, requests, warmup, connections, directory)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.instructions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--sources", default="RAW,TEMPLATE,DELIVERY")
    parser.add_argument("--requests", type=int, default=Options.counted_requests)
    parser.add_argument("--warmup", type=int, default=Options.counted_warmup)
    parser.add_argument("--connections", type=int, default=Options.connections)
    parser.add_argument("--work", type=Path, help="where to keep the callgrind files")
    parser.add_argument("--out", type=Path, default=RESULTS / "instructions.json")
    args = parser.parse_args()
    work = args.work or Path(os.environ.get("TMPDIR", "/tmp")) / "connectmail-instructions"
    shutil.rmtree(work, ignore_errors=True)
    report: dict[str, Any] = {
        "command": "python -m " + " ".join(["bench.instructions", *sys.argv[1:]])
    }
    print("| backend | source | instructions per request |")
    print("| --- | --- | --- |")
    for backend in args.backends.split(","):
        sources = args.sources.split(",")
        counts = count_each(backend, sources, args.requests, args.warmup, args.connections, work)
        for source, measured in counts:
            report.setdefault(backend, {})[source] = measured
            print(f"| {backend} | {source} | {measured['per_request']:,} |", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {args.out}; callgrind files under {work}")


if __name__ == "__main__":
    main()
