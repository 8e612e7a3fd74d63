"""The content of a TEMPLATE email (StartOutboundEmailContact): find, fill in, check.

Errors here are Amazon Connect's (the request is Connect's): an unknown knowledge base or
template is ResourceNotFoundException; anything else that keeps the email from being sent
as the template means is InvalidRequestException, a placeholder left without a value
included, so no email ever leaves with a raw `{{...}}` in it.

A large template is not rendered in the send's write: parsing and rendering 2.5 MB of
60,000 tags takes 0.3 s and 0.15 s, which on SQLite would hold every other request's commit
(and the event loop, where the send groups run). The write that finds one answers
RenderOutside instead; the handler renders it in a thread and sends again with the result,
which the next write takes only if it finds the template it was rendered from.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, func, select

from connectmail.domain.outbound import Content, Mailbox
from connectmail.errors import ServiceError, invalid_request, not_found
from connectmail.mail.addresses import checked_text
from connectmail.store import tables_templates as tables
from connectmail.store.prepared import Fetched, Prepared, fetched_row
from connectmail.templates import (
    attachments,
    attributes,
    identifiers,
    knowledge_bases,
    message_templates,
)
from connectmail.templates.identifiers import ACTIVE_VERSION, LATEST, Scope
from connectmail.templates.message_templates import Selected, select_qualifier
from connectmail.templates.rendering import render_content


@dataclass(frozen=True)
class Recipients:
    """Who the email is from and to: the system attributes of the contact."""

    customer: Mailbox
    system: Mailbox


# Content (its JSON text) longer than this is rendered outside the write: 32,000 characters
# of dense tags render in about 2 ms, more than another trip through a write group costs.
RENDERED_OUTSIDE = 32 * 1024


@dataclass(frozen=True)
class Rendered:
    """A template rendered outside the write (see RenderOutside), with what it was rendered
    from: the template, its content and default attributes, and the recipients."""

    inputs: tuple[Any, ...]
    outcome: Content | ServiceError  # what the write gives: the content, or the error


class RenderOutside(Exception):
    """Raised in the write that finds a large template: the request wrote nothing; `render`
    it (in a thread) and send again with what that gives."""

    def __init__(self, selected: Selected, config: dict[str, Any], recipients: Recipients):
        super().__init__(f"message template {selected.template.id} is rendered outside the write")
        self.selected = selected
        self.config = config
        self.recipients = recipients

    def render(self) -> Rendered:
        try:
            outcome: Content | ServiceError = _render(self.selected, self.config, self.recipients)
        except ServiceError as error:
            outcome = error
        return Rendered(_inputs(self.selected, self.recipients), outcome)


def render_email(
    connection: Connection,
    scope: Scope,
    config: dict[str, Any],
    recipients: Recipients,
    rendered: Rendered | None = None,
    *,
    outside: bool = False,
) -> Content:
    """The subject, bodies and headers of TemplatedMessageConfig's template, filled in."""
    selected = _select(connection, scope, config)
    content = render_selected(selected, config, recipients, rendered, outside=outside)
    # Read in the write, whatever rendered the text: they are held until it commits.
    taken = attachments.for_sending(connection, selected)
    return replace(content, attachments=taken) if taken else content


def render_selected(
    selected: Selected,
    config: dict[str, Any],
    recipients: Recipients,
    rendered: Rendered | None = None,
    *,
    outside: bool = False,
) -> Content:
    """`render_email` once the template is found: `rendered` if it was rendered from what
    the write found. Else, with `outside` (a send's write), a large template raises
    RenderOutside; without it (the last try of a send whose template changed under each
    render, or a caller that is not in a write), it is rendered here."""
    if rendered is not None and rendered.inputs == _inputs(selected, recipients):
        if isinstance(rendered.outcome, ServiceError):
            raise rendered.outcome
        return rendered.outcome
    if outside and len(selected.source.content) > RENDERED_OUTSIDE:
        raise RenderOutside(selected, config, recipients)
    return _render(selected, config, recipients)


def _inputs(selected: Selected, recipients: Recipients) -> tuple[Any, ...]:
    """All a rendering depends on besides the request: comparing the texts themselves takes
    a fraction of a millisecond for megabytes, and trusts no stamp to have been kept."""
    template, source = selected.template, selected.source
    return (
        template.id,
        template.channel_subtype,
        source.content,
        source.default_attributes,
        recipients,
    )


def _render(selected: Selected, config: dict[str, Any], recipients: Recipients) -> Content:
    template = selected.template
    if template.channel_subtype != "EMAIL":
        raise invalid_request(
            f"Message template {template.id} is for the {template.channel_subtype} channel, "
            "not EMAIL."
        )
    email = selected.content.get("email") or {}
    body = email.get("body") or {}
    if not email.get("subject"):
        raise invalid_request(f"Message template {template.id} has no subject.")
    if not body.get("html") and not body.get("plainText"):
        raise invalid_request(f"Message template {template.id} has no body.")
    given = config.get("TemplateAttributes") or {}
    context = attributes.merge(
        attributes.from_message_template_attributes(selected.default_attributes),
        _system_context(recipients),
        {"Attributes": {"Custom": dict(given.get("CustomAttributes") or {})}},
        attributes.from_customer_profile(given["CustomerProfileAttributes"])
        if given.get("CustomerProfileAttributes") is not None
        else {},
    )
    rendered = render_content(
        {"email": email},
        context,
        error=lambda problem: invalid_request(f"Message template {template.id}: {problem}"),
    )
    if rendered.missing:
        raise invalid_request(
            f"Message template {template.id} needs values for: {', '.join(rendered.missing)}. "
            "Give them in TemplateAttributes or as the template's default attributes.",
        )
    out = rendered.content["email"]
    subject = checked_text(out["subject"], "The rendered subject")
    if not subject.strip():
        raise invalid_request(f"The subject of message template {template.id} renders empty.")
    headers = tuple(
        (header["name"], checked_text(header["value"], f"The rendered {header['name']} header"))
        for header in out.get("headers") or ()
    )
    out_body = out.get("body") or {}
    return Content(
        subject=subject,
        text=(out_body.get("plainText") or {}).get("content"),
        html=(out_body.get("html") or {}).get("content"),
        headers=headers,
    )


