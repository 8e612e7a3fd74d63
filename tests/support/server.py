"""A real `connectmail serve` process on an ephemeral port, and boto3 clients for it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

REGION = "us-east-1"


@dataclass
class ServerProcess:
    """`connectmail serve` started with `args`; restartable on the same data directory."""

    data_dir: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    # A command the server runs under, as `valgrind ...` (bench.instructions).
    wrapper: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    endpoint: str = ""
    log_path: Path | None = None

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        marker = self.data_dir / "server.json"
        marker.unlink(missing_ok=True)
        self.log_path = self.data_dir / "server.log"
        command = [
            *self.wrapper,
            sys.executable,
            "-m",
            "connectmail",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
            str(self.data_dir),
            *self.args,
        ]
        environment = {**os.environ, "CONNECTMAIL_LOG_LEVEL": "warning", **self.env}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=environment
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"connectmail exited early:\n{self.log()}")
            if marker.exists():
                self.endpoint = json.loads(marker.read_text())["endpoint"]
                if self._healthy():
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"connectmail did not become healthy:\n{self.log()}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/_connectmail/health", timeout=2) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """kill -9: no shutdown, no flushing, as a crash."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None

    def restart(self, args: list[str] | None = None) -> ServerProcess:
        self.stop()
        if args is not None:
            self.args = args
        return self.start()

    def _stored(self) -> dict[str, str]:
        if "CONNECTMAIL_ACCESS_KEY_ID" in self.env:
            return {
                "access_key_id": self.env["CONNECTMAIL_ACCESS_KEY_ID"],
                "secret_access_key": self.env["CONNECTMAIL_SECRET_ACCESS_KEY"],
                "account_id": self.env.get("CONNECTMAIL_ACCOUNT_ID", "000000000000"),
            }
        stored: dict[str, str] = json.loads((self.data_dir / "credentials.json").read_text())
        return stored

    @property
    def credentials(self) -> dict[str, str]:
        stored = self._stored()
        return {
            "aws_access_key_id": stored["access_key_id"],
            "aws_secret_access_key": stored["secret_access_key"],
        }

    @property
    def account_id(self) -> str:
        return self._stored()["account_id"]

    def client(self, service: str = "connect", region: str = REGION, **kwargs: Any) -> Any:
        config = kwargs.pop("config", Config(retries={"max_attempts": 1, "mode": "standard"}))
        credentials = {**self.credentials, **kwargs.pop("credentials", {})}
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            config=config,
            **credentials,
            **kwargs,
        )

    def admin(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(f"{self.endpoint}/_connectmail/{path}", method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def mailbox(self, **filters: str) -> list[dict[str, Any]]:
        query = "&".join(f"{k}={urllib.parse.quote(v)}" for k, v in filters.items())
        return list(self.admin(f"mailbox?{query}")["Messages"])

    def wait_for_mail(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The captured mailbox once it holds `count` messages, or as it is after `timeout`."""
        deadline = time.monotonic() + timeout
        while len(kept := self.mailbox()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return kept


def start_worker(
    data_dir: Path, relay_url: str, *args: str, poll_seconds: float = 0.1
) -> subprocess.Popen[bytes]:
    """`connectmail worker` delivering through `relay_url`, looking for mail every
    `poll_seconds`."""
    command = [sys.executable, "-m", "connectmail", "worker", "--data-dir", str(data_dir)]
    command += ["--relay", relay_url, "--poll-seconds", str(poll_seconds), *args]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    """Stop it as an operator would (SIGTERM); it must exit cleanly."""
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0, worker.stderr.read() if worker.stderr else ""
