"""Running the `connectmail` command as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def connectmail(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connectmail", *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=60,
    )


def created(*args: str) -> dict[str, Any]:
    """Run a `... create` command and return the JSON it prints."""
    result: dict[str, Any] = json.loads(connectmail(*args).stdout)
    return result
