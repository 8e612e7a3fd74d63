"""The command line refuses bad settings and failed starts in one line, changing nothing."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from connectmail.config import Settings
from tests.support.cli import connectmail


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--relay", "http://mail.example.com"], "--relay"),
        (["--relay", "smtp://mail.example.com:25?tls=yes"], "--relay"),
        (["--relay", "smtp://mail.example.com:99999"], "--relay"),
        (["--database-url", "garbage"], "--database-url"),
        (["--database-url", "mysql://u@h/db"], "--database-url"),
        # Not shipped: passed the check, then a traceback at start-up.
        (["--database-url", "postgresql+asyncpg://u@h/db"], "--database-url"),
        # In memory: every connection got a database of its own (a traceback at start-up).
        (["--database-url", "sqlite://"], "--database-url"),
        (["--database-url", "sqlite:///:memory:"], "--database-url"),
        (["--port", "-5"], "--port"),
        (["--port", "70000"], "--port"),
        (["--workers", "0"], "--workers"),
        (["--smtp-port", "-1"], "--smtp-port"),
        # Every inbound message was refused, and SIZE -1 advertised.
        (["--max-inbound-message-bytes", "-1"], "--max-inbound-message-bytes"),
        (["--limits", "foo"], "--limits"),
        # Ignored: no SMTP server starts without a port.
        (["--smtp-host", "127.0.0.1"], "--smtp-host"),
    ],
)
def test_bad_serve_settings_are_refused_before_anything_is_written(
    tmp_path: Path, options: list[str], named: str
) -> None:
    data = tmp_path / "data"
    result = connectmail("serve", "--data-dir", str(data), *options, check=False)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Invalid ") and named in line
    assert not data.exists()


@pytest.mark.parametrize("seconds", ["0", "-1"])
def test_worker_needs_a_positive_poll_interval(tmp_path: Path, seconds: str) -> None:
    """At 0 an idle worker looked for due mail without pause, a whole core."""
    result = connectmail(
        "worker", "--data-dir", str(tmp_path), "--poll-seconds", seconds, check=False
    )
    assert result.returncode == 2
    assert "--poll-seconds" in result.stderr and "greater than 0" in result.stderr


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    result = connectmail(
        "serve",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path),
        "--database-url",
        "postgresql://postgres@127.0.0.1:1/nothing",
        check=False,
    )
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Cannot start:") and "Connection refused" in line


@pytest.mark.parametrize(
    "command", [["serve", "--port", "0"], ["accounts", "create"], ["worker"]], ids=" ".join
)
def test_a_database_of_a_newer_connectmail_is_one_line(tmp_path: Path, command: list[str]) -> None:
    """A schema revision this code has no migration for was Alembic's traceback."""
    data = tmp_path / "data"
    Settings(data_dir=data).open_store().close()
    with sqlite3.connect(data / "connectmail.db") as database:
        database.execute("UPDATE alembic_version SET version_num = '0099'")
    result = connectmail(*command, "--data-dir", str(data), check=False)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "schema revision 0099" in line and "a newer connectmail made it" in line
    with sqlite3.connect(data / "connectmail.db") as database:
        assert database.execute("SELECT version_num FROM alembic_version").fetchall() == [("0099",)]


def test_a_data_directory_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = connectmail("serve", "--port", "0", "--data-dir", str(blocker / "data"), check=False)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Cannot start:") and "Not a directory" in line


@pytest.mark.parametrize(
    "command", [["worker"], ["accounts", "create"], ["keys", "create", "--account", "1"]]
)
def test_commands_on_a_servers_database_refuse_a_missing_one(
    tmp_path: Path, command: list[str]
) -> None:
    """A mistyped --data-dir got a new, empty database: a worker delivering from nothing, an
    account no server knew."""
    typo = tmp_path / "typo"
    result = connectmail(*command, "--data-dir", str(typo), check=False)
    assert result.returncode == 1
    assert "No database at" in result.stderr and "start the server once first" in result.stderr
    assert not typo.exists()


def test_a_refused_relay_url_does_not_show_its_password(tmp_path: Path) -> None:
    result = connectmail(
        "serve",
        "--data-dir",
        str(tmp_path),
        "--relay",
        "http://me:s3cret@mail.example.com",
        check=False,
    )
    assert result.returncode == 2
    assert "s3cret" not in result.stderr
    assert "the relay URL must start with smtp:// or smtps://" in result.stderr


@pytest.mark.parametrize(
    "setting",
    [
        {"relay": "smtp://me:s3cret#x@mail.example.com:25"},
        {"database_url": "mysql://me:s3cret@db.example.com/x"},
    ],
)
def test_a_refused_settings_error_does_not_repeat_the_value(setting: dict[str, str]) -> None:
    """Whatever prints the settings' validation error (a log, a traceback) shows no password:
    pydantic repeats the refused input unless told not to."""
    with pytest.raises(ValidationError) as refused:
        Settings(**setting)  # type: ignore[arg-type]
    assert "s3cret" not in str(refused.value)


@pytest.mark.parametrize(
    ("variable", "value", "shown"),
    [
        ("CONNECTMAIL_LIMITS", "bogus", "CONNECTMAIL_LIMITS"),
        ("CONNECTMAIL_DEFAULT_FROM_ADDRESSES", "[not json", "CONNECTMAIL_DEFAULT_FROM_ADDRESSES"),
        # No option sets it: the line names the variable alone.
        ("CONNECTMAIL_RELAY_CONNECTIONS", "abc", "(CONNECTMAIL_RELAY_CONNECTIONS)"),
    ],
)
def test_bad_environment_settings_are_one_line(
    tmp_path: Path, variable: str, value: str, shown: str
) -> None:
    data = tmp_path / "data"
    result = connectmail("serve", "--data-dir", str(data), check=False, env={variable: value})
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Invalid ") and shown in line
    assert not data.exists()


