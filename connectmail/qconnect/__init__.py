"""Amazon Q in Connect (qconnect, signing name `wisdom`): the message template operations."""

from __future__ import annotations

from connectmail.aws import Service, bind, load_service_model
from connectmail.connect.base import Deps
from connectmail.domain.file_urls import FileUrls
from connectmail.qconnect.knowledge_bases import KnowledgeBaseHandlers
from connectmail.qconnect.message_templates import MessageTemplateHandlers


def qconnect_service(deps: Deps) -> Service:
    urls = FileUrls(deps.store, deps.settings.public_url)
    handlers = bind(KnowledgeBaseHandlers(deps), MessageTemplateHandlers(deps, urls))
    return Service(load_service_model("qconnect"), handlers)


__all__ = ["qconnect_service"]
