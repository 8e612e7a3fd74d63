"""Every operation connectmail implements, through boto3, the AWS CLI and the JavaScript SDK v3.

One walk (a list of calls, each naming the outcome it expects) runs once through each client,
each in a region of its own so that lists show only its own resources; what each client shows
its user is then compared with what boto3 shows, field by field: identifiers as the order in
which they first appear, times as instants, errors by code, HTTP status and message.

The CLI runs in one process for the whole walk (`python -m tests.aws.test_other_clients_walk`
reads the walk on stdin and calls the CLI's own entry point once per call), and node runs
tests/aws/js/connect.mjs once, so the walk costs two process starts, not a hundred.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

from tests.aws.test_other_clients import js_sdk, run_js, server
from tests.support.server import ServerProcess

__all__ = ["js_sdk", "server"]  # fixtures, used by name

REPO = Path(__file__).resolve().parents[2]
MISSING = "00000000-0000-4000-8000-000000000000"
# A tag key with every character Connect's pattern allows that a query string or path
# encodes: spaces, '+', '=', '/', ':', '@' and letters of other scripts.
ODD_TAG_KEY = "a b+c=d/e:f@g ü"
# A contact's tag keys are ASCII letters and "+-=._:/" only.
CONTACT_TAG_KEY = "team+a=b/c:d"

Call = dict[str, Any]


def connect(op: str, expect: str = "ok", *, as_: str | None = None, **params: Any) -> Call:
    """A call of a Connect operation, expecting "ok" or an error code; `as_` names its
    output for the calls after it ("${name.Member}")."""
    call: Call = {"service": "connect", "op": op, "input": params, "expect": expect}
    if as_ is not None:
        call["as"] = as_
    return call


def qconnect(op: str, expect: str = "ok", *, as_: str | None = None, **params: Any) -> Call:
    return {**connect(op, expect, as_=as_, **params), "service": "qconnect"}


def typed(call: Call, *arguments: str) -> Call:
    """The call as a CLI user types it (its own options, shorthand and lists), not as
    --cli-input-json; the other clients take the call's input."""
    return {**call, "cli": list(arguments)}


def paginated(call: Call, result_key: str) -> Call:
    """The call through each client's paginator, one item a page: every page's items."""
    return {**call, "paginate": result_key}


def email_content(subject: str) -> dict[str, Any]:
    return {
        "email": {
            "subject": subject,
            "body": {
                "html": {"content": "<p>Hello {{Attributes.Customer.FirstName}} ✓</p>"},
                "plainText": {"content": "Hello {{Attributes.Customer.FirstName}}"},
            },
            "headers": [{"name": "X-Walk", "value": "yes"}],
        }
    }


