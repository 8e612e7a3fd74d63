"""ListContactReferences: the references set on a contact and the files of its email.

The email of a contact is reachable as its EMAIL_MESSAGE reference (the RFC 5322 message, a
`.eml` file) and EMAIL_MESSAGE_PLAIN_TEXT reference (its text); attachments are ATTACHMENT
references. Each names an attached file by ARN, for GetAttachedFile.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from connectmail.domain import attached_files, sent_files
from connectmail.errors import ServiceError
from connectmail.jsontext import loads
from connectmail.store.tables import Record
from connectmail.store.tables_inbound import attached_files as files_table

# The member of the ReferenceSummary union for each reference type kept on the contact.
VALUE_MEMBERS = {
    "URL": "Url",
    "STRING": "String",
    "NUMBER": "Number",
    "DATE": "Date",
    "EMAIL": "Email",
}
FILE_MEMBERS = {
    attached_files.EMAIL_MESSAGE: "EmailMessage",
    attached_files.EMAIL_MESSAGE_PLAIN_TEXT: "EmailMessagePlainText",
}


def list_references(
    connection: Connection, contact: Record, types: list[str], next_token: str | None
) -> dict[str, Any]:
    if next_token:
        # Every answer is one page, so no token was ever issued: this one is not ours.
        raise ServiceError("InvalidParameterException", "The NextToken is not valid.")
    wanted = set(types)
    summaries: list[dict[str, Any]] = []
    for name, reference in sorted((loads(contact.references) or {}).items()):
        member = VALUE_MEMBERS.get(reference.get("Type"))
        if member is not None and reference["Type"] in wanted:
            summaries.append({member: {"Name": name, "Value": reference.get("Value")}})
        elif reference.get("Type") == attached_files.ATTACHMENT and "ATTACHMENT" in wanted:
            summaries.append({"Attachment": _given_attachment(name, reference)})
    file_types = wanted & {*FILE_MEMBERS, attached_files.ATTACHMENT}
    if file_types:
        rows = connection.execute(
            select(files_table)
            .where(
                (files_table.c.contact_id == contact.id) & files_table.c.use_case.in_(file_types)
            )
            .order_by(files_table.c.created_at, files_table.c.position, files_table.c.id)
        ).all()
        files: list[Any] = [*rows, *sent_files.of_contact(connection, contact)]
        files.sort(key=lambda f: (f.created_at, f.position, f.id))
        summaries.extend(_file_reference(f) for f in files if f.use_case in file_types)
    return {"ReferenceSummaryList": summaries}


def _file_reference(row: attached_files.FileRecord) -> dict[str, Any]:
    if row.use_case == attached_files.ATTACHMENT:
        return {
            "Attachment": {
                "Name": row.file_name,
                "Value": row.id,
                "Status": row.status,
                "Arn": row.arn,
            }
        }
    return {FILE_MEMBERS[row.use_case]: {"Name": row.file_name, "Arn": row.arn}}


def _given_attachment(name: str, reference: dict[str, Any]) -> dict[str, Any]:
    return {
        "Name": name,
        "Value": reference.get("Value"),
        "Status": reference.get("Status"),
        "Arn": reference.get("Arn"),
    }
