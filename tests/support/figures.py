"""Figures the fault and fuzz tests report (calls tried, faults injected, messages lost).

Each test process appends JSON lines to a file in a directory the controlling pytest process
chose (CONNECTMAIL_TEST_FIGURES); `pytest_terminal_summary` in conftest prints them all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ENVIRONMENT = "CONNECTMAIL_TEST_FIGURES"


def record(test: str, **figures: Any) -> None:
    directory = os.environ.get(ENVIRONMENT)
    if not directory:
        return
    path = Path(directory) / f"{os.getpid()}.jsonl"
    with path.open("a") as handle:
        handle.write(json.dumps({"test": test, **figures}) + "\n")


def collected(directory: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(Path(directory).glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line]
    return rows
