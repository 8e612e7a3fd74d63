"""Accounts and keys: no request reaches another account, and policies limit what a key does."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.cli import connectmail, created
from tests.support.connect import Outpost, make_outpost
from tests.support.server import ServerProcess


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def as_key(server: ServerProcess, key: dict[str, Any], **kwargs: Any) -> Any:
    return server.client(
        credentials={
            "aws_access_key_id": key["AccessKeyId"],
            "aws_secret_access_key": key["SecretAccessKey"],
        },
        **kwargs,
    )


def test_accounts_are_isolated(shared_server: ServerProcess, tmp_path: Path) -> None:
    other = created(
        "accounts",
        "create",
        "--data-dir",
        str(shared_server.data_dir),
        *database_args(shared_server),
    )
    assert set(other) == {"AccountId", "AccessKeyId", "SecretAccessKey"}
    assert len(other["AccountId"]) == 12 and other["AccountId"] != shared_server.account_id
    mine = make_outpost(shared_server.client())
    theirs = make_outpost(as_key(shared_server, other))
    assert (
        f":{other['AccountId']}:instance/"
        in theirs.client.describe_instance(InstanceId=theirs.instance_id)["Instance"]["Arn"]
    )

    their_contact = theirs.contact()
    probes: list[Callable[[], Any]] = [
        lambda: mine.client.describe_instance(InstanceId=theirs.instance_id),
        lambda: mine.client.describe_contact(
            InstanceId=theirs.instance_id, ContactId=their_contact
        ),
        lambda: mine.client.describe_contact(InstanceId=mine.instance_id, ContactId=their_contact),
        lambda: mine.send(their_contact),
        lambda: mine.client.stop_contact(InstanceId=theirs.instance_id, ContactId=their_contact),
        lambda: mine.client.update_contact(
            InstanceId=mine.instance_id, ContactId=their_contact, Name="mine now"
        ),
        lambda: mine.client.tag_contact(
            InstanceId=mine.instance_id, ContactId=their_contact, Tags={"a": "b"}
        ),
        lambda: mine.client.describe_email_address(
            InstanceId=theirs.instance_id, EmailAddressId=theirs.sender_id
        ),
        lambda: mine.client.delete_instance(InstanceId=theirs.instance_id),
        lambda: mine.client.create_contact(
            InstanceId=theirs.instance_id, Channel="EMAIL", InitiationMethod="FLOW"
        ),
        lambda: mine.client.describe_instance(
            InstanceId=(
                f"arn:aws:connect:us-east-1:{other['AccountId']}:instance/{theirs.instance_id}"
            )
        ),
    ]
    for probe in probes:
        with pytest.raises(ClientError) as exc:
            probe()
        assert code(exc) in ("ResourceNotFoundException", "ContactNotFoundException")
    assert theirs.instance_id not in [
        i["Id"] for i in mine.client.list_instances()["InstanceSummaryList"]
    ]
    theirs.send(their_contact)  # untouched by all of the above


def database_args(server: ServerProcess) -> list[str]:
    args = server.args
    return (
        args[args.index("--database-url") : args.index("--database-url") + 2]
        if "--database-url" in args
        else []
    )


def policy_file(tmp_path: Path, *statements: dict[str, Any]) -> str:
    path = tmp_path / f"policy-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))
    return str(path)


def make_key(server: ServerProcess, tmp_path: Path, *statements: dict[str, Any]) -> Any:
    args = [
        "keys",
        "create",
        "--data-dir",
        str(server.data_dir),
        "--account",
        server.account_id,
        *database_args(server),
    ]
    if statements:
        args += ["--policy", policy_file(tmp_path, *statements)]
    return as_key(server, created(*args))


OPERATIONS: dict[str, Callable[[Outpost, Any], Any]] = {
    "CreateInstance": lambda o, c: c.create_instance(
        IdentityManagementType="SAML",
        InstanceAlias=f"p-{uuid.uuid4().hex[:8]}",
        InboundCallsEnabled=True,
        OutboundCallsEnabled=True,
    ),
    "DescribeInstance": lambda o, c: c.describe_instance(InstanceId=o.instance_id),
    "CreateContact": lambda o, c: c.create_contact(
        InstanceId=o.instance_id, Channel="EMAIL", InitiationMethod="FLOW"
    ),
    "StartOutboundEmailContact": lambda o, c: c.start_outbound_email_contact(
        InstanceId=o.instance_id,
        ContactId=o.contact("FLOW"),
        DestinationEmailAddress={"EmailAddress": "c@example.org"},
        EmailMessage={
            "MessageSourceType": "RAW",
            "RawMessage": {"Subject": "s", "Body": "b", "ContentType": "text/plain"},
        },
    ),
    "DescribeContact": lambda o, c: c.describe_contact(
        InstanceId=o.instance_id, ContactId=o.contact("FLOW")
    ),
    "StopContact": lambda o, c: c.stop_contact(
        InstanceId=o.instance_id, ContactId=o.contact("FLOW")
    ),
}


def instance_scope(server: ServerProcess, outpost: Outpost) -> str:
    return f"arn:aws:connect:*:{server.account_id}:instance/{outpost.instance_id}"


# (policy statements for an outpost's instance, the operations the key may call)
POLICIES: dict[str, Any] = {
    "no policy": (lambda scope: [], set(OPERATIONS)),
    "send only": (
        lambda scope: [
            {
                "Effect": "Allow",
                "Action": "connect:StartOutboundEmailContact",
                "Resource": f"{scope}/*",
            }
        ],
        {"StartOutboundEmailContact"},
    ),
    "read only": (
        lambda scope: [
            {"Effect": "Allow", "Action": "connect:Describe*", "Resource": [scope, f"{scope}/*"]}
        ],
        {"DescribeInstance", "DescribeContact"},
    ),
    "all but stop": (
        lambda scope: [
            {"Effect": "Allow", "Action": "connect:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "connect:StopContact", "Resource": f"{scope}/contact/*"},
        ],
        set(OPERATIONS) - {"StopContact"},
    ),
    "other instance": (
        lambda scope: [{"Effect": "Allow", "Action": "*", "Resource": f"{scope}-not-this-one/*"}],
        set(),
    ),
}


@pytest.mark.parametrize("policy", list(POLICIES))
def test_policy_matrix(shared_server: ServerProcess, tmp_path: Path, policy: str) -> None:
    outpost = make_outpost(shared_server.client())
    statements, allowed = POLICIES[policy]
    client = make_key(shared_server, tmp_path, *statements(instance_scope(shared_server, outpost)))
    for name, call in OPERATIONS.items():
        if name in allowed:
            call(outpost, client)
            continue
        before = len(shared_server.client().list_instances(MaxResults=10)["InstanceSummaryList"])
        with pytest.raises(ClientError) as exc:
            call(outpost, client)
        assert code(exc) == "AccessDeniedException", name
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        after = len(shared_server.client().list_instances(MaxResults=10)["InstanceSummaryList"])
        assert after == before


ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}


def denied_on_contact(
    server: ServerProcess, tmp_path: Path, outpost: Outpost, contact: str, action: Any
) -> Any:
    """A client whose key may do anything but `action` (a name, a pattern or a list) on one
    contact."""
    scope = instance_scope(server, outpost)
    deny = {"Effect": "Deny", "Action": action, "Resource": f"{scope}/contact/{contact}"}
    return make_key(server, tmp_path, ALLOW_ALL, deny)


def assert_denied(calls: list[Callable[[], Any]]) -> None:
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == "AccessDeniedException"


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}, "Effect"),
        # IAM requires Resource: a statement without one is a mistake, not every resource.
        ({"Statement": [{"Effect": "Allow", "Action": "connect:Describe*"}]}, "Resource"),
        ({"Version": "2099-01-01", "Statement": [ALLOW_ALL]}, "Version"),
        ({"Statement": [ALLOW_ALL], "Conditions": {}}, "Conditions"),
    ],
)
def test_invalid_policy_is_refused(
    shared_server: ServerProcess, tmp_path: Path, document: dict[str, Any], named: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    result = connectmail(
        "keys",
        "create",
        "--data-dir",
        str(shared_server.data_dir),
        "--account",
        shared_server.account_id,
        "--policy",
        str(path),
        *database_args(shared_server),
        check=False,
    )
    assert result.returncode == 2 and named in result.stderr


def test_a_denied_contact_stays_denied_when_named_otherwise(
    shared_server: ServerProcess, tmp_path: Path
) -> None:
    """A reply's RelatedContactId and an attached file's AssociatedResourceArn name a contact
    as much as ContactId does: the key's policy is checked on it."""
    root = shared_server.client()
    outpost = make_outpost(root)
    secret = outpost.contact("FLOW", Attributes={"ssn": "123-45-6789"})
    arn = root.describe_contact(InstanceId=outpost.instance_id, ContactId=secret)["Contact"]["Arn"]
    scope = instance_scope(shared_server, outpost)
    denied = make_key(
        shared_server,
        tmp_path,
        {"Effect": "Allow", "Action": "connect:*", "Resource": [scope, f"{scope}/*"]},
        {"Effect": "Deny", "Action": "connect:*", "Resource": f"{scope}/contact/{secret}"},
    )
    upload = {
        "InstanceId": outpost.instance_id,
        "FileName": "a.txt",
        "FileSizeInBytes": 3,
        "FileUseCaseType": "ATTACHMENT",
        "AssociatedResourceArn": arn,
    }
    calls: list[Callable[[], Any]] = [
        lambda: denied.create_contact(
            InstanceId=outpost.instance_id,
            Channel="EMAIL",
            InitiationMethod="AGENT_REPLY",
            RelatedContactId=secret,
            UserInfo={"UserId": "agent-1"},
        ),
        lambda: denied.start_attached_file_upload(**upload),
        lambda: denied.batch_get_attached_file_metadata(
            InstanceId=outpost.instance_id, FileIds=["f"], AssociatedResourceArn=arn
        ),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == "AccessDeniedException"
    # The other way round: a key allowed on that one contact may attach files to it.
    only_it = make_key(
        shared_server,
        tmp_path,
        {"Effect": "Allow", "Action": "connect:*", "Resource": f"{scope}/contact/{secret}"},
    )
    assert only_it.start_attached_file_upload(**upload)["FileStatus"] == "PROCESSING"


def test_a_session_token_is_refused(shared_server: ServerProcess) -> None:
    """connectmail issues no temporary credentials: a request carrying a session token fails
    as it would against AWS, rather than working here and failing there."""
    client = shared_server.client(credentials={"aws_session_token": "FwoGZXIvYXdzEXAMPLE"})
    with pytest.raises(ClientError) as exc:
        client.list_instances()
    assert code(exc) == "UnrecognizedClientException"


def test_key_for_unknown_account_is_refused(shared_server: ServerProcess) -> None:
    result = connectmail(
        "keys",
        "create",
        "--data-dir",
        str(shared_server.data_dir),
        "--account",
        "000000000001",
        *database_args(shared_server),
        check=False,
    )
    assert result.returncode == 1


def test_captured_mail_is_per_account(start_server: Any) -> None:
    server = start_server()
    other = created("accounts", "create", "--data-dir", str(server.data_dir))
    make_outpost(server.client()).send(to="root-customer@example.org")
    make_outpost(as_key(server, other)).send(to="other-customer@example.org")

    def mailbox(key_id: str, secret: str) -> list[str]:
        request = urllib.request.Request(f"{server.endpoint}/_connectmail/mailbox")
        token = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return [r for m in json.loads(response.read())["Messages"] for r in m["Recipients"]]

    server.wait_for_mail(2, timeout=10)
    assert mailbox(other["AccessKeyId"], other["SecretAccessKey"]) == ["other-customer@example.org"]
    root = server.credentials
    assert mailbox(root["aws_access_key_id"], root["aws_secret_access_key"]) == [
        "root-customer@example.org"
    ]
    with pytest.raises(urllib.error.HTTPError) as exc:
        mailbox(other["AccessKeyId"], "wrong-secret")
    assert exc.value.code == 401


def test_templates_and_files_are_isolated(shared_server: ServerProcess) -> None:
    other = created(
        "accounts",
        "create",
        "--data-dir",
        str(shared_server.data_dir),
        *database_args(shared_server),
    )
    theirs = make_outpost(as_key(shared_server, other))
    their_qconnect = as_key(shared_server, other, service="qconnect")
    kb = their_qconnect.create_knowledge_base(
        name=f"kb-{uuid.uuid4().hex[:6]}", knowledgeBaseType="MESSAGE_TEMPLATES"
    )["knowledgeBase"]
    template = their_qconnect.create_message_template(
        knowledgeBaseId=kb["knowledgeBaseId"],
        name="t",
        channelSubtype="EMAIL",
        content={"email": {"subject": "Hi", "body": {"plainText": {"content": "Hello"}}}},
    )["messageTemplate"]
    their_contact = theirs.contact()
    their_arn = theirs.client.describe_contact(
        InstanceId=theirs.instance_id, ContactId=their_contact
    )["Contact"]["Arn"]
    upload = theirs.client.start_attached_file_upload(
        InstanceId=theirs.instance_id,
        FileName="a.pdf",
        FileSizeInBytes=10,
        FileUseCaseType="ATTACHMENT",
        AssociatedResourceArn=their_arn,
    )

    mine = make_outpost(shared_server.client())
    my_qconnect = shared_server.client("qconnect")
    probes: list[Callable[[], Any]] = [
        lambda: my_qconnect.get_knowledge_base(knowledgeBaseId=kb["knowledgeBaseId"]),
        lambda: my_qconnect.get_knowledge_base(knowledgeBaseId=kb["knowledgeBaseArn"]),
        lambda: my_qconnect.get_message_template(
            knowledgeBaseId=kb["knowledgeBaseId"], messageTemplateId=template["messageTemplateId"]
        ),
        lambda: my_qconnect.delete_knowledge_base(knowledgeBaseId=kb["knowledgeBaseId"]),
        lambda: mine.send(
            EmailMessage={
                "MessageSourceType": "TEMPLATE",
                "TemplatedMessageConfig": {
                    "KnowledgeBaseId": kb["knowledgeBaseId"],
                    "MessageTemplateId": f"{template['messageTemplateId']}:$LATEST",
                    "TemplateAttributes": {},
                },
            }
        ),
        lambda: mine.client.get_attached_file(
            InstanceId=theirs.instance_id, FileId=upload["FileId"], AssociatedResourceArn=their_arn
        ),
        lambda: mine.client.get_attached_file(
            InstanceId=mine.instance_id, FileId=upload["FileId"], AssociatedResourceArn=their_arn
        ),
        lambda: mine.client.delete_attached_file(
            InstanceId=theirs.instance_id, FileId=upload["FileId"], AssociatedResourceArn=their_arn
        ),
    ]
    for probe in probes:
        with pytest.raises(ClientError) as exc:
            probe()
        assert code(exc) in ("ResourceNotFoundException", "InvalidRequestException"), code(exc)
    assert (
        their_qconnect.get_message_template(
            knowledgeBaseId=kb["knowledgeBaseId"], messageTemplateId=template["messageTemplateId"]
        )["messageTemplate"]["name"]
        == "t"
    )
    assert (
        theirs.client.get_attached_file(
            InstanceId=theirs.instance_id, FileId=upload["FileId"], AssociatedResourceArn=their_arn
        )["FileId"]
        == upload["FileId"]
    )


def admin_as(
    server: ServerProcess, key: dict[str, Any], path: str, method: str = "GET"
) -> tuple[int, Any]:
    """The status and JSON body of /_connectmail/`path` asked with a key's HTTP Basic."""
    request = urllib.request.Request(f"{server.endpoint}/_connectmail/{path}", method=method)
    token = base64.b64encode(f"{key['AccessKeyId']}:{key['SecretAccessKey']}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# (policy statements, what the key may do to its account's mailbox: list, clear)
MAILBOX_POLICIES: dict[str, Any] = {
    "no policy": ([], {"list", "clear"}),
    "everything denied": ([{"Effect": "Deny", "Action": "*", "Resource": "*"}], set()),
    "everything": ([{"Effect": "Allow", "Action": "*", "Resource": "*"}], {"list", "clear"}),
    "connectmail": (
        [{"Effect": "Allow", "Action": "connectmail:*", "Resource": "*"}],
        {"list", "clear"},
    ),
    "list only": (
        [{"Effect": "Allow", "Action": "connectmail:ListMailbox", "Resource": "*"}],
        {"list"},
    ),
    "all but clear": (
        [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "connectmail:ClearMailbox", "Resource": "*"},
        ],
        {"list"},
    ),
    "connect only": ([{"Effect": "Allow", "Action": "connect:*", "Resource": "*"}], set()),
}


@pytest.mark.parametrize("policy", list(MAILBOX_POLICIES))
def test_policy_limits_the_mailbox(
    shared_server: ServerProcess, tmp_path: Path, policy: str
) -> None:
    statements, allowed = MAILBOX_POLICIES[policy]
    # An account of its own, so that clearing its mailbox touches no other test's mail.
    owner = created(
        "accounts",
        "create",
        "--data-dir",
        str(shared_server.data_dir),
        *database_args(shared_server),
    )
    make_outpost(as_key(shared_server, owner)).send(to="customer@example.org")
    args = ["keys", "create", "--data-dir", str(shared_server.data_dir)]
    args += ["--account", owner["AccountId"], *database_args(shared_server)]
    if statements:
        args += ["--policy", policy_file(tmp_path, *statements)]
    key = created(*args)

    def kept() -> int:
        status, body = admin_as(shared_server, owner, "mailbox")
        assert status == 200, body
        return len(body["Messages"])

    deadline = time.monotonic() + 10
    while kept() < 1 and time.monotonic() < deadline:
        time.sleep(0.05)

    status, body = admin_as(shared_server, key, "mailbox")
    if "list" in allowed:
        assert status == 200 and [m["AccountId"] for m in body["Messages"]] == [owner["AccountId"]]
    else:
        assert (status, body) == (
            403,
            {"message": "You are not authorized to perform connectmail:ListMailbox on resource *."},
        )
    status, body = admin_as(shared_server, key, "mailbox", "DELETE")
    if "clear" in allowed:
        assert (status, body, kept()) == (200, {"Deleted": 1}, 0)
    else:
        assert status == 403 and "connectmail:ClearMailbox" in body["message"]
        assert kept() == 1
    # Health asks only for a valid key.
    assert admin_as(shared_server, key, "health") == (200, {"status": "ok"})
    status, body = admin_as(shared_server, {**key, "SecretAccessKey": "wrong"}, "health")
    assert status == 401 and "Credentials required" in body["message"]


def test_a_key_denied_tagging_one_address_cannot_tag_it(
    shared_server: ServerProcess, tmp_path: Path
) -> None:
    """Tagging named no resource for the key's policy, so a Deny on the address did not
    apply."""
    outpost = make_outpost(shared_server.client())
    arn = outpost.client.create_email_address(
        InstanceId=outpost.instance_id, EmailAddress=f"tagged-{uuid.uuid4().hex[:8]}@example.com"
    )["EmailAddressArn"]
    client = make_key(
        shared_server,
        tmp_path,
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "connect:TagResource", "Resource": arn},
    )
    with pytest.raises(ClientError) as exc:
        client.tag_resource(resourceArn=arn, tags={"a": "b"})
    assert code(exc) == "AccessDeniedException"
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {}


