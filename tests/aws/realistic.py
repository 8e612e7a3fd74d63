"""Realistic values for the patterned string shapes of the operations connectmail serves.

What a real program sends: the pattern tests check that each one passes its shape, and the
fuzz test draws valid strings from here where a pattern is beyond `hypothesis.from_regex`.
"""

from __future__ import annotations

UUID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
WISDOM_ARN = f"arn:aws:wisdom:us-east-1:123456789012:knowledge-base/{UUID}"

REALISTIC: dict[tuple[str, str], tuple[str, ...]] = {
    ("connect", "ReferenceArn"): (
        "arn:aws:connect:us-east-1:123456789012:instance/abc/attached-file/def",
    ),
    ("connect", "TagKey"): ("Team", "cost-center", "Ünïcode Schlüssel", "部门", "a:b/c=d+e@f"),
    ("connect", "ContactTagKey"): ("department", "cost-center", "Team.Billing_2", "a:b/c=d+e"),
    ("connect", "EmailAddress"): ("support@example.com", "jane.doe+tag@mail.example.org"),
    ("connect", "DirectoryId"): ("d-0123456789",),
    ("connect", "DirectoryAlias"): ("my-instance", "Support2024", "a"),
    ("connect", "AiAgentId"): (UUID, f"{UUID}:LATEST", f"{WISDOM_ARN}/{UUID}"),
    ("connect", "RegionName"): ("us-east-1", "ap-southeast-2", "us-gov-west-1"),
    ("connect", "FileName"): ("invoice.pdf", "Résumé (final) 😀.docx"),
    ("qconnect", "UuidOrArnOrEitherWithQualifier"): (UUID, f"{UUID}:1", WISDOM_ARN),
    ("qconnect", "UuidOrArn"): (UUID, WISDOM_ARN),
    ("qconnect", "TagKey"): ("Team", "cost-center", "a:b/c=d._"),
    ("qconnect", "Description"): ("Order shipped notice", "Welcome mail, v2 - final."),
    ("qconnect", "BedrockModelArnForParsing"): (
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
    ),
    ("qconnect", "WebUrl"): ("https://example.com/templates", "http://intranet.example/x?y=1"),
    ("qconnect", "GenericArn"): ("arn:aws:iam::123456789012:role/service-role/QConnect",),
    ("qconnect", "Name"): ("order-shipped", "Welcome mail v2", "Ünïcode after ascii"),
    ("qconnect", "WhatsAppMessageTemplateId"): ("1234567890",),
    ("qconnect", "WhatsAppBusinessAccountId"): (
        "waba-0123abcDEF",
        "arn:aws:social-messaging:us-east-1:123456789012:waba/0123abc",
    ),
    ("qconnect", "EmailHeaderValue"): ("<campaign-42@example.com>", "bulk"),
    ("qconnect", "EmailHeaderKey"): ("X-Campaign-Id", "List-Unsubscribe"),
    ("qconnect", "AttachmentFileName"): ("terms.pdf", "Facture n°42 (copie).pdf"),
    ("qconnect", "MessageTemplateContentSha256"): ("0f" * 32,),
    ("qconnect", "Uuid"): (UUID,),
}

# The operations connectmail serves or is about to: their patterned input shapes must all
# have realistic values above (the fuzz test discovers the served ones at run time).
SERVED = {
    "connect": (
        "CreateInstance",
        "DescribeInstance",
        "ListInstances",
        "DeleteInstance",
        "CreateEmailAddress",
        "DescribeEmailAddress",
        "SearchEmailAddresses",
        "DeleteEmailAddress",
        "CreateContact",
        "DescribeContact",
        "StopContact",
        "StartOutboundEmailContact",
        "StartEmailContact",
        "SearchContacts",
        "ListContactReferences",
        "StartAttachedFileUpload",
        "CompleteAttachedFileUpload",
        "GetAttachedFile",
        "DeleteAttachedFile",
        "BatchGetAttachedFileMetadata",
        "UpdateEmailAddressMetadata",
        "AssociateEmailAddressAlias",
        "DisassociateEmailAddressAlias",
        "GetContactAttributes",
        "UpdateContactAttributes",
        "UpdateContact",
        "TagContact",
        "UntagContact",
        "UpdateOutboundEmailContactMessage",
        "AssociateContactWithUser",
        "ListAssociatedContacts",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    ),
    "qconnect": (
        "CreateKnowledgeBase",
        "GetKnowledgeBase",
        "ListKnowledgeBases",
        "DeleteKnowledgeBase",
        "CreateMessageTemplate",
        "GetMessageTemplate",
        "UpdateMessageTemplate",
        "UpdateMessageTemplateMetadata",
        "ListMessageTemplates",
        "SearchMessageTemplates",
        "DeleteMessageTemplate",
        "CreateMessageTemplateVersion",
        "ListMessageTemplateVersions",
        "ActivateMessageTemplate",
        "DeactivateMessageTemplate",
        "RenderMessageTemplate",
        "CreateMessageTemplateAttachment",
        "DeleteMessageTemplateAttachment",
    ),
}