# The API's lookups, run on the driver: every TEMPLATE email makes them.
_KNOWLEDGE_BASE = Prepared(knowledge_bases.FIND)
_TEMPLATE = Prepared(message_templates.FIND)


def _select(connection: Connection, scope: Scope, config: dict[str, Any]) -> Selected:
    knowledge_base_id = identifiers.knowledge_base_id(scope, config["KnowledgeBaseId"])
    knowledge_base = (
        None
        if knowledge_base_id is None
        else _KNOWLEDGE_BASE.record(
            connection,
            {"id": knowledge_base_id, "account_id": scope.account_id, "region": scope.region},
        )
    )
    if knowledge_base is None:
        raise not_found("Knowledge base", config["KnowledgeBaseId"])
    identifier = config["MessageTemplateId"]
    ref = identifiers.template_ref(scope, identifier)
    template: Fetched | None = None
    if ref is not None and ref.knowledge_base_id in (None, knowledge_base.id):
        template = _TEMPLATE.record(
            connection, {"id": ref.template_id, "knowledge_base_id": knowledge_base.id}
        )
    if ref is None or template is None:
        raise not_found("Message template", identifier)
    # Sending uses the active version unless the identifier says otherwise.
    qualifier = ref.qualifier or ACTIVE_VERSION
    if qualifier == ACTIVE_VERSION and template.active_version is None:
        raise invalid_request(
            f"Message template {template.id} has no active version to send; activate one "
            f"(ActivateMessageTemplate) or name a version ({template.id}:N or :{LATEST})."
        )
    try:
        return select_qualifier(connection, template, qualifier)
    except ServiceError as error:
        raise not_found("Message template version", identifier) from error


# The batch's read (domain/send_batch.py): a knowledge base's template and the version that
# would be sent, in one row. Anything but the plain case is left to `_select`, which says
# what is wrong.
_SELECTED = Prepared(
    select(
        *(column.label(f"t_{column.name}") for column in tables.message_templates.c),
        *(column.label(f"v_{column.name}") for column in tables.message_template_versions.c),
    )
    .select_from(
        tables.knowledge_bases.join(
            tables.message_templates,
            tables.message_templates.c.knowledge_base_id == tables.knowledge_bases.c.id,
        ).outerjoin(
            tables.message_template_versions,
            (tables.message_template_versions.c.template_id == tables.message_templates.c.id)
            & (
                tables.message_template_versions.c.version
                == func.coalesce(
                    bindparam("version", type_=Integer), tables.message_templates.c.active_version
                )
            ),
        )
    )
    .where(
        (tables.knowledge_bases.c.id == bindparam("knowledge_base_id"))
        & (tables.knowledge_bases.c.account_id == bindparam("account_id"))
        & (tables.knowledge_bases.c.region == bindparam("region"))
        & (tables.message_templates.c.id == bindparam("template_id"))
    )
)
_DRAFT = 0  # no version has this number: the draft ($LATEST) is sent


def batch_read(scope: Scope, config: dict[str, Any]) -> tuple[Prepared, dict[str, Any]] | None:
    """The read that finds TemplatedMessageConfig's template, if it names one plainly."""
    knowledge_base_id = identifiers.knowledge_base_id(scope, config["KnowledgeBaseId"])
    ref = identifiers.template_ref(scope, config["MessageTemplateId"])
    if knowledge_base_id is None or ref is None:
        return None
    if ref.knowledge_base_id not in (None, knowledge_base_id):
        return None
    qualifier = ref.qualifier or ACTIVE_VERSION
    version: int | None = None  # the active one
    if qualifier == LATEST:
        version = _DRAFT
    elif qualifier != ACTIVE_VERSION:
        version = ref.version
        if version is None or not message_templates.could_be_version(version):
            return None
    params = {
        "knowledge_base_id": knowledge_base_id,
        "account_id": scope.account_id,
        "region": scope.region,
        "template_id": ref.template_id,
        "version": version,
    }
    return _SELECTED, params


def batch_selected(found: Fetched | None, params: dict[str, Any]) -> Selected | None:
    """The template `batch_read` found, or None (nothing, or no such version)."""
    if found is None:
        return None
    template = fetched_row({name[2:]: value for name, value in found.items() if name[:2] == "t_"})
    if params["version"] == _DRAFT:
        return Selected(template)
    if found.v_template_id is None:
        return None
    version = fetched_row({name[2:]: value for name, value in found.items() if name[:2] == "v_"})
    return Selected(template, version)


def _system_context(recipients: Recipients) -> dict[str, Any]:
    system: dict[str, Any] = {
        "CustomerEndpointAddress": recipients.customer.address,
        "SystemEmailAddress": recipients.system.address,
        "SystemEndpointAddress": recipients.system.address,
    }
    if recipients.customer.name:
        system["Name"] = recipients.customer.name
    return {"Attributes": {"System": system}}