def test_a_key_denied_one_contacts_attributes_cannot_change_them(
    shared_server: ServerProcess, tmp_path: Path
) -> None:
    outpost = make_outpost(shared_server.client())
    contact = outpost.contact(Attributes={"kept": "yes"})
    client = denied_on_contact(
        shared_server, tmp_path, outpost, contact, "connect:*ContactAttributes"
    )
    ids = {"InstanceId": outpost.instance_id, "InitialContactId": contact}
    assert_denied(
        [
            lambda: client.get_contact_attributes(**ids),
            lambda: client.update_contact_attributes(**ids, Attributes={"kept": "no"}),
        ]
    )
    assert outpost.client.get_contact_attributes(**ids)["Attributes"] == {"kept": "yes"}
    # Another contact's are the key's to change.
    other = {"InstanceId": outpost.instance_id, "InitialContactId": outpost.contact()}
    client.update_contact_attributes(**other, Attributes={"free": "yes"})
    assert client.get_contact_attributes(**other)["Attributes"] == {"free": "yes"}


def test_a_deleted_key_is_refused_and_an_accounts_last_key_is_kept(
    shared_server: ServerProcess, tmp_path: Path
) -> None:
    where = ["--data-dir", str(shared_server.data_dir), *database_args(shared_server)]
    owner = created("accounts", "create", *where)
    account = owner["AccountId"]
    policy = {"Effect": "Allow", "Action": "connect:*", "Resource": "*"}
    second = created(
        "keys", "create", "--account", account, "--policy", policy_file(tmp_path, policy), *where
    )
    listed = json.loads(connectmail("keys", "list", "--account", account, *where).stdout)
    assert [k["AccessKeyId"] for k in listed] == [owner["AccessKeyId"], second["AccessKeyId"]]
    assert [k["Policy"] for k in listed] == [
        None,
        {"Version": "2012-10-17", "Statement": [policy]},
    ]
    assert "SecretAccessKey" not in json.dumps(listed)

    client = as_key(shared_server, second)
    client.list_instances()
    connectmail("keys", "delete", second["AccessKeyId"], *where)
    deadline = time.monotonic() + 15  # the servers' key caches let a key go within 5 s
    refused = None
    while refused is None and time.monotonic() < deadline:
        try:
            client.list_instances()
            time.sleep(0.2)
        except ClientError as exc:
            refused = exc
    assert refused is not None
    assert refused.response["Error"]["Code"] == "UnrecognizedClientException"
    listed = json.loads(connectmail("keys", "list", "--account", account, *where).stdout)
    assert [k["AccessKeyId"] for k in listed] == [owner["AccessKeyId"]]

    # Not deleted: an account's last key, the data directory's root key, a key not there.
    root = shared_server.credentials["aws_access_key_id"]
    for key, reason in (
        (owner["AccessKeyId"], f"last key of account {account}"),
        (root, "root key of this data directory"),
        ("AKIANOSUCHKEY0000000", "no access key AKIANOSUCHKEY0000000"),
    ):
        result = connectmail("keys", "delete", key, *where, check=False)
        assert result.returncode == 1 and reason in result.stderr, result.stderr
    as_key(shared_server, owner).list_instances()
    shared_server.client().list_instances()
    result = connectmail("keys", "list", "--account", "999999999999", *where, check=False)
    assert result.returncode == 1 and "no account 999999999999" in result.stderr


