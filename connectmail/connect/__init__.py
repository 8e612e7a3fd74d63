"""Amazon Connect operations: thin handlers registered under their model names."""

from __future__ import annotations

from connectmail.aws import Service, bind, load_service_model
from connectmail.connect.base import Deps
from connectmail.connect.contacts import ContactHandlers
from connectmail.connect.email_addresses import EmailAddressHandlers
from connectmail.connect.instances import InstanceHandlers


def connect_service(deps: Deps) -> Service:
    handlers = bind(InstanceHandlers(deps), EmailAddressHandlers(deps), ContactHandlers(deps))
    return Service(load_service_model("connect"), handlers)


__all__ = ["Deps", "connect_service"]