def connect_walk(now: datetime) -> list[Call]:
    """Every Connect operation: instances, addresses, tags, contacts, files, email."""
    instance = {"InstanceId": "${instance.Id}"}
    contact = {**instance, "ContactId": "${contact.ContactId}"}
    file = {**instance, "AssociatedResourceArn": "${contact.ContactArn}"}
    raw = {"MessageSourceType": "RAW"}
    start, end = (now - timedelta(hours=1)).isoformat(), (now + timedelta(hours=1)).isoformat()
    window = {
        "Type": "INITIATION_TIMESTAMP",
        "StartTime": {"$date": start},
        "EndTime": {"$date": end},
    }
    oldest_first = {"FieldName": "INITIATION_TIMESTAMP", "Order": "ASCENDING"}
    return [
        connect(
            "CreateInstance",
            as_="instance",
            IdentityManagementType="CONNECT_MANAGED",
            InstanceAlias="walk{run}",
            InboundCallsEnabled=True,
            OutboundCallsEnabled=True,
            Tags={"team": "walk", "Schlüssel": "値 with spaces"},
        ),
        connect(
            "CreateInstance",
            IdentityManagementType="CONNECT_MANAGED",
            InstanceAlias="walk2{run}",
            InboundCallsEnabled=False,
            OutboundCallsEnabled=True,
        ),
        paginated(connect("ListInstances", as_="instances"), "InstanceSummaryList"),
        connect(
            "CreateInstance",
            "InvalidRequestException",
            IdentityManagementType="CONNECT_MANAGED",
            InstanceAlias="walk{run}",
            InboundCallsEnabled=True,
            OutboundCallsEnabled=True,
        ),
        connect("DescribeInstance", InstanceId="${instance.Arn}"),
        connect("DescribeInstance", "ResourceNotFoundException", InstanceId=MISSING),
        connect("ListInstances", MaxResults=10),
        connect("ListInstances", "InvalidRequestException", MaxResults=11),
        connect(
            "CreateEmailAddress",
            as_="address",
            InstanceId="${instance.Arn}",
            EmailAddress="walk-{run}@example.com",
            DisplayName="Walk Ünï",
            Description="the walk's address",
            Tags={"purpose": "walk"},
        ),
        connect(
            "CreateEmailAddress",
            "DuplicateResourceException",
            **instance,
            EmailAddress="walk-{run}@example.com",
        ),
        connect(
            "CreateEmailAddress",
            as_="alias",
            **instance,
            EmailAddress="walk-alias-{run}@example.com",
        ),
        connect(
            "AssociateEmailAddressAlias",
            **instance,
            EmailAddressId="${address.EmailAddressId}",
            AliasConfiguration={"EmailAddressId": "${alias.EmailAddressArn}"},
        ),
        connect(
            "AssociateEmailAddressAlias",
            "ResourceConflictException",
            **instance,
            EmailAddressId="${alias.EmailAddressId}",
            AliasConfiguration={"EmailAddressId": "${address.EmailAddressId}"},
        ),
        connect("DescribeEmailAddress", **instance, EmailAddressId="${address.EmailAddressArn}"),
        connect(
            "DescribeEmailAddress", "ResourceNotFoundException", **instance, EmailAddressId=MISSING
        ),
        connect(
            "DisassociateEmailAddressAlias",
            **instance,
            EmailAddressId="${address.EmailAddressId}",
            AliasConfiguration={"EmailAddressId": "${alias.EmailAddressId}"},
        ),
        connect(
            "DisassociateEmailAddressAlias",
            "ResourceNotFoundException",
            **instance,
            EmailAddressId="${address.EmailAddressId}",
            AliasConfiguration={"EmailAddressId": "${alias.EmailAddressId}"},
        ),
        connect(
            "SearchEmailAddresses",
            **instance,
            MaxResults=5,
            SearchCriteria={
                "StringCondition": {
                    "FieldName": "EmailAddress",
                    "Value": "walk-{run}@example.com",
                    "ComparisonType": "EXACT",
                }
            },
        ),
        connect(
            "SearchEmailAddresses",
            "InvalidRequestException",
            **instance,
            SearchCriteria={
                "StringCondition": {
                    "FieldName": "EmailAddress",
                    "Value": "x",
                    "ComparisonType": "NOPE",
                }
            },
        ),
        connect(
            "UpdateEmailAddressMetadata",
            **instance,
            EmailAddressId="${address.EmailAddressId}",
            DisplayName="Walk, renamed",
        ),
        connect(
            "UpdateEmailAddressMetadata",
            "ResourceNotFoundException",
            **instance,
            EmailAddressId=MISSING,
            DisplayName="nobody",
        ),
        connect(
            "TagResource",
            resourceArn="${address.EmailAddressArn}",
            tags={ODD_TAG_KEY: "v=1&2", "keep": "me"},
        ),
        connect(
            "TagResource",
            "ResourceNotFoundException",
            resourceArn="${instance.Arn}/email-address/" + MISSING,
            tags={"k": "v"},
        ),
        connect("ListTagsForResource", resourceArn="${address.EmailAddressArn}"),
        connect(
            "ListTagsForResource",
            "ResourceNotFoundException",
            resourceArn="${instance.Arn}/email-address/" + MISSING,
        ),
        typed(
            connect(
                "UntagResource",
                resourceArn="${address.EmailAddressArn}",
                tagKeys=[ODD_TAG_KEY, "nope"],
            ),
            *("--resource-arn", "${address.EmailAddressArn}", "--tag-keys", ODD_TAG_KEY, "nope"),
        ),
        connect(
            "UntagResource",
            "ResourceNotFoundException",
            resourceArn="${instance.Arn}/email-address/" + MISSING,
            tagKeys=["k"],
        ),
        connect(
            "ListTagsForResource", as_="address_tags", resourceArn="${address.EmailAddressArn}"
        ),
        connect(
            "CreateContact",
            as_="contact",
            **instance,
            Channel="EMAIL",
            InitiationMethod="OUTBOUND",
            UserInfo={"UserId": "agent-1"},
            Attributes={"order": "42"},
        ),
        connect(
            "CreateContact",
            "InvalidRequestException",
            **instance,
            Channel="EMAIL",
            InitiationMethod="NOPE",
        ),
        connect("DescribeContact", InstanceId="${instance.Arn}", ContactId="${contact.ContactArn}"),
        connect("DescribeContact", "ResourceNotFoundException", **instance, ContactId=MISSING),
        connect("UpdateContact", **contact, Name="Walk ✓", Description="walked"),
        connect(
            "UpdateContact", "ResourceNotFoundException", **instance, ContactId=MISSING, Name="x"
        ),
        connect("TagContact", **contact, Tags={CONTACT_TAG_KEY: "v w", "keep": "me"}),
        connect(
            "TagContact", "ResourceNotFoundException", **instance, ContactId=MISSING, Tags={"k": ""}
        ),
        typed(
            connect("UntagContact", **contact, TagKeys=[CONTACT_TAG_KEY, "nope"]),
            *("--instance-id", "${instance.Id}", "--contact-id", "${contact.ContactId}"),
            *("--tag-keys", CONTACT_TAG_KEY, "nope"),
        ),
        connect(
            "UntagContact",
            "ResourceNotFoundException",
            **instance,
            ContactId=MISSING,
            TagKeys=["k"],
        ),
        connect("AssociateContactWithUser", **contact, UserId="agent-2"),
        connect(
            "AssociateContactWithUser",
            "ResourceNotFoundException",
            **instance,
            ContactId=MISSING,
            UserId="agent-2",
        ),
        connect("ListAssociatedContacts", **contact, MaxResults=5),
        connect(
            "ListAssociatedContacts", "ResourceNotFoundException", **instance, ContactId=MISSING
        ),
        connect("DescribeContact", as_="described", **contact),
        connect(
            "UpdateContactAttributes",
            **instance,
            InitialContactId="${contact.ContactId}",
            Attributes={"order": "43", "note": "ünï & more"},
        ),
        connect(
            "UpdateContactAttributes",
            "ResourceNotFoundException",
            **instance,
            InitialContactId=MISSING,
            Attributes={"k": "v"},
        ),
        connect(
            "GetContactAttributes",
            as_="attributes",
            **instance,
            InitialContactId="${contact.ContactId}",
        ),
        connect(
            "GetContactAttributes",
            "ResourceNotFoundException",
            **instance,
            InitialContactId=MISSING,
        ),
        connect(
            "StartAttachedFileUpload",
            as_="file",
            **file,
            FileName="notes ü.txt",
            FileSizeInBytes=5,
            FileUseCaseType="ATTACHMENT",
            UrlExpiryInSeconds=300,
            Tags={"kind": "notes"},
        ),
        connect(
            "StartAttachedFileUpload",
            "InvalidRequestException",
            **file,
            FileName="setup.exe",
            FileSizeInBytes=5,
            FileUseCaseType="ATTACHMENT",
        ),
        connect(
            "CompleteAttachedFileUpload",
            "InvalidRequestException",  # nothing uploaded yet
            **file,
            FileId="${file.FileId}",
        ),
        {
            "upload": "${file.UploadUrlMetadata.Url}",
            "body": "hello",
            "headers": {"Content-Type": "${file.UploadUrlMetadata.HeadersToInclude.Content-Type}"},
            "expect": "ok",
        },
        connect("CompleteAttachedFileUpload", **file, FileId="${file.FileId}"),
        typed(
            connect(
                "GetAttachedFile",
                **file,
                FileId="${file.FileId}",
                UrlExpiryInSeconds=60,
                UrlContentDisposition="INLINE",
            ),
            *("--instance-id", "${instance.Id}", "--file-id", "${file.FileId}"),
            *("--associated-resource-arn", "${contact.ContactArn}"),
            *("--url-expiry-in-seconds", "60", "--url-content-disposition", "INLINE"),
        ),
        connect("GetAttachedFile", "ResourceNotFoundException", **file, FileId=MISSING),
        connect("BatchGetAttachedFileMetadata", **file, FileIds=["${file.FileId}", MISSING]),
        connect(
            "BatchGetAttachedFileMetadata",
            "ResourceNotFoundException",
            InstanceId=MISSING,
            AssociatedResourceArn="${contact.ContactArn}",
            FileIds=["${file.FileId}"],
        ),
        connect(
            "StartAttachedFileUpload",
            as_="scratch",
            **file,
            FileName="scratch.pdf",
            FileSizeInBytes=3,
            FileUseCaseType="ATTACHMENT",
        ),
        connect("DeleteAttachedFile", **file, FileId="${scratch.FileId}"),
        connect("DeleteAttachedFile", "ResourceNotFoundException", **file, FileId=MISSING),
        connect(
            "UpdateOutboundEmailContactMessage",
            **contact,
            EmailMessage={
                **raw,
                "RawMessage": {"Body": "<p>Draft ✓</p>", "ContentType": "text/html"},
            },
        ),
        connect(
            "UpdateOutboundEmailContactMessage",
            "ResourceNotFoundException",
            **instance,
            ContactId=MISSING,
            EmailMessage={**raw, "RawMessage": {"Body": "b", "ContentType": "text/plain"}},
        ),
        connect(
            "StartOutboundEmailContact",
            **contact,
            FromEmailAddress={"EmailAddress": "walk-{run}@example.com"},
            DestinationEmailAddress={"EmailAddress": "jane@example.org", "DisplayName": "Jane Ü"},
            EmailMessage={
                **raw,
                "RawMessage": {
                    "Subject": "Your order — shipped ✓",
                    "Body": "<p>Hi</p>",
                    "ContentType": "text/html",
                },
            },
        ),
        connect(
            "StartOutboundEmailContact",
            "ResourceNotFoundException",
            **instance,
            ContactId=MISSING,
            DestinationEmailAddress={"EmailAddress": "jane@example.org"},
            EmailMessage={
                **raw,
                "RawMessage": {"Subject": "s", "Body": "b", "ContentType": "text/plain"},
            },
        ),
        # After the send: the JavaScript SDK has no command for the draft before it.
        connect("ListContactReferences", **contact, ReferenceTypes=["EMAIL_MESSAGE", "ATTACHMENT"]),
        connect(
            "StartEmailContact",
            as_="inbound",
            **instance,
            FromEmailAddress={"EmailAddress": "customer@example.org", "DisplayName": "Cus Tomer"},
            DestinationEmailAddress="walk-{run}@example.com",
            EmailMessage={
                **raw,
                "RawMessage": {
                    "Subject": "Where is it?",
                    "Body": "Hi",
                    "ContentType": "text/plain",
                },
            },
            Attributes={"source": "walk"},
        ),
        connect(
            "StartEmailContact",
            "InvalidRequestException",
            **instance,
            FromEmailAddress={"EmailAddress": "customer@example.org"},
            DestinationEmailAddress="nobody-{run}@example.com",
            EmailMessage={
                **raw,
                "RawMessage": {"Subject": "s", "Body": "b", "ContentType": "text/plain"},
            },
        ),
        connect(
            "ListContactReferences",
            **instance,
            ContactId="${inbound.ContactId}",
            ReferenceTypes=["EMAIL_MESSAGE", "ATTACHMENT"],
        ),
        connect(
            "ListContactReferences",
            "ResourceNotFoundException",
            **instance,
            ContactId=MISSING,
            ReferenceTypes=["EMAIL_MESSAGE"],
        ),
        typed(
            connect(
                "SearchContacts", **instance, TimeRange=window, Sort=oldest_first, MaxResults=10
            ),
            *("--instance-id", "${instance.Id}", "--max-results", "10"),
            *("--time-range", f"Type=INITIATION_TIMESTAMP,StartTime={start},EndTime={end}"),
            *("--sort", "FieldName=INITIATION_TIMESTAMP,Order=ASCENDING"),
        ),
        paginated(
            connect("SearchContacts", **instance, TimeRange=window, Sort=oldest_first), "Contacts"
        ),
        connect(
            "SearchContacts",
            "ResourceNotFoundException",
            InstanceId=MISSING,
            TimeRange={
                "Type": "INITIATION_TIMESTAMP",
                "StartTime": {"$date": (now - timedelta(hours=1)).isoformat()},
                "EndTime": {"$date": now.isoformat()},
            },
        ),
        connect("StopContact", **instance, ContactId="${inbound.ContactId}"),
        connect("StopContact", "ContactNotFoundException", **instance, ContactId=MISSING),
        connect("DeleteEmailAddress", **instance, EmailAddressId="${address.EmailAddressId}"),
        connect(
            "DeleteEmailAddress",
            "ResourceNotFoundException",
            **instance,
            EmailAddressId="${address.EmailAddressId}",
        ),
        connect("DeleteInstance", InstanceId="${instance.Id}"),
        connect("DeleteInstance", "ResourceNotFoundException", InstanceId="${instance.Id}"),
    ]


