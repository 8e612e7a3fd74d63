"""The command line's help says what each option takes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_relay_help_shows_the_whole_url_form(command: str) -> None:
    """Square brackets are rich markup in typer's help: unescaped, `[user:pass@]` vanished."""
    shown = subprocess.run(
        [sys.executable, "-m", "connectmail", command, "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "300", "NO_COLOR": "1"},
    ).stdout
    assert "smtp://[user:pass@]host:port[?tls=starttls|implicit|none]" in shown