def test_the_generated_root_account_is_connectmail_account_id(
    start_server: Any, tmp_path: Path
) -> None:
    """CONNECTMAIL_ACCOUNT_ID without the key pair was ignored: the generated root account had
    a random id, so ARNs could not be known before the first start."""
    data = tmp_path / "data"
    server = start_server(data_dir=data, env={"CONNECTMAIL_ACCOUNT_ID": "123456789012"})
    assert json.loads((data / "credentials.json").read_text())["account_id"] == "123456789012"
    arn = make_outpost(server.client()).client.list_instances()["InstanceSummaryList"][0]["Arn"]
    assert arn.startswith("arn:aws:connect:us-east-1:123456789012:instance/")

    # A data directory that has its root credentials keeps them, and says why the
    # variable is not used.
    server.stop()
    again = start_server(data_dir=data, env={"CONNECTMAIL_ACCOUNT_ID": "210987654321"})
    assert again.account_id == "123456789012"
    assert "CONNECTMAIL_ACCOUNT_ID 210987654321 is not used" in again.log()


def test_a_key_denied_changing_one_contact_cannot_change_it(
    shared_server: ServerProcess, tmp_path: Path
) -> None:
    outpost = make_outpost(shared_server.client())
    contact = outpost.contact(Name="kept")
    actions = ["UpdateContact", "TagContact", "UntagContact", "UpdateOutboundEmailContactMessage"]
    client = denied_on_contact(
        shared_server, tmp_path, outpost, contact, [f"connect:{a}" for a in actions]
    )
    ids = {"InstanceId": outpost.instance_id, "ContactId": contact}
    draft = {"MessageSourceType": "RAW", "RawMessage": {"Body": "x", "ContentType": "text/plain"}}
    assert_denied(
        [
            lambda: client.update_contact(**ids, Name="changed"),
            lambda: client.tag_contact(**ids, Tags={"team": "x"}),
            lambda: client.untag_contact(**ids, TagKeys=["team"]),
            lambda: client.update_outbound_email_contact_message(**ids, EmailMessage=draft),
        ]
    )
    described = outpost.describe(contact)
    assert described["Name"] == "kept" and "Tags" not in described
    other = {"InstanceId": outpost.instance_id, "ContactId": outpost.contact()}
    client.update_contact(**other, Name="free")  # another contact is the key's to change
    assert outpost.describe(other["ContactId"])["Name"] == "free"
