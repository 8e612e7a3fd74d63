"""Housekeeping in the background: forget client tokens past their time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from connectmail.domain.idempotency import purge_expired
from connectmail.store.store import Store

log = logging.getLogger(__name__)


class Maintenance:
    def __init__(self, store: Store, interval_seconds: float) -> None:
        self._store = store
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="maintenance")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                purged = await self._store.write(lambda c: purge_expired(c, time.time()))
                if purged:
                    log.info("forgot %d expired client tokens", purged)
            except Exception:
                log.exception("maintenance failed; trying again later")
