"""Handlers for the email addresses of an instance and their aliases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from connectmail.aws import RequestContext, operation
from connectmail.connect.base import Handlers
from connectmail.domain import email_addresses, instances
from connectmail.store.tables import Record

# associate_alias or disassociate_alias: (connection, instance, primary, alias, now).
AliasChange = Callable[[Connection, Record, str, str, float], None]


class EmailAddressHandlers(Handlers):
    @operation("CreateEmailAddress")
    async def create_email_address(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        def create(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            return email_addresses.create(
                c, instance, params, now, self.settings.email_addresses_per_instance
            )

        return await self.write_once(ctx, params, create)

    @operation("DescribeEmailAddress")
    async def describe_email_address(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        def describe(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            return email_addresses.describe(
                c, email_addresses.require(c, instance, params["EmailAddressId"])
            )

        return await self.read(describe)

    @operation("SearchEmailAddresses")
    async def search_email_addresses(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        def search(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            return email_addresses.search(c, instance, params)

        return await self.read(search)

    @operation("UpdateEmailAddressMetadata")
    async def update_email_address_metadata(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        def update(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            row = email_addresses.require(c, instance, params["EmailAddressId"])
            return email_addresses.update_metadata(c, row, params, now)

        return await self.write_once(ctx, params, update)

    @operation("DeleteEmailAddress")
    async def delete_email_address(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        def delete(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            email_addresses.remove(
                c, instance, email_addresses.require(c, instance, params["EmailAddressId"]), now
            )
            return {}

        return await self.write_once(ctx, params, delete)

    @operation("AssociateEmailAddressAlias")
    async def associate_email_address_alias(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._alias_change(ctx, params, email_addresses.associate_alias)

    @operation("DisassociateEmailAddressAlias")
    async def disassociate_email_address_alias(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._alias_change(ctx, params, email_addresses.disassociate_alias)

    async def _alias_change(
        self, ctx: RequestContext, params: dict[str, Any], change: AliasChange
    ) -> dict[str, Any]:
        def write(c: Connection, now: float) -> dict[str, Any]:
            instance = instances.require(c, ctx.account_id, ctx.region, params["InstanceId"])
            alias = params["AliasConfiguration"]["EmailAddressId"]
            change(c, instance, params["EmailAddressId"], alias, now)
            return {}

        return await self.write_once(ctx, params, write)
