"""Running the `connectmail` command as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def connectmail(
    *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connectmail", *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def created(*args: str) -> dict[str, Any]:
    """Run a `... create` command and return the JSON it prints."""
    result: dict[str, Any] = json.loads(connectmail(*args).stdout)
    return result