def test_list_settings_may_be_comma_separated(tmp_path: Path) -> None:
    """`CONNECTMAIL_DEFAULT_FROM_ADDRESSES=a@example.com,b@example.com` is what a user writes
    first; JSON works too."""
    script = (
        "from connectmail.config import Settings; "
        "print(Settings().default_from_addresses, Settings().attachment_url_hosts)"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={
            **os.environ,
            "CONNECTMAIL_DEFAULT_FROM_ADDRESSES": "a@example.com, b@example.com",
            "CONNECTMAIL_ATTACHMENT_URL_HOSTS": '["files.example.com"]',
        },
    ).stdout
    assert shown.strip() == "['a@example.com', 'b@example.com'] ['files.example.com']"


@pytest.mark.parametrize(
    ("env", "shown"),
    [
        # uvicorn and logging know other names; either refusing one was a traceback.
        ({"CONNECTMAIL_LOG_LEVEL": "verbose"}, "CONNECTMAIL_LOG_LEVEL"),
        ({"CONNECTMAIL_ACCOUNT_ID": "root"}, "CONNECTMAIL_ACCOUNT_ID"),
        # One of the pair alone was ignored: a root account of its own was generated.
        ({"CONNECTMAIL_ACCESS_KEY_ID": "AKIAEXAMPLEROOT00001"}, "CONNECTMAIL_SECRET_ACCESS_KEY"),
        ({"CONNECTMAIL_SECRET_ACCESS_KEY": "secret"}, "CONNECTMAIL_ACCESS_KEY_ID"),
        ({"CONNECTMAIL_SMTP_HOST": "127.0.0.1"}, "CONNECTMAIL_SMTP_PORT"),
    ],
)
def test_bad_environment_settings_are_refused_before_starting(
    tmp_path: Path, env: dict[str, str], shown: str
) -> None:
    data = tmp_path / "data"
    result = connectmail("serve", "--port", "0", "--data-dir", str(data), check=False, env=env)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Invalid ") and shown in line
    assert not data.exists()


def test_a_database_driver_not_shipped_is_refused(tmp_path: Path) -> None:
    """postgresql+asyncpg passed the check and failed at start-up with a traceback."""
    url = "postgresql+asyncpg://me:s3cret@127.0.0.1/test"
    result = connectmail(
        "serve", "--data-dir", str(tmp_path / "data"), "--database-url", url, check=False
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Invalid database_url (--database-url") and "s3cret" not in line


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_smtp_port_in_use_is_one_line(tmp_path: Path, workers: str) -> None:
    """With --workers each worker died of it with a traceback, after the server had said it
    was listening; alone, the line did not say which port."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = connectmail(
            "serve", "--port", "0", "--data-dir", str(tmp_path), "--smtp-port", str(port),
            "--workers", workers, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"Cannot listen for SMTP on 127.0.0.1:{port}:")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_smtp_host_that_cannot_be_used_is_one_line(tmp_path: Path, workers: str) -> None:
    """An address not on this machine (TEST-NET-1): with --workers and a port picked for the
    workers, the probe for it was a traceback."""
    result = connectmail(
        "serve", "--port", "0", "--data-dir", str(tmp_path), "--smtp-port", "0",
        "--smtp-host", "192.0.2.1", "--workers", workers, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Cannot listen for SMTP on 192.0.2.1:0:")


def test_an_unreadable_policy_is_one_line(tmp_path: Path) -> None:
    """The message was wrapped at the terminal's width, mid-path."""
    missing = tmp_path / ("a-long-directory-name-" * 4) / "policy.json"
    result = connectmail(
        "keys", "create", "--account", "000000000000", "--policy", str(missing), check=False
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"Invalid policy {missing}:")


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["credentials"]])
@pytest.mark.parametrize("kept", [b'{"account_id": "1234', b'{"account_id": "123456789012"}'])
def test_a_damaged_credentials_file_is_one_line(
    tmp_path: Path, command: list[str], kept: bytes
) -> None:
    """Cut short (a full disk) or edited by hand, it was a traceback."""
    (tmp_path / "credentials.json").write_bytes(kept)
    result = connectmail(*command, "--data-dir", str(tmp_path), check=False)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"Cannot read the root credentials in {tmp_path}")


@pytest.mark.parametrize(
    "variable",
    [
        "CONNECTMAIL_DELIVERY_CONCURRENCY",  # 0: no row claimed, nothing ever sent
        "CONNECTMAIL_DELIVERY_LEASE_SECONDS",  # 0: a lease lost as soon as taken
        "CONNECTMAIL_RELAY_CONNECTIONS",  # 0: no connection to send over
        "CONNECTMAIL_RELAY_TIMEOUT_SECONDS",
        "CONNECTMAIL_MAINTENANCE_INTERVAL_SECONDS",  # 0: housekeeping without pause
    ],
)
def test_delivery_numbers_must_be_positive(tmp_path: Path, variable: str) -> None:
    result = connectmail("worker", "--data-dir", str(tmp_path), check=False, env={variable: "0"})
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Invalid ") and f"({variable})" in line
