"""Resolvers for flows, viewer, events, exportCosts, exportProjection, startFlows, stopFlows, nodeFlowStatus
and flowsTable."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

from gateway.access import ANONYMOUS_GATEWAY, StandingAccess, SwitchAccess, switch_access
from gateway.domain import export_cost
from gateway.domain.audit import AuditEntry
from gateway.domain.cost_projection import ExportProjection
from gateway.domain.errors import Unavailable
from gateway.domain.model import FlowsState, NodeFlowStatus
from gateway.domain.validation import StartRequest
from gateway.resolvers.context import Context
from gateway.service.audit import check_limit
from gateway.service.hub import StatusHub, TableUpdate, flow_informers
from gateway.service.switch import FlowSwitch


async def flows(ctx: Context) -> FlowsState:
    with ctx.errors():
        await ctx.reader()
        if not ctx.services.sharing:
            async with _own_listing(ctx) as hub:
                return hub.state()
        return ctx.services.hub.state()


@contextlib.asynccontextmanager
async def _own_listing(ctx: Context, *, watch: bool = False) -> AsyncIterator[StatusHub]:
    """The naive baseline: this request's own LIST of every kind (and its own watches)."""
    async with ctx.services.api_for(ANONYMOUS_GATEWAY) as api:
        informers = flow_informers(api)
        hub = StatusHub(informers, clock=api.server_time)
        await informers.list_once()
        if watch:
            informers.start()
        try:
            yield hub
        finally:
            hub.close()
            await informers.stop()


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


async def export_costs(ctx: Context) -> export_cost.ExportCostTable:
    with ctx.errors():
        await ctx.reader()  # every read is the caller's, like the rest of the API
        return export_cost.load()


async def export_projection(ctx: Context, request: StartRequest) -> ExportProjection:
    with ctx.errors():
        await ctx.reader()  # a dry run reads; it needs no right to switch
        if not ctx.services.sharing:
            async with _own_listing(ctx) as hub:
                return FlowSwitch(hub).dry_run(request)
        return ctx.services.switch.dry_run(request)


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
    async with contextlib.AsyncExitStack() as stack:
        hub = ctx.services.hub
        if not ctx.services.sharing:
            hub = await stack.enter_async_context(_own_listing(ctx, watch=True))
        # aclosing: the inner generator's cleanup (closing its mailbox) runs when the client goes.
        statuses = await stack.enter_async_context(contextlib.aclosing(_node_flow_status(ctx, hub, node)))
        async for status in statuses:
            yield status


async def _node_flow_status(ctx: Context, hub: StatusHub, node: str | None) -> AsyncGenerator[NodeFlowStatus, None]:
    with ctx.errors():
        await ctx.reader()
        mailbox = hub.subscribe(node)
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
    async with contextlib.AsyncExitStack() as stack:
        hub = ctx.services.hub
        if not ctx.services.sharing:
            hub = await stack.enter_async_context(_own_listing(ctx, watch=True))
        updates = await stack.enter_async_context(contextlib.aclosing(_flows_table(ctx, hub)))
        async for update in updates:
            yield update


async def _flows_table(ctx: Context, hub: StatusHub) -> AsyncGenerator[TableUpdate, None]:
    with ctx.errors():
        await ctx.reader()
        mailbox = hub.subscribe_table()
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
