"""`python -m bench.instructions`: the API process's instructions per accepted
StartOutboundEmailContact, RAW and TEMPLATE, and per email it delivers (DELIVERY), counted by
valgrind's callgrind; and (HISTORY) per RAW send with `--history` contacts already stored, sent
and delivered, as after months (a million by default; the rows are written before the server
is counted), which says whether a send costs more as the store grows.

The accept rate and the CPU per request move 10 to 20% from run to run on this machine, and
its speed about 2x from hour to hour; an instruction count does not. The server runs under
callgrind with counting off; pre-signed, unique requests (contacts created beforehand) warm it
up, then counting is switched on (`callgrind_control -i on`), exactly `--requests` more are
sent over `--connections` connections, and counting is switched off and dumped. One server
counts RAW, TEMPLATE and HISTORY in turn, each with its own warm-up and window; HISTORY's rows
are written once the others are counted. DELIVERY is
measured as `python -m bench` measures delivery: sends accepted with delivery off, then the
server restarted under callgrind with a loopback relay; a seventh of the emails warm it up,
and counting is on from when the rest are made due (held back in the outbox until then)
until the last of them is delivered and recorded. Two runs of the same code agree within about
1% for the sends and 3% for delivery.

    python -m bench.instructions                 # RAW, TEMPLATE, DELIVERY; both databases
    python -m bench --only instructions          # the same, as rows of the bench's table
    python -m bench.instructions --backends sqlite --sources RAW --requests 2000
    python -m bench.instructions --sources RAW,HISTORY

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
import time
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select, update

from bench import seed
from bench.loadgen import open_loop
from bench.scenarios import Options, Relay, database, signed_requests
from connectmail.store.store import Store
from connectmail.store.tables import outbox
from tests.support.server import ServerProcess

RESULTS = Path(__file__).with_name("results")
SENDS = ("RAW", "TEMPLATE", "HISTORY")  # counted by one server, in this order
SOURCES = (*SENDS, "DELIVERY")


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
        self.dumps = 0
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
        # Dumps are callgrind.out.1, .2, ... in turn (the file written at exit, callgrind.out,
        # counts nothing).
        self.dumps += 1
        dumped = self.out.with_name(f"{self.out.name}.{self.dumps}")
        totals = [line for line in dumped.read_text().splitlines() if line.startswith("totals:")]
        return int(totals[0].split()[1]), dumped


def count_sends(
    backend: str,
    sources: Iterable[str],
    requests: int,
    warmup: int,
    connections: int,
    directory: Path,
    history: int = Options.history,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Instructions per request of `requests` sends after `warmup` uncounted ones, for each of
    `sources` (RAW, TEMPLATE, HISTORY), in that order: one server under callgrind counts them
    all, each in a window of its own (a server's start under callgrind takes 10 to 15 s).
    HISTORY is RAW with `history` contacts stored, written once the others are counted."""
    callgrind = Callgrind(directory)
    wanted = [source for source in SENDS if source in sources]
    rate = 1e9  # as fast as the connections are answered
    with database(backend, directory) as url:
        server = ServerProcess(
            directory, ["--database-url", url, "--no-deliver"], wrapper=callgrind.wrapper
        ).start(timeout=300)
        store = Store(url)
        try:
            outpost = seed.make_outpost(store, server.account_id)
            for source in wanted:
                stored = history if source == "HISTORY" else 0
                ids = _contacts(store, outpost, warmup + requests, history=stored)
                kind = "TEMPLATE" if source == "TEMPLATE" else "RAW"
                signed = signed_requests(server, outpost, ids, kind)
                open_loop(server.endpoint, signed[:warmup], rate, connections)
                callgrind.on(server)
                open_loop(server.endpoint, signed[warmup:], rate, connections)
                yield source, _counted(requests, *callgrind.off_and_dump(server))
        finally:
            store.close()
            server.stop()