def qconnect_walk() -> list[Call]:
    """Every Amazon Q in Connect operation: knowledge bases, templates, versions, tags."""
    kb = {"knowledgeBaseId": "${kb.knowledgeBase.knowledgeBaseId}"}
    template = {**kb, "messageTemplateId": "${template.messageTemplate.messageTemplateId}"}
    template_arn = "${template.messageTemplate.messageTemplateArn}"
    unknown_template = {**kb, "messageTemplateId": MISSING}
    orders = {
        "queries": [{"name": "name", "values": ["ORDER"], "operator": "CONTAINS"}],
        "filters": [{"name": "channelSubtype", "values": ["EMAIL"], "operator": "EQUALS"}],
        "orderOnField": {"name": "name", "order": "ASC"},
    }
    return [
        qconnect(
            "CreateKnowledgeBase",
            as_="kb",
            name="walk-{run}",
            knowledgeBaseType="MESSAGE_TEMPLATES",
            description="the walk's templates",
            tags={"team": "walk"},
        ),
        qconnect(
            "CreateKnowledgeBase",
            "ValidationException",
            name="walk-external-{run}",
            knowledgeBaseType="EXTERNAL",
        ),
        qconnect("GetKnowledgeBase", knowledgeBaseId="${kb.knowledgeBase.knowledgeBaseArn}"),
        qconnect("CreateKnowledgeBase", name="walk-2-{run}", knowledgeBaseType="MESSAGE_TEMPLATES"),
        paginated(qconnect("ListKnowledgeBases"), "knowledgeBaseSummaries"),
        qconnect("GetKnowledgeBase", "ResourceNotFoundException", knowledgeBaseId=MISSING),
        qconnect("ListKnowledgeBases", maxResults=10),
        qconnect("ListKnowledgeBases", "ValidationException", maxResults=101),
        qconnect(
            "CreateMessageTemplate",
            as_="template",
            knowledgeBaseId="${kb.knowledgeBase.knowledgeBaseArn}",
            name="Order shipped",
            channelSubtype="EMAIL",
            content=email_content("Shipped, {{Attributes.Customer.FirstName}}"),
            description="sent when an order ships",
            language="en_US",
            defaultAttributes={"customerProfileAttributes": {"firstName": "friend"}},
            groupingConfiguration={"criteria": "RoutingProfileArns", "values": ["a", "b"]},
            tags={"kind": "order"},
        ),
        qconnect(
            "CreateMessageTemplate",
            "ConflictException",
            **kb,
            name="Order shipped",
            channelSubtype="EMAIL",
            content=email_content("again"),
        ),
        qconnect(
            "CreateMessageTemplate",
            as_="second",
            **kb,
            name="Order delayed",
            channelSubtype="EMAIL",
            content=email_content("Delayed"),
        ),
        qconnect("GetMessageTemplate", **template),
        qconnect("GetMessageTemplate", "ResourceNotFoundException", **unknown_template),
        qconnect(
            "UpdateMessageTemplate",
            **template,
            content=email_content("Shipped ✓, {{Attributes.Customer.FirstName}}"),
        ),
        qconnect(
            "UpdateMessageTemplate",
            "ResourceNotFoundException",
            **unknown_template,
            content=email_content("x"),
        ),
        qconnect(
            "UpdateMessageTemplateMetadata",
            **template,
            description="sent once an order has shipped",
        ),
        qconnect(
            "UpdateMessageTemplateMetadata",
            "ResourceNotFoundException",
            **unknown_template,
            description="x",
        ),
        qconnect(
            "CreateMessageTemplateAttachment",
            as_="attachment",
            **template,
            contentDisposition="ATTACHMENT",
            name="Terms & conditions.pdf",
            body=base64.b64encode("%PDF-1.4 walk ✓".encode()).decode(),
        ),
        qconnect(
            "CreateMessageTemplateAttachment",
            "ConflictException",
            **template,
            contentDisposition="ATTACHMENT",
            name="Terms & conditions.pdf",
            body=base64.b64encode("%PDF-1.4 walk ✓".encode()).decode(),
        ),
        qconnect("CreateMessageTemplateVersion", **template),
        qconnect(
            "CreateMessageTemplateVersion",
            "ConflictException",
            **template,
            messageTemplateContentSha256="0" * 64,
        ),
        qconnect("UpdateMessageTemplate", **template, content=email_content("Shipped, v2")),
        qconnect("CreateMessageTemplateVersion", **template),
        qconnect(
            "DeleteMessageTemplateAttachment",
            **template,
            attachmentId="${attachment.attachment.attachmentId}",
        ),
        qconnect(
            "DeleteMessageTemplateAttachment",
            "ResourceNotFoundException",
            **template,
            attachmentId="${attachment.attachment.attachmentId}",
        ),
        qconnect("ListMessageTemplateVersions", **template, maxResults=5),
        paginated(
            qconnect("ListMessageTemplateVersions", **template), "messageTemplateVersionSummaries"
        ),
        qconnect("ListMessageTemplateVersions", "ResourceNotFoundException", **unknown_template),
        typed(
            qconnect("ActivateMessageTemplate", **template, versionNumber=1),
            *("--knowledge-base-id", "${kb.knowledgeBase.knowledgeBaseId}"),
            *("--message-template-id", "${template.messageTemplate.messageTemplateId}"),
            *("--version-number", "1"),
        ),
        qconnect(
            "ActivateMessageTemplate", "ResourceNotFoundException", **template, versionNumber=9
        ),
        # Qualifiers in the label: ':' and '$' percent-encoded by the clients.
        qconnect(
            "GetMessageTemplate",
            **kb,
            messageTemplateId="${template.messageTemplate.messageTemplateId}:$ACTIVE_VERSION",
        ),
        qconnect("GetMessageTemplate", **kb, messageTemplateId=template_arn + ":1"),
        qconnect(
            "RenderMessageTemplate",
            as_="rendered",
            **kb,
            messageTemplateId="${template.messageTemplate.messageTemplateId}:1",
            attributes={
                "customerProfileAttributes": {"firstName": "Jane"},
                "customAttributes": {"order": "42"},
            },
        ),
        qconnect(
            "RenderMessageTemplate",
            "ResourceNotFoundException",
            **kb,
            messageTemplateId=MISSING + ":1",
            attributes={},
        ),
        qconnect("ListMessageTemplates", as_="page", **kb, maxResults=1),
        qconnect("ListMessageTemplates", **kb, maxResults=1, nextToken="${page.nextToken}"),
        qconnect("ListMessageTemplates", "ValidationException", **kb, nextToken="not a token"),
        paginated(
            qconnect("ListMessageTemplates", as_="templates", **kb), "messageTemplateSummaries"
        ),
        qconnect("SearchMessageTemplates", **kb, searchExpression=orders, maxResults=5),
        paginated(qconnect("SearchMessageTemplates", **kb, searchExpression=orders), "results"),
        qconnect(
            "SearchMessageTemplates",
            "ValidationException",
            **kb,
            searchExpression={
                "queries": [{"name": "content", "values": ["x"], "operator": "CONTAINS"}]
            },
        ),
        qconnect("DeactivateMessageTemplate", **template, versionNumber=1),
        qconnect("DeactivateMessageTemplate", "ConflictException", **template, versionNumber=1),
        qconnect("TagResource", resourceArn=template_arn, tags={ODD_TAG_KEY: "v", "keep": "me"}),
        qconnect(
            "TagResource",
            "ResourceNotFoundException",
            resourceArn="${kb.knowledgeBase.knowledgeBaseArn}x",
            tags={"k": "v"},
        ),
        qconnect("ListTagsForResource", resourceArn=template_arn),
        typed(
            qconnect("UntagResource", resourceArn=template_arn, tagKeys=[ODD_TAG_KEY, "kind"]),
            *("--resource-arn", template_arn, "--tag-keys", ODD_TAG_KEY, "kind"),
        ),
        qconnect(
            "UntagResource",
            "ResourceNotFoundException",
            resourceArn="${kb.knowledgeBase.knowledgeBaseArn}x",
            tagKeys=["k"],
        ),
        qconnect("ListTagsForResource", as_="template_tags", resourceArn=template_arn),
        qconnect(
            "ListTagsForResource",
            "ResourceNotFoundException",
            resourceArn="${kb.knowledgeBase.knowledgeBaseArn}x",
        ),
        qconnect("DeleteMessageTemplate", **template),
        qconnect("DeleteMessageTemplate", "ResourceNotFoundException", **template),
        qconnect("DeleteKnowledgeBase", **kb),
        qconnect("DeleteKnowledgeBase", "ResourceNotFoundException", **kb),
    ]


