"""Accounts and their access keys: the root key of the first account, and keys made later.

Keys live in the database so that every process serving an account sees the same ones; the
root key is also kept in the data directory so `connectmail credentials` can print it.
"""

from __future__ import annotations

import logging
import os
import secrets
import string
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, select

from connectmail.access.policy import parse_policy
from connectmail.jsontext import dumps, loads
from connectmail.store.tables import access_keys, accounts
from connectmail.store.upsert import insert_ignore

log = logging.getLogger(__name__)

CREDENTIALS_FILE = "credentials.json"
_KEY_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


@dataclass(frozen=True)
class Credentials:
    account_id: str
    access_key_id: str
    secret_access_key: str

    def as_json(self) -> dict[str, str]:
        return {
            "AccountId": self.account_id,
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
        }


def new_account_id() -> str:
    return str(secrets.randbelow(9 * 10**11) + 10**11)


def new_credentials(account_id: str) -> Credentials:
    return Credentials(
        account_id=account_id,
        access_key_id="AKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16)),
        secret_access_key="".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40)),
    )


def root_credentials(
    data_dir: Path, configured: Credentials | None, account_id: str | None = None
) -> tuple[Credentials, bool]:
    """The configured root credentials, else those kept in `data_dir`, else new ones (of
    `account_id` when one is given, so that ARNs are known before the first start).

    Returns the credentials and whether they were generated now.
    """
    if configured is not None:
        return configured, False
    path = data_dir / CREDENTIALS_FILE
    if path.exists():
        stored = orjson.loads(path.read_bytes())
        kept = Credentials(
            stored["account_id"], stored["access_key_id"], stored["secret_access_key"]
        )
        if account_id is not None and account_id != kept.account_id:
            log.warning(
                "CONNECTMAIL_ACCOUNT_ID %s is not used: the root credentials kept in %s are of "
                "account %s",
                account_id,
                path,
                kept.account_id,
            )
        return kept, False
    credentials = new_credentials(account_id or new_account_id())
    data_dir.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(orjson.dumps(asdict(credentials), option=orjson.OPT_INDENT_2))
    temporary.replace(path)
    return credentials, True


def register(
    connection: Connection,
    credentials: Credentials,
    *,
    root: bool,
    policy: dict[str, Any] | None = None,
) -> None:
    """Make the account and key known to the database (idempotent)."""
    insert_ignore(
        connection, accounts, {"id": credentials.account_id, "created_at": time.time()}, ["id"]
    )
    insert_ignore(
        connection,
        access_keys,
        {
            "access_key_id": credentials.access_key_id,
            "account_id": credentials.account_id,
            "secret_access_key": credentials.secret_access_key,
            "policy": dumps(policy) if policy is not None else None,
            "is_root": root,
            "created_at": time.time(),
        },
        ["access_key_id"],
    )


def create_account(connection: Connection) -> Credentials:
    """A new account with its first key (no policy: it may do anything in its account)."""
    while True:
        credentials = new_credentials(new_account_id())
        if not account_exists(connection, credentials.account_id):
            register(connection, credentials, root=True)
            return credentials


def create_key(
    connection: Connection, account_id: str, policy: dict[str, Any] | None
) -> Credentials:
    """Another key for an existing account, limited by `policy` when one is given."""
    if not account_exists(connection, account_id):
        raise LookupError(f"no account {account_id}")
    if policy is not None:
        parse_policy(policy)  # refuse a malformed policy now, not at the key's first use
    credentials = new_credentials(account_id)
    register(connection, credentials, root=False, policy=policy)
    return credentials


def account_exists(connection: Connection, account_id: str) -> bool:
    return (
        connection.execute(select(accounts.c.id).where(accounts.c.id == account_id)).first()
        is not None
    )


def list_keys(connection: Connection, account_id: str) -> list[dict[str, Any]]:
    """The account's access keys, oldest first, without their secrets."""
    if not account_exists(connection, account_id):
        raise LookupError(f"no account {account_id}")
    rows = connection.execute(
        select(access_keys)
        .where(access_keys.c.account_id == account_id)
        .order_by(access_keys.c.created_at, access_keys.c.access_key_id)
    ).all()
    return [
        {
            "AccessKeyId": row.access_key_id,
            "Policy": loads(row.policy) if row.policy else None,
            "CreatedAt": datetime.fromtimestamp(row.created_at, UTC).isoformat(timespec="seconds"),
        }
        for row in rows
    ]


class KeyKept(Exception):
    """A key that deleting would not remove, or would lock its account out."""


def delete_key(connection: Connection, access_key_id: str, root: Credentials | None) -> str:
    """Delete an access key; its account's id. Requests signed with it are refused once the
    servers' caches of keys let it go (`DatabaseKeyStore`: 5 seconds)."""
    row = connection.execute(
        select(access_keys).where(access_keys.c.access_key_id == access_key_id)
    ).first()
    if row is None:
        raise LookupError(f"no access key {access_key_id}")
    if root is not None and root.access_key_id == access_key_id:
        raise KeyKept(
            f"{access_key_id} is the root key of this data directory (credentials.json or "
            "CONNECTMAIL_ACCESS_KEY_ID): every server start registers it again"
        )
    # The account's row held until the transaction ends: two deletes at once cannot both
    # count two keys and leave none.
    connection.execute(
        select(accounts.c.id).where(accounts.c.id == row.account_id).with_for_update()
    )
    keys = connection.execute(
        select(func.count())
        .select_from(access_keys)
        .where(access_keys.c.account_id == row.account_id)
    ).scalar_one()
    if keys == 1:
        raise KeyKept(
            f"{access_key_id} is the last key of account {row.account_id}: create another first"
        )
    connection.execute(delete(access_keys).where(access_keys.c.access_key_id == access_key_id))
    return str(row.account_id)
