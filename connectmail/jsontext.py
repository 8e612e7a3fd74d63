"""JSON text for database columns: compact, sorted, fast."""

from __future__ import annotations

from typing import Any

import orjson


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def loads(text: str | bytes | None) -> Any:
    return None if text is None else orjson.loads(text)
