"""Processes the benchmark runs: connectmail, the references, relays; their memory and CPU."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.support.databases import PG_ADMIN_URL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (uvicorn's workers, say)."""
    found = [pid]
    for each in found:  # grows as it goes
        for task in _listdir(f"/proc/{each}/task"):
            try:
                children = Path(f"/proc/{each}/task/{task}/children").read_text().split()
            except OSError:
                continue
            found += [int(child) for child in children]
    return found


def postgres_processes() -> list[int]:
    """Every PostgreSQL process of the machine: the backends serving connectmail's
    connections and the server's own (WAL writer, checkpointer, background writer)."""
    found = []
    for entry in _listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == "postgres":
                    found.append(int(entry))
            except OSError:
                continue
    return found


@dataclass(frozen=True)
class WalReading:
    """PostgreSQL's checkpoints so far: those requested (by WAL volume past max_wal_size, or
    asked for: CHECKPOINT, CREATE DATABASE) and those timed (checkpoint_timeout); the WAL's
    position in bytes; and the files in its directory (it grows when a backend makes and
    zero-fills a new segment because no recycled one is left, which a committer waits for,
    and shrinks when a checkpoint removes segments it does not keep). Cluster-wide, like its
    CPU above."""

    checkpoints_requested: int
    checkpoints_timed: int
    wal_bytes: int
    wal_files: int

    def since(self, before: WalReading) -> WalReading:
        """What changed from `before` to this reading: the checkpoints in between, the WAL
        written, and the files the directory gained (net)."""
        return WalReading(
            self.checkpoints_requested - before.checkpoints_requested,
            self.checkpoints_timed - before.checkpoints_timed,
            self.wal_bytes - before.wal_bytes,
            self.wal_files - before.wal_files,
        )


def postgres_wal() -> WalReading:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        if admin.info.server_version >= 170000:  # moved to a view of its own in 17
            checkpoints = "SELECT num_requested, num_timed FROM pg_stat_checkpointer"
        else:
            checkpoints = "SELECT checkpoints_req, checkpoints_timed FROM pg_stat_bgwriter"
        found = admin.execute(
            f"SELECT c.*, pg_current_wal_insert_lsn() - '0/0'::pg_lsn,"
            f" (SELECT count(*) FROM pg_ls_waldir()) FROM ({checkpoints}) AS c"
        ).fetchone()
    assert found is not None
    return WalReading(*(int(value) for value in found))


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User and system CPU each process has used so far (its threads included)."""
    used = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        used[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return used


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two `cpu_seconds` readings; a process that started in
    between counts from zero, one that ended is not counted."""
    return sum(used - before.get(pid, 0.0) for pid, used in after.items())


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its descendants (uvicorn workers)."""
    total = 0
    for each in process_tree(pid):
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


@dataclass
class MemoryWatch:
    """Samples a process's RSS in the background."""

    pid: int
    samples: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> MemoryWatch:
        def run() -> None:
            while not self._stop.is_set():
                self.samples.append((time.monotonic(), rss_bytes(self.pid)))
                self._stop.wait(0.25)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def peak(self) -> int:
        return max((rss for _, rss in self.samples), default=0)


@dataclass
class Program:
    """Any other server the benchmark starts (a reference, a relay)."""

    command: list[str]
    ready_url: str | None = None
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None  # where its stderr goes (else nowhere)

    def start(self, stdout: int | None = subprocess.DEVNULL) -> Program:
        if self.log is None:
            self.process = subprocess.Popen(self.command, stdout=stdout, stderr=subprocess.DEVNULL)
        else:
            with self.log.open("wb") as log:
                self.process = subprocess.Popen(self.command, stdout=stdout, stderr=log)
        if self.ready_url:
            wait_http(self.ready_url)
        return self

    def wait_for_log(self, text: str, timeout: float = 60.0) -> None:
        """Until `text` is in its log (it says it is ready)."""
        assert self.log is not None and self.process is not None
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.command} did not log {text!r}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
