"""Token buckets per account and operation, kept in the database so every process shares them.

Two profiles ship: `aws` (Amazon Connect's default quotas: 2 requests per second with a burst
of 5 for most operations, 10 with a burst of 15 for DescribeContact and StopContact; Amazon Q
in Connect 10 per second) and `unlimited`, which takes no buckets at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, select, update

from connectmail.errors import ServiceError
from connectmail.store.tables import rate_buckets
from connectmail.store.upsert import insert_ignore


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: float


@dataclass(frozen=True)
class Profile:
    name: str
    default: dict[str, Rate] = field(default_factory=dict)  # by service
    operations: dict[str, Rate] = field(default_factory=dict)  # by "service:Operation"

    def rate(self, service: str, operation: str) -> Rate | None:
        return self.operations.get(f"{service}:{operation}") or self.default.get(service)


PROFILES = {
    "unlimited": Profile("unlimited"),
    "aws": Profile(
        "aws",
        default={"connect": Rate(2, 5), "qconnect": Rate(10, 10)},
        operations={"connect:DescribeContact": Rate(10, 15), "connect:StopContact": Rate(10, 15)},
    ),
}


def take(connection: Connection, account_id: str, bucket: str, rate: Rate, now: float) -> bool:
    """Take one token from the bucket; False when it is empty (the request is throttled)."""
    key = (rate_buckets.c.account_id == account_id) & (rate_buckets.c.bucket == bucket)
    if insert_ignore(
        connection,
        rate_buckets,
        {"account_id": account_id, "bucket": bucket, "tokens": rate.burst - 1, "updated_at": now},
        ["account_id", "bucket"],
    ):
        return True
    query = select(rate_buckets.c.tokens, rate_buckets.c.updated_at).where(key)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    row = connection.execute(query).one()
    tokens = min(rate.burst, row.tokens + max(0.0, now - row.updated_at) * rate.per_second)
    allowed = bool(tokens >= 1)
    connection.execute(
        update(rate_buckets)
        .where(key)
        .values(tokens=tokens - 1 if allowed else tokens, updated_at=max(now, row.updated_at))
    )
    return allowed


def throttled(operation: str) -> ServiceError:
    return ServiceError("ThrottlingException", f"Rate exceeded for {operation}.")