def count_delivery(backend: str, emails: int, connections: int, directory: Path) -> dict[str, Any]:
    """As `python -m bench`'s delivery: sends accepted with delivery off, then the server
    restarted under callgrind with the relay. A seventh more than `emails` warm it up; the
    `emails` counted are held back in the outbox (due in a day) until counting is on, then made
    due at once, and counting goes off when the last of them has arrived and been recorded.

    Counting between two marks of the relay's count would depend on timing: a claim takes up
    to 64 rows, and on a busy machine all of a smoke run's emails can go out while
    `callgrind_control` is switching counting on."""
    callgrind = Callgrind(directory)
    warmup = max(1, emails // 7)
    with database(backend, directory) as url, Relay(directory) as relay:
        server = ServerProcess(directory, ["--database-url", url, "--no-deliver"]).start()
        store = Store(url)
        try:
            try:
                outpost = seed.make_outpost(store, server.account_id)
                ids = _contacts(store, outpost, warmup + emails)
                signed = signed_requests(server, outpost, ids, "RAW")
                open_loop(server.endpoint, signed, 1e9, connections)
            finally:
                server.stop()
            held = store.write_now(partial(_hold_back, keep=warmup))
            assert held == emails, f"{held} emails held back of {emails}"
            server.args = ["--database-url", url, "--relay", relay.url]
            server.wrapper = callgrind.wrapper
            server.start(timeout=300)
            try:
                relay.wait_for(warmup, timeout=600)
                _wait_for_outbox(store, emails)
                callgrind.on(server)
                store.write_now(_release)
                relay.wait_for(warmup + emails, timeout=600)
                _wait_for_outbox(store, 0)
                counted = _counted(emails, *callgrind.off_and_dump(server))
            finally:
                server.stop()
        finally:
            store.close()
    return counted


def _counted(requests: int, instructions: int, dumped: Path) -> dict[str, Any]:
    return {
        "requests": requests,
        "instructions": instructions,
        "per_request": round(instructions / requests),
        "callgrind_file": str(dumped),
    }


def _hold_back(connection: Connection, keep: int) -> int:
    """Every outbox row but the `keep` oldest due in a day; how many."""
    kept = select(outbox.c.message_id).order_by(outbox.c.due_at).limit(keep).scalar_subquery()
    later = time.time() + 86_400
    held = update(outbox).where(outbox.c.message_id.not_in(kept)).values(due_at=later)
    return connection.execute(held).rowcount


def _release(connection: Connection) -> None:
    connection.execute(update(outbox).values(due_at=time.time()))


def _wait_for_outbox(store: Store, rows: int, timeout: float = 600.0) -> None:
    """Until the outbox holds `rows` rows: the mail before them is out and recorded."""
    deadline = time.monotonic() + timeout
    counted = select(func.count()).select_from(outbox)
    while (left := store.read_now(lambda c: c.execute(counted).scalar_one())) != rows:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the outbox holds {left} rows, not {rows}")
        time.sleep(0.1)


def _contacts(store: Store, outpost: seed.Outpost, contacts: int, history: int = 0) -> list[str]:
    """`history` contacts sent to before (as after months), and `contacts` contacts to send
    to, settled on disk."""
    if history:
        seed.add_history(store, outpost, history)
    ids = seed.add_contacts(store, outpost, contacts)
    seed.settle(store)
    return ids


def count_each(
    backend: str,
    sources: Iterable[str],
    requests: int,
    warmup: int,
    connections: int,
    work: Path,
    history: int = Options.history,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The counts of `sources`: the sends' (RAW, TEMPLATE, HISTORY) with one server, in a
    directory of `work`; then DELIVERY's, in one of its own."""
    sources = list(sources)
    sends = [source for source in sources if source in SENDS]
    if sends:
        directory = work / f"{backend}-sends"
        directory.mkdir(parents=True)
        yield from count_sends(backend, sends, requests, warmup, connections, directory, history)
    if "DELIVERY" in sources:
        directory = work / f"{backend}-DELIVERY"
        directory.mkdir(parents=True)
        yield "DELIVERY", count_delivery(backend, requests, connections, directory)


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
    parser.add_argument(
        "--history", type=int, default=Options.history, help="contacts stored for HISTORY"
    )
    parser.add_argument("--work", type=Path, help="where to keep the callgrind files")
    parser.add_argument("--out", type=Path, default=RESULTS / "instructions.json")
    args = parser.parse_args()
    unknown = set(args.sources.split(",")) - set(SOURCES)
    if unknown:
        parser.error(
            f"unknown sources {', '.join(sorted(unknown))}; choose from {', '.join(SOURCES)}"
        )
    work = args.work or Path(os.environ.get("TMPDIR", "/tmp")) / "connectmail-instructions"
    shutil.rmtree(work, ignore_errors=True)
    report: dict[str, Any] = {
        "command": "python -m " + " ".join(["bench.instructions", *sys.argv[1:]])
    }
    print("| backend | source | instructions per request |")
    print("| --- | --- | --- |")
    for backend in args.backends.split(","):
        sources = args.sources.split(",")
        counts = count_each(
            backend, sources, args.requests, args.warmup, args.connections, work, args.history
        )
        for source, measured in counts:
            report.setdefault(backend, {})[source] = measured
            print(f"| {backend} | {source} | {measured['per_request']:,} |", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {args.out}; callgrind files under {work}")


if __name__ == "__main__":
    main()