# -- running a walk ------------------------------------------------------------------------

_WHOLE = re.compile(r"\$\{([^}]+)\}\Z")
_PART = re.compile(r"\$\{([^}]+)\}")


class Resolver:
    """Fills a call's "${name.Path}" references from the outputs of the calls before it."""

    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []
        self.named: dict[str, dict[str, Any]] = {}

    def add(self, call: Call, result: dict[str, Any]) -> None:
        self.results.append(result)
        if "as" in call:
            self.named[call["as"]] = result

    def lookup(self, reference: str) -> Any:
        head, *path = reference.split(".")
        found = self.results[int(head)] if head.isdigit() else self.named.get(head)
        value = (found or {}).get("output")
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def __call__(self, value: Any, date: Any = lambda text: text) -> Any:
        if isinstance(value, str):
            whole = _WHOLE.match(value)
            if whole:
                return self.lookup(whole[1])
            return _PART.sub(lambda found: str(self.lookup(found[1])), value)
        if isinstance(value, list):
            return [self(item, date) for item in value]
        if isinstance(value, dict):
            if list(value) == ["$date"]:
                return date(value["$date"])
            return {key: self(item, date) for key, item in value.items()}
        return value


def upload(resolve: Resolver, call: Call) -> dict[str, Any]:
    request = urllib.request.Request(
        resolve(call["upload"]),
        data=call["body"].encode(),
        headers=resolve(call.get("headers", {})),
        method="PUT",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return {"ok": True, "output": {"status": response.status}}


def run_boto3(server: ServerProcess, region: str, calls: list[Call]) -> list[dict[str, Any]]:
    clients = {name: server.client(name, region=region) for name in ("connect", "qconnect")}
    resolve = Resolver()
    for call in calls:
        if "upload" in call:
            result = upload(resolve, call)
        else:
            params = resolve(call["input"], datetime.fromisoformat)
            client = clients[call["service"]]
            try:
                if "paginate" in call:
                    pages = client.get_paginator(xform_name(call["op"])).paginate(
                        **params, PaginationConfig={"PageSize": 1}
                    )
                    key = call["paginate"]
                    output = {key: [item for page in pages for item in page.get(key, [])]}
                else:
                    output = getattr(client, xform_name(call["op"]))(**params)
                    output.pop("ResponseMetadata", None)
                result = {"ok": True, "output": output}
            except ClientError as error:
                response = dict(error.response)
                status = response.pop("ResponseMetadata")["HTTPStatusCode"]
                code, message = response.pop("Error")["Code"], error.response["Error"]["Message"]
                result = {
                    "ok": False,
                    "name": code,
                    "status": status,
                    "message": message,
                    "fields": response,
                }
        resolve.add(call, result)
    return resolve.results


def run_cli(server: ServerProcess, region: str, calls: list[Call]) -> list[dict[str, Any]]:
    """The walk through the AWS CLI, in one process (see `_cli_main`)."""
    environment = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": server.credentials["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": server.credentials["aws_secret_access_key"],
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_PAGER": "",
        "AWS_MAX_ATTEMPTS": "1",
    }
    spec = {"endpoint": server.endpoint, "region": region, "calls": calls}
    done = subprocess.run(
        [sys.executable, "-m", "tests.aws.test_other_clients_walk"],
        input=json.dumps(spec),
        env=environment,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


_CLI_ERROR = re.compile(
    r"An error occurred \((?P<name>[^)]*)\) when calling the \w+ operation"
    r"(?: \(reached max retries: \d+\))?: (?P<message>.*)\Z",
    re.DOTALL,
)


def _cli_main() -> None:
    """Run a walk through the AWS CLI's own entry point, as `aws SERVICE OPERATION
    --cli-input-json ...` would, one driver for all calls; print what the user saw."""
    from awscli.clidriver import create_clidriver  # type: ignore[import-untyped]

    spec = json.load(sys.stdin)
    driver = create_clidriver()
    options = ["--endpoint-url", spec["endpoint"], "--region", spec["region"], "--output", "json"]
    resolve = Resolver()
    for call in spec["calls"]:
        if "upload" in call:
            result = upload(resolve, call)
            resolve.add(call, result)
            continue
        command = [call["service"], xform_name(call["op"], "-")]
        if "cli" in call:  # the CLI's own options, as a user types them
            arguments = [resolve(argument) for argument in call["cli"]]
        else:
            arguments = ["--cli-input-json", json.dumps(resolve(call["input"]))]
        # One page per call, as boto3 and the JavaScript SDK answer; or, for a paginated
        # call, the CLI's own pagination: every page, one item a page, merged.
        arguments += ["--page-size", "1"] if "paginate" in call else ["--no-paginate"]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = driver.main([*command, *arguments, *options])
        if code == 0:
            text = out.getvalue()
            result = {"ok": True, "output": json.loads(text) if text.strip() else {}}
        else:
            found = _CLI_ERROR.search(err.getvalue().strip())
            result = {"ok": False, "code": code, "stderr": err.getvalue()}
            if found:
                result.update(name=found["name"], message=found["message"])
        resolve.add(call, result)
    json.dump(resolve.results, sys.stdout)


# -- comparing what the users saw ----------------------------------------------------------

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)\Z")
_URL_TOKEN = re.compile(r"([?&]token=)[^&]+")
# Two clients' walks run seconds apart: a time in one is "the same" as a time in the other if
# both are as long after their walk's start, give or take this.
SAME_INSTANT_SECONDS = 20.0


