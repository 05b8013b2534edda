"""Resolvers for flows, startFlows, stopFlows and nodeFlowStatus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from strawberry.types import Info

from gateway.access import StandingAccess
from gateway.domain.model import FlowType
from gateway.flows.control import StartRequest
from gateway.resolvers.context import Context
from gateway.schema.types import CollectorInput, FlowsState, NodeFlowStatus

GraphInfo = Info[Context, None]


async def flows(info: GraphInfo) -> FlowsState:
    ctx = info.context
    with ctx.errors():
        await ctx.reader()
        return FlowsState.from_domain(ctx.services.hub.state())


async def start_flows(
    info: GraphInfo,
    type: FlowType,
    collector: CollectorInput | None = None,
    sampling: int | None = None,
    active_timeout_seconds: int | None = None,
    cache_max_flows: int | None = None,
) -> FlowsState:
    ctx = info.context
    collector = collector or CollectorInput()
    request = StartRequest(
        type=type,
        node_port=collector.node_port,
        selector=None if collector.selector is None else [(label.key, label.value) for label in collector.selector],
        targets=collector.targets,
        sampling=sampling,
        active_timeout_seconds=active_timeout_seconds,
        cache_max_flows=cache_max_flows,
    )
    with ctx.errors():
        caller = await ctx.reader()
        return FlowsState.from_domain(await ctx.services.control.start(caller, request))


async def stop_flows(info: GraphInfo) -> FlowsState:
    ctx = info.context
    with ctx.errors():
        caller = await ctx.reader()
        return FlowsState.from_domain(await ctx.services.control.stop(caller))


async def node_flow_status(info: GraphInfo, node: str | None = None) -> AsyncGenerator[NodeFlowStatus, None]:
    ctx = info.context
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
                yield NodeFlowStatus.from_domain(status)
    finally:
        mailbox.close()  # at once when the client goes, not whenever the generator is collected
