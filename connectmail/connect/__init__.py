"""Amazon Connect operations: thin handlers registered under their model names."""

from __future__ import annotations

from connectmail.aws import Service, bind, load_service_model
from connectmail.connect.attached_files import AttachedFileHandlers
from connectmail.connect.base import Deps
from connectmail.connect.contact_attributes import ContactAttributeHandlers
from connectmail.connect.contact_updates import ContactUpdateHandlers
from connectmail.connect.contacts import ContactHandlers
from connectmail.connect.email_addresses import EmailAddressHandlers
from connectmail.connect.inbound_email import InboundEmailHandlers
from connectmail.connect.instances import InstanceHandlers
from connectmail.connect.search_contacts import SearchContactsHandlers
from connectmail.connect.tags import TagHandlers
from connectmail.domain.file_urls import FileUrls


def connect_service(deps: Deps) -> Service:
    urls = FileUrls(deps.store, deps.settings.public_url)
    handlers = bind(
        InstanceHandlers(deps),
        EmailAddressHandlers(deps),
        ContactHandlers(deps),
        InboundEmailHandlers(deps, urls),
        SearchContactsHandlers(deps),
        AttachedFileHandlers(deps, urls),
        TagHandlers(deps),
        ContactAttributeHandlers(deps),
        ContactUpdateHandlers(deps),
    )
    return Service(load_service_model("connect"), handlers)


__all__ = ["Deps", "connect_service"]
