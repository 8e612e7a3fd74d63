"""Assembly: the store, the services, the delivery worker and the ASGI app, built from settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from connectmail import heap
from connectmail.access.guards import Throttle, authorize
from connectmail.access.key_store import DatabaseKeyStore
from connectmail.access.throttling import PROFILES
from connectmail.admin import PREFIX, AdminApi
from connectmail.aws.api import AwsApi, Guard, Receive, Scope, Send
from connectmail.config import Settings
from connectmail.connect import Deps, connect_service
from connectmail.delivery.bell import OutboxBell
from connectmail.delivery.transports import (
    CaptureTransport,
    RelaySettings,
    SmtpRelayTransport,
    Transport,
)
from connectmail.delivery.worker import DeliveryWorker
from connectmail.domain import accounts
from connectmail.domain.file_urls import PATH_PREFIX, FileUrls
from connectmail.file_transfer import FileTransferApi
from connectmail.inbound import InboundSmtpServer
from connectmail.maintenance import Maintenance
from connectmail.qconnect import qconnect_service
from connectmail.store.store import Store

log = logging.getLogger(__name__)


def build_transport(settings: Settings, store: Store) -> Transport:
    if settings.relay:
        relay = RelaySettings.from_url(settings.relay, timeout=settings.relay_timeout_seconds)
        return SmtpRelayTransport(relay, connections=settings.relay_connections)
    return CaptureTransport(store)


@dataclass
class Application:
    """The ASGI app: /_connectmail/ to the admin endpoints, everything else to the AWS API."""

    settings: Settings
    store: Store
    api: AwsApi
    admin: AdminApi
    worker: DeliveryWorker | None
    root: accounts.Credentials
    root_generated: bool = False
    files: FileTransferApi | None = None
    inbound: InboundSmtpServer | None = None
    maintenance: Maintenance | None = None
    bell: OutboxBell | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self.files is not None and scope["path"].startswith(PATH_PREFIX):
                await self.files.app(scope, receive, send)
            elif scope["path"].startswith(PREFIX + "/"):
                await self.admin.app(scope, receive, send)
            else:
                await self.api(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.worker is not None:
                    self.worker.start()
                if self.maintenance is not None:
                    self.maintenance.start()
                if self.inbound is not None:
                    await self.inbound.start()
                heap.settle()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.store.stop_waiting()
                if self.inbound is not None:
                    await self.inbound.stop()
                if self.worker is not None:
                    await self.worker.stop()
                if self.bell is not None:
                    await self.bell.close()
                if self.maintenance is not None:
                    await self.maintenance.stop()
                self.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def build_application(settings: Settings) -> Application:
    store = settings.open_store()
    root, generated = accounts.root_credentials(
        settings.data_dir, settings.configured_credentials, settings.account_id
    )
    store.write_now(lambda c: accounts.register(c, root, root=True))
    keys = DatabaseKeyStore(store)
    deps = Deps(store=store, settings=settings)
    worker: DeliveryWorker | None = None
    bell: OutboxBell | None = None
    if settings.deliver:
        worker = DeliveryWorker(store, build_transport(settings, store), settings.delivery_policy())
        deps.notify_delivery = worker.notify
    elif not store.sqlite:  # delivery is `connectmail worker`'s: ring for it
        bell = OutboxBell(store.conninfo)
        deps.notify_delivery = bell.ring
    guards: list[Guard] = [authorize]
    profile = PROFILES[settings.limits]
    if profile.operations or profile.default:
        guards.append(Throttle(store, profile))
    api = AwsApi(
        [connect_service(deps), qconnect_service(deps)],
        keys,
        guards=guards,
        max_body_bytes=settings.max_request_bytes,
    )
    admin = AdminApi(store, keys, open_on_loopback=settings.on_loopback)
    files = FileTransferApi(store, FileUrls(store, settings.public_url))
    inbound = None
    if settings.smtp_port is not None:
        inbound = InboundSmtpServer(
            store,
            settings.expiry_policy(),
            host=settings.smtp_host or settings.host,
            port=settings.smtp_port,
            hostname=settings.smtp_hostname,
            max_message_bytes=settings.max_inbound_message_bytes,
            # Several worker processes share the port; the kernel spreads the connections.
            reuse_port=settings.workers > 1,
        )
    return Application(
        settings,
        store,
        api,
        admin,
        worker,
        root,
        generated,
        files=files,
        inbound=inbound,
        maintenance=Maintenance(
            store, settings.maintenance_interval_seconds, settings.analyze_interval_seconds
        ),
        bell=bell,
    )


def prepare(settings: Settings) -> tuple[accounts.Credentials, bool]:
    """What the parent of several workers does once: migrate, make the root credentials."""
    store = settings.open_store()
    try:
        root, generated = accounts.root_credentials(
            settings.data_dir, settings.configured_credentials, settings.account_id
        )
        store.write_now(lambda c: accounts.register(c, root, root=True))
    finally:
        store.close()
    return root, generated
