"""Several API processes on one port (`serve --workers N`), sharing the database.

Each worker binds the port itself with SO_REUSEPORT, so the kernel spreads new connections
evenly across them; with one shared listening socket the first worker to wake up takes
whole bursts of connections and the others idle. The parent keeps the port reserved, passes
the settings down, restarts a worker that dies, and stops them all on SIGTERM or SIGINT.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from multiprocessing.process import BaseProcess
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
        http=AwsHttpToolsProtocol,  # httptools, with its own 400s in AWS's error shape
        lifespan="on",
        access_log=False,
        log_level=settings.log_level,
        server_header=False,
        proxy_headers=False,  # nothing here reads the client address from forwarded headers
    )


def serve_app(app: object, settings: Settings, sock: socket.socket) -> None:
    server = uvicorn.Server(uvicorn_config(app, settings))
    server.run(sockets=[sock])  # on the configured loop (uvloop); asyncio.run would not be


def _worker(settings_json: str, port: int) -> None:
    from connectmail.server import build_application

    settings = Settings.model_validate_json(settings_json)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sock = bind(settings.host, port, reuse_port=True)
    serve_app(build_application(settings), settings, sock)


class Supervisor:
    def __init__(self, settings: Settings, port: int) -> None:
        self._settings_json = settings.model_dump_json()
        self._count = settings.workers
        self._port = port
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[BaseProcess] = []
        self._stopping = False

    def _start_one(self) -> BaseProcess:
        process = self._context.Process(
            target=_worker, args=(self._settings_json, self._port), name="connectmail-worker"
        )
        process.start()
        return process

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def run(self) -> None:
        for each in (signal.SIGTERM, signal.SIGINT):
            signal.signal(each, self._stop)
        self._processes = [self._start_one() for _ in range(self._count)]
        while not self._stopping:
            time.sleep(0.2)
            for index, process in enumerate(self._processes):
                if not process.is_alive() and not self._stopping:
                    log.warning(
                        "worker %s exited with %s; starting another", process.pid, process.exitcode
                    )
                    self._processes[index] = self._start_one()
        for process in self._processes:
            process.terminate()  # SIGTERM: each shuts down cleanly
        for process in self._processes:
            process.join(30)
            if process.is_alive():
                process.kill()
