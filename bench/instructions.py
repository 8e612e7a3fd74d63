"""`python -m bench.instructions`: the API process's instructions per accepted
StartOutboundEmailContact, counted by valgrind's callgrind.

The accept rate and the CPU per request move 10 to 20% from run to run on this machine, and
its speed about 2x from hour to hour; an instruction count does not. The server runs under
callgrind with counting off; pre-signed, unique requests (contacts created beforehand) warm it
up, then counting is switched on (`callgrind_control -i on`), exactly `--requests` more are
sent over `--connections` connections, and counting is switched off and dumped. Two runs of
the same code agree within about 1%.

    python -m bench.instructions                             # RAW and TEMPLATE, both databases
    python -m bench.instructions --backends sqlite --sources RAW --requests 2000

What is counted: every thread of the API process (user space; not the kernel, not wrk, not
PostgreSQL's processes). Under callgrind the server runs about 40x slower and its threads take
turns, so a group gathers most of the connections' requests; per request, a group's fixed cost
weighs less than at full speed with the same connections. Compare counts with each other
(before and after a change), not with the CPU per request of `python -m bench`. Each count's
callgrind file is kept (`callgrind_annotate FILE` shows where the instructions went).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import seed
from bench.loadgen import open_loop
from bench.scenarios import database, signed_requests
from connectmail.store.store import Store
from tests.support.server import ServerProcess

RESULTS = Path(__file__).with_name("results")


def require_valgrind() -> tuple[str, str]:
    valgrind, control = shutil.which("valgrind"), shutil.which("callgrind_control")
    if valgrind is None or control is None:
        raise SystemExit("valgrind is not installed: `apt-get install valgrind`")
    return valgrind, control


def count(
    backend: str, source: str, requests: int, warmup: int, connections: int, directory: Path
) -> dict[str, Any]:
    """Instructions per request of `requests` sends, after `warmup` uncounted ones."""
    valgrind, control = require_valgrind()
    out = directory / "callgrind.out"
    wrapper = [valgrind, "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    with database(backend, directory) as url:
        server = ServerProcess(
            directory, ["--database-url", url, "--no-deliver"], wrapper=wrapper
        ).start(timeout=300)
        assert server.process is not None
        pid = str(server.process.pid)
        try:
            store = Store(url)
            outpost = seed.make_outpost(store, server.account_id)
            ids = seed.add_contacts(store, outpost, warmup + requests)
            seed.settle(store)
            store.close()
            signed = signed_requests(server, outpost, ids, source)
            rate = 1e9  # as fast as the connections are answered
            open_loop(server.endpoint, signed[:warmup], rate, connections)
            subprocess.run([control, "--instr=on", pid], check=True, capture_output=True)
            open_loop(server.endpoint, signed[warmup:], rate, connections)
            subprocess.run([control, "--instr=off", pid], check=True, capture_output=True)
            subprocess.run([control, "--dump", pid], check=True, capture_output=True)
        finally:
            server.stop()
    # The dump is callgrind.out.1 (the file written at exit, callgrind.out, counted nothing).
    dumped = directory / f"{out.name}.1"
    totals = [line for line in dumped.read_text().splitlines() if line.startswith("totals:")]
    instructions = int(totals[0].split()[1])
    return {
        "requests": requests,
        "instructions": instructions,
        "per_request": round(instructions / requests),
        "callgrind_file": str(dumped),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.instructions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--sources", default="RAW,TEMPLATE")
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--connections", type=int, default=50)
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
        for source in args.sources.split(","):
            directory = work / f"{backend}-{source}"
            directory.mkdir(parents=True)
            measured = count(
                backend, source, args.requests, args.warmup, args.connections, directory
            )
            report.setdefault(backend, {})[source] = measured
            print(f"| {backend} | {source} | {measured['per_request']:,} |", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {args.out}; callgrind files under {work}")


if __name__ == "__main__":
    main()
