"""StartOutboundEmailContact for a whole group of requests at once.

The store gathers concurrent requests into one transaction; this batch makes that group cost a
fixed number of statements instead of a number per request: one read of the contacts, one of
the sender addresses, one of the client tokens, one per message template named, then one
multi-row write per table. The rules are those of `outbound.resolve`, `outbound.accept` and
`sending.render_email`, which also serve every request the batch leaves to the single-request
path: replies that thread under a parent, attachments, a default sender, templates not named
plainly or not found, and anything that does not add up. A large template is rendered outside
the write (see `sending.RenderOutside`): the job then comes back with `rendered`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, bindparam, select

from connectmail.domain import arns, attached_files, contacts, instances, outbound
from connectmail.domain.idempotency import ClientToken, StoredAnswer, run_once
from connectmail.errors import ServiceError, invalid_request
from connectmail.jsontext import dumps, loads
from connectmail.store.groups import Outcome, RunAlone
from connectmail.store.prepared import (
    Fetched,
    Prepared,
    PreparedIn,
    begin_async,
    commit_async,
    fetched,
    for_rows,
    pipeline,
    rows,
    write_all,
    write_all_async,
)
from connectmail.store.tables import CONTACT_COLUMNS, idempotency_keys
from connectmail.store.tables import contacts as contacts_table
from connectmail.store.tables import email_addresses as email_addresses_table
from connectmail.store.tables import instances as instances_table
from connectmail.templates import sending
from connectmail.templates.identifiers import Scope
from connectmail.templates.message_templates import Selected


@dataclass(frozen=True)
class SendJob:
    """One StartOutboundEmailContact request, checked as far as it can be without the store."""

    account_id: str
    region: str
    request: outbound.OutboundRequest
    policy: outbound.OutboundPolicy
    token: ClientToken | None
    ttl_seconds: float
    now: float
    # A TEMPLATE message's large template, rendered outside the write after a write found it;
    # `outside` False: rendered in the write whatever its size (the template changed under
    # each render before).
    rendered: sending.Rendered | None = None
    outside: bool = True

    def alone(self, connection: Connection) -> dict[str, Any]:
        """The single-request path, with its client token."""

        def send() -> dict[str, Any]:
            found = outbound.resolve(
                connection, self.account_id, self.region, self.request, self.policy, self.now
            )
            request = outbound.with_drafted_cc(self.request, found.contact, self.policy)
            content = request.content
            if content is None:
                content = sending.render_email(
                    connection,
                    Scope(self.account_id, self.region),
                    request.message["TemplatedMessageConfig"],
                    sending.Recipients(customer=request.to, system=found.sender),
                    self.rendered,
                    outside=self.outside,
                )
            return outbound.accept(connection, found, request, content, self.now)

        return run_once(connection, self.token, self.now, self.ttl_seconds, send)


_CONTACTS = select(
    *CONTACT_COLUMNS,
    instances_table.c.account_id.label("instance_account_id"),
    instances_table.c.region.label("instance_region"),
    instances_table.c.status.label("instance_status"),
    outbound.PENDING_UPLOADS.label("pending_uploads"),
).join(instances_table, instances_table.c.id == contacts_table.c.instance_id)
# On PostgreSQL the contacts are locked (FOR NO KEY UPDATE, the lock their UPDATE takes):
# what a group decides from them holds until it commits. A contact whose row another
# transaction holds is skipped, not waited for: its request goes to the single-request path,
# which waits for that row alone, while the group and the groups after it go on. (So a group
# never waits for a contact, and two cannot deadlock over contacts.) SQLite's write
# transaction (BEGIN IMMEDIATE) already keeps every other writer out.
_CONTACTS_AMONG = PreparedIn(
    lambda ids: _CONTACTS.where(contacts_table.c.id.in_(ids)).with_for_update(
        of=contacts_table, key_share=True, skip_locked=True
    )
)
_SENDERS_AMONG = PreparedIn(
    lambda ids: select(
        email_addresses_table.c.instance_id,
        email_addresses_table.c.address,
        email_addresses_table.c.display_name,
    ).where(email_addresses_table.c.instance_id.in_(ids))
)
# Tokens of one account and operation, read by their whole key (the primary key's order).
_TOKENS_AMONG = PreparedIn(
    lambda tokens: select(idempotency_keys).where(
        (idempotency_keys.c.account_id == bindparam("account_id"))
        & (idempotency_keys.c.operation == bindparam("operation"))
        & idempotency_keys.c.token.in_(tokens)
    )
)
_INSERT_TOKENS = for_rows(idempotency_keys.insert())


class SendBatch:
    """The store's batch for StartOutboundEmailContact (see `Store.write_batched`).

    A group costs two rounds of statements: the reads, then the writes. `run` sends them
    through a SQLAlchemy connection (SQLite, and PostgreSQL in a writer thread);
    `run_async` through psycopg's AsyncConnection on the event loop (PostgreSQL), where
    waiting for the database costs no thread hand-offs.
    """

    def run(self, connection: Connection, jobs: list[SendJob]) -> list[Outcome]:
        group = _Group(jobs)
        with pipeline(connection):  # the reads in one round trip on PostgreSQL
            cursors = [statement.run(connection, params) for statement, params in group.reads()]
        writes = group.decide([rows(cursor) for cursor in cursors])
        if writes:
            with pipeline(connection):  # one statement on PostgreSQL
                marked = write_all(connection, writes)
            group.check(marked.rowcount)
        return group.outcomes

    def takes(self, job: SendJob) -> bool:
        """Whether `run_async` may take the job; those it may not go to `run`."""
        return job.request.sender is not None

    async def run_async(
        self, connection: Any, dialect: Dialect, jobs: list[SendJob]
    ) -> list[Outcome]:
        """`run` on a psycopg AsyncConnection in autocommit mode (see `groups.LoopBatch`),
        in two round trips: BEGIN with the reads, then the writes with COMMIT. The contacts
        stay locked from the read to the commit, so none of them can have been sent
        meanwhile (the check `run` makes before its commit); a statement that fails stops
        the COMMIT queued after it. With nothing to write, the store commits."""
        group = _Group(jobs)
        async with connection.pipeline():
            await begin_async(connection)
            cursors = [await s.run_async(connection, dialect, p) for s, p in group.reads()]
        writes = group.decide([fetched(c.description, await c.fetchall()) for c in cursors])
        if writes:
            async with connection.pipeline():
                await write_all_async(connection, dialect, writes)
                await commit_async(connection)
        return group.outcomes

    def run_alone(self, connection: Connection, job: SendJob) -> dict[str, Any]:
        return job.alone(connection)


SEND_BATCH = SendBatch()


class _Group:
    """One group's requests, decided from what the reads found."""

    def __init__(self, jobs: list[SendJob]) -> None:
        self.jobs = jobs
        self.outcomes: list[Outcome] = [(False, RunAlone())] * len(jobs)
        self.accepted: list[outbound.Accepted] = []
        self.tokens: list[dict[str, Any]] = []
        self._token_reads = 0
        # TEMPLATE requests: the read that finds each one's template, by job.
        self._template_reads: dict[int, tuple[Any, ...]] = {}
        self._templates: dict[tuple[Any, ...], tuple[Prepared, dict[str, Any]]] = {}

    def reads(self) -> list[tuple[Prepared, dict[str, Any]]]:
        """The contacts, the instances' sender addresses, the client tokens and the message
        templates the group names."""
        jobs = self.jobs
        contact_ids = list({arns.resource_id(j.request.contact_id, "contact") for j in jobs})
        instance_ids = list({arns.resource_id(j.request.instance_id, "instance") for j in jobs})
        scopes: dict[tuple[str, str], set[str]] = {}
        for job in jobs:
            if job.token is not None:
                scopes.setdefault((job.token.account_id, job.token.operation), set()).add(
                    job.token.token
                )
        templates = self._templates
        for index, job in enumerate(jobs):
            if job.request.content is None:
                config = job.request.message["TemplatedMessageConfig"]
                read = sending.batch_read(Scope(job.account_id, job.region), config)
                if read is not None:
                    key = tuple(read[1].values())
                    self._template_reads[index] = key
                    templates.setdefault(key, read)
        self._token_reads = len(scopes)
        return [
            _CONTACTS_AMONG.bind(contact_ids),
            _SENDERS_AMONG.bind(instance_ids),
            *(
                _TOKENS_AMONG.bind(list(tokens), {"account_id": account, "operation": operation})
                for (account, operation), tokens in scopes.items()
            ),
            *templates.values(),
        ]

    def decide(self, found_rows: list[list[Fetched]]) -> list[tuple[Prepared, list[Any]]]:
        """Each request's outcome from the rows `reads` found; the writes for those taken,
        for `write_all`."""
        jobs = self.jobs
        found = {row.id: row for row in found_rows[0]}
        senders = {(row.instance_id, row.address): row for row in found_rows[1]}
        tokens_end = 2 + self._token_reads
        stored = {
            (row.account_id, row.operation, row.token): row
            for found_tokens in found_rows[2:tokens_end]
            for row in found_tokens
        }
        templates = {
            key: sending.batch_selected(found[0] if found else None, params)
            for (key, (_, params)), found in zip(
                self._templates.items(), found_rows[tokens_end:], strict=True
            )
        }
        taken: set[str] = set()
        answered: dict[tuple[str, str, str], tuple[str, dict[str, Any]]] = {}
        for index, job in enumerate(jobs):
            token, key = job.token, None
            if token is not None:
                key = (token.account_id, token.operation, token.token)
                replay = self._replay(job, stored.get(key), answered.get(key))
                if replay is not None:
                    self.outcomes[index] = replay
                    continue
            contact = found.get(arns.resource_id(job.request.contact_id, "contact"))
            template = templates.get(self._template_reads.get(index, ()))
            if not self._fits(job, contact, template):
                continue  # RunAlone: the single-request path says what it is
            try:
                outcome = self._accept(job, contact, senders, taken, template)
            except (ServiceError, sending.RenderOutside) as error:
                self.outcomes[index] = (False, error)
                continue
            self.outcomes[index] = (True, outcome.answer)
            if token is not None and key is not None:
                answered[key] = (token.request_hash, outcome.answer)
        if not self.accepted:
            return []
        writes: list[tuple[Prepared, list[Any]]] = [
            (outbound.INSERT_MESSAGE, [a.message for a in self.accepted]),
            (outbound.INSERT_OUTBOX, [a.outbox for a in self.accepted]),
        ]
        if self.tokens:  # a duplicate raises: one by one
            writes.append((_INSERT_TOKENS, self.tokens))
        # Last: `write_all` gives its count, which `check` compares.
        writes.append((contacts.MARK_SENT, [a.contact for a in self.accepted]))
        return writes

    def check(self, marked_sent: int) -> None:
        """Raise BatchConflict if another writer sent one of the contacts first: the whole
        group's writes are then undone and its requests run again one by one."""
        if marked_sent != len(self.accepted):
            raise BatchConflict

    @staticmethod
    def _replay(
        job: SendJob, row: Any, earlier: tuple[str, dict[str, Any]] | None
    ) -> Outcome | None:
        """The outcome of a request whose token is known (in the store or in this group)."""
        assert job.token is not None
        if earlier is None and (row is None or row.expires_at <= job.now):
            return None
        request_hash, answer = earlier or (row.request_hash, loads(row.response))
        if request_hash != job.token.request_hash:
            return False, ServiceError(
                job.token.conflict_code,
                "The client token was already used with different request parameters.",
            )
        return False, StoredAnswer(answer)

    @staticmethod
    def _fits(job: SendJob, contact: Any, template: Selected | None) -> bool:
        """Whether the batch can take the request: the common case, and nothing else."""
        return (
            contact is not None
            and (job.request.content is not None or template is not None)
            and job.request.sender is not None
            and contact.instance_id == job.request.instance_id  # ARNs: the single path checks
            and contact.id == job.request.contact_id
            and contact.instance_account_id == job.account_id
            and contact.instance_region == job.region
            and contact.instance_status != instances.DELETED
            and not contact.related_contact_id
            and not contact.pending_uploads
            # A template's attachments are read and held in the single-request path's write.
            and (template is None or not template.source.attachment_count)
        )

    def _accept(
        self,
        job: SendJob,
        contact: Any,
        senders: dict[tuple[str, str], Any],
        taken: set[str],
        template: Selected | None,
    ) -> outbound.Accepted:
        if contact.id in taken:
            raise invalid_request(f"Contact {contact.id} has already been sent.")
        contacts.check_sendable(contact, job.now)
        request = outbound.with_drafted_cc(job.request, contact, job.policy)
        assert request.sender is not None
        sender_row = senders.get((contact.instance_id, request.sender.address.lower()))
        if sender_row is None:
            raise invalid_request(
                f"FromEmailAddress {request.sender.address} is not an email address of "
                f"instance {contact.instance_id}."
            )
        sender = outbound.Mailbox(
            sender_row.address, request.sender.name or sender_row.display_name
        )
        content = request.content
        if content is None:
            assert template is not None
            content = sending.render_selected(
                template,
                request.message["TemplatedMessageConfig"],
                sending.Recipients(customer=request.to, system=sender),
                job.rendered,
                outside=job.outside,
            )
        accepted = outbound.build(
            outbound.Acceptance(contact, sender),
            request,
            content,
            job.now,
            parent=None,
            outgoing=attached_files.NOTHING_OUTGOING,
        )
        taken.add(contact.id)
        self.accepted.append(accepted)
        if job.token is not None:
            self.tokens.append(
                {
                    "account_id": job.token.account_id,
                    "operation": job.token.operation,
                    "token": job.token.token,
                    "request_hash": job.token.request_hash,
                    "response": dumps(accepted.answer),
                    "created_at": job.now,
                    "expires_at": job.now + job.ttl_seconds,
                }
            )
        return accepted


class BatchConflict(Exception):
    """The store changed under the batch; its requests run again one by one."""
