"""Several API processes on one port (`serve --workers N`), sharing the database.

Each worker binds the port itself with SO_REUSEPORT, so the kernel spreads new connections
evenly across them; with one shared listening socket the first worker to wake up takes
whole bursts of connections and the others idle. The parent keeps the port reserved, passes
the settings down, restarts a worker that dies once it has served, and stops them all on
SIGTERM or SIGINT. A worker that dies before any has served (the settings or the database
will not let one start) stops them all, with exit status 1: another would die the same way.
A worker whose parent is gone, killed with SIGKILL say, stops itself.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from types import FrameType

import uvicorn

from connectmail.aws.http11 import AwsHttpToolsProtocol
from connectmail.config import Settings
from connectmail.sockets import bind

log = logging.getLogger(__name__)


def uvicorn_config(app: object, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        loop="uvloop",
        # httptools, with its own 400s in AWS's error shape and a bounded request head
        http=type(
            "AwsHttp", (AwsHttpToolsProtocol,), {"head_seconds": settings.request_head_seconds}
        ),
        lifespan="on",
        access_log=False,
        log_level=settings.log_level,
        server_header=False,
        proxy_headers=False,  # nothing here reads the client address from forwarded headers
    )


def hold_sigterm() -> threading.Event:
    """From now until a server or supervisor takes SIGTERM over, remember the first one
    instead of dying of it; the server stops as soon as it has started. (Before, a SIGTERM in
    the second a start takes, its imports and migrations, ended the process as killed, exit
    143.) A second one ends the process as before, for a start that hangs (a database host
    that does not answer)."""
    received = threading.Event()

    def remember(signum: int, frame: FrameType | None) -> None:
        received.set()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    signal.signal(signal.SIGTERM, remember)
    return received


class AppServer(uvicorn.Server):
    """uvicorn's server for `app` on the configured loop (uvloop; `asyncio.run` would not
    be), telling `on_started` once it has started (its lifespan included).

    SIGTERM stops it from when it is made, so one that comes while it starts stops it once
    started. (uvicorn shuts down on SIGTERM, then raises it again under the handler it found:
    the default one ended the process as killed by the signal, exit 143, which scripts and
    service managers read as a failure. Under this one `run` returns, and the process ends
    with 0, as `connectmail worker` does.)"""

    def __init__(
        self,
        app: object,
        settings: Settings,
        on_started: Callable[[], None] = lambda: None,
        *,
        held: threading.Event | None = None,
    ) -> None:
        super().__init__(uvicorn_config(app, settings))
        self._on_started = on_started
        signal.signal(signal.SIGTERM, self._stop)
        if held is not None and held.is_set():  # a SIGTERM while it was being made
            self.should_exit = True

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.should_exit = True

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_started()


def _worker(settings_json: str, port: int, parent: int, started: Event) -> None:
    from connectmail.server import build_application

    # Ctrl-C in a terminal reaches the whole process group; the supervisor stops the workers
    # (SIGTERM). Left to its default, asyncio turned the SIGINT uvicorn raises again once it
    # has shut down into a KeyboardInterrupt: a traceback from each worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_end_with, args=(parent,), name="parent-watch", daemon=True).start()
    settings = Settings.model_validate_json(settings_json)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sock = bind(settings.host, port, reuse_port=True)
    AppServer(build_application(settings), settings, started.set).run(sockets=[sock])


def _end_with(parent: int, every: float = 0.5) -> None:
    """SIGTERM this worker (a clean shutdown) once `parent` is no longer its parent. Killed
    with SIGKILL, the supervisor stops nothing, and its workers would go on serving the port
    with the old settings beside whatever is started next."""
    while os.getppid() == parent:
        time.sleep(every)
    log.warning("the supervisor (process %s) is gone; stopping", parent)
    os.kill(os.getpid(), signal.SIGTERM)


class Supervisor:
    def __init__(self, settings: Settings, port: int, held: threading.Event | None = None) -> None:
        self._settings_json = settings.model_dump_json()
        self._count = settings.workers
        self._port = port
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[BaseProcess] = []
        self._started: list[Event] = []
        self._stopping = False
        # From now on: a signal while the caller announces the server still stops it.
        for each in (signal.SIGTERM, signal.SIGINT):
            signal.signal(each, self._stop)
        if held is not None and held.is_set():  # a SIGTERM while it was being prepared
            self._stopping = True

    def _start_one(self) -> tuple[BaseProcess, Event]:
        started = self._context.Event()
        process = self._context.Process(
            target=_worker,
            args=(self._settings_json, self._port, os.getpid(), started),
            name="connectmail-worker",
        )
        process.start()
        return process, started

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def run(self) -> int:
        """Supervise until SIGTERM or SIGINT (0), or until a worker dies before any has
        served (1): the settings or the database do not let one start."""
        workers = [self._start_one() for _ in range(self._count)]
        self._processes = [process for process, _ in workers]
        self._started = [started for _, started in workers]
        served = failed = False
        while not self._stopping:
            time.sleep(0.2)
            served = served or any(started.is_set() for started in self._started)
            for index, process in enumerate(self._processes):
                if process.is_alive() or self._stopping:
                    continue
                if not served:
                    log.error(
                        "worker %s exited with %s before it served; stopping",
                        process.pid,
                        process.exitcode,
                    )
                    failed = self._stopping = True
                    break
                log.warning(
                    "worker %s exited with %s; starting another", process.pid, process.exitcode
                )
                if not self._started[index].is_set():
                    time.sleep(1)  # it died starting (the database gone?): not in a tight loop
                self._processes[index], self._started[index] = self._start_one()
        for process in self._processes:
            process.terminate()  # SIGTERM: each shuts down cleanly
        for process in self._processes:
            process.join(30)
            if process.is_alive():
                process.kill()
        return 1 if failed else 0