class Instant:
    """A time a client showed, as seconds after its walk started; equal to another within
    SAME_INSTANT_SECONDS, so that two walks' times compare."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Instant) and abs(self.offset - other.offset) <= SAME_INSTANT_SECONDS
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Instant(+{self.offset:.3f}s)"


def epoch(value: Any) -> float:
    """A time as boto3 (datetime), the CLI (the wire's epoch seconds or text) or the
    JavaScript SDK (ISO 8601 text) shows it."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value)
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    raise TypeError(f"not a time: {value!r}")


@dataclass
class Walk:
    """One client's walk: its region, its run's suffix, when it started and what it saw."""

    region: str
    run: str
    started: float
    results: list[dict[str, Any]]


class Normalizer:
    """What a client showed, with what differs between walks made comparable: identifiers
    numbered in order of appearance, the region and the run's suffix named, times as
    Instants, opaque page tokens and URL signatures blanked. Members in `unknown` (shape,
    member) are left out: those a client's model does not have yet."""

    def __init__(self, walk: Walk, unknown: frozenset[tuple[str, str]] = frozenset()) -> None:
        session = botocore.session.get_session()
        self.models = {name: session.get_service_model(name) for name in ("connect", "qconnect")}
        self.walk = walk
        self.unknown = unknown
        self.ids: dict[str, str] = {}

    def text(self, value: str) -> Any:
        if _ISO_TIME.match(value):
            return Instant(epoch(value) - self.walk.started)
        value = value.replace(self.walk.region, "<region>").replace(self.walk.run, "<run>")
        value = _URL_TOKEN.sub(r"\1<token>", value)
        return _UUID.sub(lambda found: self.ids.setdefault(found[0], f"<id{len(self.ids)}>"), value)

    def value(self, value: Any, shape: Any, name: str = "") -> Any:
        kind = shape.type_name if shape is not None else None
        if name.lower() == "nexttoken" and value is not None:
            return "<token>"
        if kind == "timestamp":
            return Instant(epoch(value) - self.walk.started)
        if kind == "blob":
            return base64.b64encode(value).decode() if isinstance(value, bytes) else value
        if isinstance(value, dict):
            members = shape.members if kind == "structure" else {}
            inner = shape.value if kind == "map" else None
            return {
                self.text(key): self.value(value[key], members.get(key, inner), key)
                for key in sorted(value)
                if kind != "structure" or (shape.name, key) not in self.unknown
            }
        if isinstance(value, list):
            item = shape.member if kind == "list" else None
            return [self.value(entry, item) for entry in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def result(self, call: Call, result: dict[str, Any]) -> dict[str, Any]:
        if "upload" in call:
            return result
        if result["ok"]:
            shape = self.models[call["service"]].operation_model(call["op"]).output_shape
            output = result["output"]
            if "paginate" in call:  # the items, without what the CLI adds (TotalCount)
                key = call["paginate"]
                return {"ok": True, key: self.value(output.get(key), shape.members[key])}
            return {"ok": True, "output": self.value(output, shape)}
        seen = {"error": result.get("name"), "message": self.text(result.get("message") or "")}
        if "status" in result:
            seen["status"] = result["status"]
        if "fields" in result:
            fields = {k: v for k, v in result["fields"].items() if k.lower() != "message"}
            seen["fields"] = self.value(fields, None)
        if "stderr" in result and result.get("name") is None:
            seen["stderr"] = result["stderr"]
        return seen

    def __call__(self, calls: list[Call]) -> list[dict[str, Any]]:
        return [self.result(c, r) for c, r in zip(calls, self.walk.results, strict=True)]


def differences(
    calls: list[Call],
    reference: Walk,
    other: Walk,
    *,
    errors: tuple[str, ...],
    unknown: frozenset[tuple[str, str]] = frozenset(),
    missing: frozenset[str] = frozenset(),
) -> list[tuple[int, str, Any, Any]]:
    """The calls whose results differ: (index, operation, boto3's, the other client's); of an
    error, only `errors`' parts are compared (the CLI shows no HTTP status); the members in
    `unknown` (shape, member) are compared in neither, nor the calls of operations in
    `missing`, which the other client does not have."""
    expected, seen = Normalizer(reference, unknown)(calls), Normalizer(other, unknown)(calls)
    found = []
    for index, (call, mine, theirs) in enumerate(zip(calls, expected, seen, strict=True)):
        if call.get("op") in missing:
            continue
        if "error" in mine and "error" in theirs:
            mine = {k: v for k, v in mine.items() if k in errors}
            theirs = {k: v for k, v in theirs.items() if k in errors}
        if mine != theirs:
            found.append((index, call.get("op", "upload"), mine, theirs))
    return found


def outcomes(
    calls: list[Call], walk: Walk, missing: frozenset[str] = frozenset()
) -> list[tuple[int, str, str, str]]:
    """The calls whose outcome is not the one the walk expects: (index, op, expected, seen);
    a call of an operation in `missing`, which the client does not have, expects
    NoSuchCommand."""
    wrong = []
    for index, (call, result) in enumerate(zip(calls, walk.results, strict=True)):
        seen = "ok" if result["ok"] else str(result.get("name") or result.get("stderr"))
        expected = "NoSuchCommand" if call.get("op") in missing else call["expect"]
        if seen != expected:
            wrong.append((index, call.get("op", "upload"), expected, seen))
    return wrong


def prepared(calls: list[Call], run: str) -> list[Call]:
    return list(json.loads(json.dumps(calls).replace("{run}", run)))


def walk_with(runner: Any, server: ServerProcess, client: str, calls: list[Call]) -> Walk:
    run = uuid.uuid4().hex[:10]
    region = f"eu-walk-{client}-{run[:4]}"
    started = datetime.now(UTC).timestamp()
    return Walk(region, run, started, runner(server, region, prepared(calls, run)))


def js_runner(js_sdk: Path) -> Any:
    def run(server: ServerProcess, region: str, calls: list[Call]) -> list[dict[str, Any]]:
        for_js = [
            {**call, "command": f"{call['op']}Command"} if "op" in call else call for call in calls
        ]
        return run_js(js_sdk, server, for_js, region=region)

    return run


# Members of Amazon Q in Connect that the newest @aws-sdk/client-qconnect on the npm registry
# (3.828.0) does not know yet, though botocore does: its deserializers keep only the members
# they know, so its users never see these (a client's lag, not the server's fault).
JS_QCONNECT_LAGS = frozenset(
    {
        ("KnowledgeBaseData", "lastModifiedTime"),
        ("KnowledgeBaseData", "lastModifiedRegion"),
        *((shape, "channel") for shape in ("MessageTemplateData", "ExtendedMessageTemplateData")),
        *(
            (shape, "channel")
            for shape in ("MessageTemplateSummary", "MessageTemplateSearchResultData")
        ),
    }
)

# Operations newer than the newest @aws-sdk/client-connect on the npm registry (3.1136.0): it has
# no command for them. Once it has, the walk expects them to work (and says so by failing).
JS_MISSING_OPERATIONS = frozenset({"UpdateOutboundEmailContactMessage"})

WALK_NOW = datetime.now(UTC)
CALLS = [*connect_walk(WALK_NOW), *qconnect_walk()]


@pytest.fixture(scope="module")
def reference(server: ServerProcess) -> Walk:
    """The walk through boto3: what the others are compared with."""
    return walk_with(run_boto3, server, "boto", CALLS)


def test_every_operation_is_walked() -> None:
    implemented = set()
    for path in (REPO / "connectmail").rglob("*.py"):
        implemented |= set(re.findall(r'@operation\("(\w+)"\)', path.read_text()))
    walked = {call["op"] for call in CALLS if "op" in call}
    assert implemented - walked == set()


def instants(value: Any) -> list[float]:
    if isinstance(value, Instant):
        return [value.offset]
    if isinstance(value, dict):
        return [found for item in value.values() for found in instants(item)]
    if isinstance(value, list):
        return [found for item in value for found in instants(item)]
    return []


def test_boto3_walk_shows_what_it_did(reference: Walk) -> None:
    """The reference itself: each call's outcome as expected, and what the user reads."""
    assert outcomes(CALLS, reference) == []
    seen = dict(zip([c.get("as") for c in CALLS], Normalizer(reference)(CALLS), strict=True))
    assert seen["address_tags"]["output"] == {"tags": {"keep": "me", "purpose": "walk"}}
    contact = seen["described"]["output"]["Contact"]
    assert (contact["Name"], contact["Tags"]) == ("Walk ✓", {"keep": "me"})
    assert seen["attributes"]["output"] == {"Attributes": {"order": "43", "note": "ünï & more"}}
    instances = seen["instances"]["InstanceSummaryList"]
    assert [i["InstanceAlias"] for i in instances] == ["walk<run>", "walk2<run>"]
    templates = seen["templates"]["messageTemplateSummaries"]
    assert sorted(t["name"] for t in templates) == ["Order delayed", "Order shipped"]
    assert seen["template_tags"]["output"] == {"tags": {"keep": "me"}}
    email = seen["rendered"]["output"]["content"]["email"]
    assert email["subject"] == "Shipped ✓, Jane"
    # Every time shown is of the walk (the latest, an attached file's URL expiry, 5 minutes on).
    shown = instants(list(seen.values()))
    assert shown and all(-5 < offset < 5 * 60 + 60 for offset in shown)


def test_the_aws_cli_sees_what_boto3_sees(server: ServerProcess, reference: Walk) -> None:
    cli = walk_with(run_cli, server, "cli", CALLS)
    assert outcomes(CALLS, cli) == []
    assert differences(CALLS, reference, cli, errors=("error", "message")) == []


def test_the_js_sdk_sees_what_boto3_sees(
    server: ServerProcess, js_sdk: Path, reference: Walk
) -> None:
    js = walk_with(js_runner(js_sdk), server, "js", CALLS)
    assert outcomes(CALLS, js, JS_MISSING_OPERATIONS) == []
    errors = ("error", "message", "status", "fields")
    found = differences(
        CALLS, reference, js, errors=errors, unknown=JS_QCONNECT_LAGS, missing=JS_MISSING_OPERATIONS
    )
    assert found == []


if __name__ == "__main__":
    _cli_main()
