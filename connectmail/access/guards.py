"""Checks every request passes after it is authenticated and parsed: policy, then rate."""

from __future__ import annotations

import time
from typing import Any

from connectmail.access.policy import Policy
from connectmail.access.resources import resource_arns
from connectmail.access.throttling import Profile, take, throttled
from connectmail.aws.api import RequestContext
from connectmail.store.store import Store

# IAM action prefixes: a service's signing name.
ACTION_PREFIX = {"connect": "connect", "qconnect": "wisdom"}


async def authorize(ctx: RequestContext, params: dict[str, Any]) -> None:
    """Deny what the key's policy does not allow (keys without a policy may do anything)."""
    policy = ctx.principal.policy
    if isinstance(policy, Policy):
        action = f"{ACTION_PREFIX.get(ctx.service, ctx.service)}:{ctx.operation}"
        for resource in resource_arns(ctx.service, ctx.region, ctx.account_id, params):
            policy.check(action, resource)


class Throttle:
    """Throttles per account and operation with the buckets of a profile."""

    def __init__(self, store: Store, profile: Profile) -> None:
        self._store = store
        self._profile = profile

    async def __call__(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        rate = self._profile.rate(ctx.service, ctx.operation)
        if rate is None:
            return
        bucket = f"{ctx.region}:{ctx.service}:{ctx.operation}"  # AWS quotas are per Region
        now = time.time()
        if not await self._store.write(lambda c: take(c, ctx.account_id, bucket, rate, now)):
            raise throttled(ctx.operation)
