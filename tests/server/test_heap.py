"""Once started, the server's heap is frozen and young collections are rarer (see
`connectmail.heap`): the full collections that walked the start-up heap made the slow tail."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from connectmail import heap
from connectmail.config import Settings
from connectmail.server import build_application


def test_start_up_freezes_the_heap_and_collects_young_objects_less_often(tmp_path: Path) -> None:
    application = build_application(Settings(data_dir=tmp_path, deliver=False))
    threshold = gc.get_threshold()
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[str] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message["type"])
        if message["type"] == "lifespan.startup.complete":
            frozen.append(gc.get_freeze_count())
            young.append(gc.get_threshold()[0])
            inbox.put_nowait({"type": "lifespan.shutdown"})

    frozen: list[int] = []
    young: list[int] = []
    inbox.put_nowait({"type": "lifespan.startup"})
    try:
        asyncio.run(application({"type": "lifespan"}, inbox.get, send))
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert frozen[0] > 10_000  # the service models and everything else built at start-up
    assert young == [heap.YOUNG_GENERATION_THRESHOLD]
