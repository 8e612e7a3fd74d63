"""`connectmail worker`: delivery in a process of its own, beside `serve --no-deliver`.

It claims due outbox rows like the in-process worker does (leases keep several workers from
sending the same row), so any number can run against one PostgreSQL, or one beside the API on
SQLite. It finds new mail by polling, every `delivery_poll_seconds`, and claims sooner when
told of it (see delivery.bell): on PostgreSQL it listens for the bell `serve --no-deliver`
rings after accepted mail; on SQLite it watches the database file for commits.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

import uvloop

from connectmail import heap
from connectmail.config import Settings
from connectmail.delivery.bell import BellListener, CommitWatch
from connectmail.delivery.worker import DeliveryWorker
from connectmail.maintenance import Maintenance
from connectmail.server import build_transport
from connectmail.store.database import sqlite_file
from connectmail.store.store import Store

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, store: Store) -> None:
    worker = DeliveryWorker(store, build_transport(settings, store), settings.delivery_policy())
    maintenance = Maintenance(
        store, settings.maintenance_interval_seconds, settings.analyze_interval_seconds
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for each in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(each, stopping.set)
    listener = (
        _commit_watch(store.url, worker.notify)
        if store.sqlite
        else BellListener(store.conninfo, worker.notify)
    )
    worker.start()
    maintenance.start()
    if listener is not None:
        await listener.start()
    heap.settle()
    log.info("delivering from %s", settings.resolved_database_url.split("@")[-1])
    try:
        await stopping.wait()
    finally:
        if listener is not None:
            await listener.stop()
        await worker.stop()
        await maintenance.stop()
        store.close()


def _commit_watch(url: str, wake: Callable[[], None]) -> CommitWatch | None:
    """A watch on the SQLite file of `url`; none for a database in memory (no other process
    can write to it)."""
    path = sqlite_file(url)
    return None if path is None else CommitWatch(path, wake)


def main(settings: Settings, store: Store) -> None:
    """Deliver from `store` (opened and migrated: `Settings.open_store`) until SIGTERM or SIGINT."""
    uvloop.run(run_worker(settings, store))
