"""Resolvers for flows, viewer, events, startFlows, stopFlows, nodeFlowStatus and flowsTable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from gateway.access import StandingAccess, SwitchAccess, switch_access
from gateway.domain.audit import AuditEntry
from gateway.domain.errors import Unavailable
from gateway.domain.model import FlowsState, NodeFlowStatus
from gateway.domain.validation import StartRequest
from gateway.resolvers.context import Context
from gateway.service.audit import check_limit
from gateway.service.hub import TableUpdate


async def flows(ctx: Context) -> FlowsState:
    with ctx.errors():
        await ctx.reader()
        return ctx.services.hub.state()


async def viewer(ctx: Context) -> SwitchAccess:
    with ctx.errors():
        caller = await ctx.reader()
        async with ctx.services.api_for(caller) as api:
            return await switch_access(api, caller, ctx.services.hub.export() is not None)


async def events(ctx: Context, limit: int) -> list[AuditEntry]:
    with ctx.errors():
        await ctx.reader()
        check_limit(limit)
        if ctx.services.audit is None:
            raise Unavailable("This gateway does not read Events; ask the API server (kubectl get events).")
        return ctx.services.audit.latest(limit)


async def start_flows(ctx: Context, request: StartRequest) -> FlowsState:
    with ctx.errors():
        caller = await ctx.reader()
        async with ctx.services.api_for(caller) as api:
            return await ctx.services.switch.start(api, request, user=caller.username)


async def stop_flows(ctx: Context) -> FlowsState:
    with ctx.errors():
        caller = await ctx.reader()
        async with ctx.services.api_for(caller) as api:
            return await ctx.services.switch.stop(api, user=caller.username)


async def node_flow_status(ctx: Context, node: str | None = None) -> AsyncGenerator[NodeFlowStatus, None]:
    with ctx.errors():
        await ctx.reader()
        mailbox = ctx.services.hub.subscribe(node)
    # A subscription outlives any one access decision: a revoked permission ends it (FORBIDDEN)
    # instead of streaming on for days.
    access = StandingAccess(ctx.services.authorizer, ctx.token())
    try:
        while True:
            # A change already waiting needs no timer; only an idle wait is bounded by the next
            # access check (a timer per event would pile up in the loop on a busy subscription).
            status = mailbox.get_nowait()
            if status is None:
                try:
                    async with asyncio.timeout_at(access.due):
                        status = await mailbox.get()
                except TimeoutError:
                    status = None
            with ctx.errors():
                await access.recheck_if_due()
            if status is not None:
                yield status
    finally:
        mailbox.close()  # at once when the client goes, not whenever the generator is collected


async def flows_table(ctx: Context) -> AsyncGenerator[TableUpdate, None]:
    with ctx.errors():
        await ctx.reader()
        mailbox = ctx.services.hub.subscribe_table()
    access = StandingAccess(ctx.services.authorizer, ctx.token())
    try:
        while True:
            update = mailbox.get_nowait() if mailbox.pending else None
            if update is None:
                try:
                    async with asyncio.timeout_at(access.due):
                        update = await mailbox.get()
                except TimeoutError:
                    update = None
            with ctx.errors():
                await access.recheck_if_due()
            if update is not None:
                yield update
    finally:
        mailbox.close()
