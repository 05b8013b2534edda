"""The GraphQL schema (`gateway.schema:schema`); `schema.graphql` at the repository root is its
exported SDL, kept equal by a test."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from functools import partial

import strawberry
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter

from gateway.resolvers import flows as resolve
from gateway.schema.execution import FlatMemoryExecutionContext
from gateway.schema.extensions import OperationMetrics
from gateway.schema.types import FlowsState, NodeFlowStatus

# Generous for every real query (the deepest, flows.collector.selector.key, is 4 levels) while
# refusing documents built to make the server work hard.
MAX_DEPTH = 8
MAX_ALIASES = 20
MAX_TOKENS = 2000


@strawberry.type
class Query:
    flows: FlowsState = strawberry.field(
        resolver=resolve.flows, description="The cluster's flow export state, one entry per node."
    )


@strawberry.type
class Mutation:
    start_flows: FlowsState = strawberry.mutation(
        resolver=resolve.start_flows,
        description="Start (or switch to) exporting flows of this type on every node. Idempotent.",
    )
    stop_flows: FlowsState = strawberry.mutation(
        resolver=resolve.stop_flows, description="Stop exporting flows on every node."
    )


@strawberry.type
class Subscription:
    node_flow_status: AsyncGenerator[NodeFlowStatus, None] = strawberry.subscription(
        resolver=resolve.node_flow_status,
        description="A snapshot of every node (or the one named), then each change as it happens.",
    )


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[
        partial(QueryDepthLimiter, max_depth=MAX_DEPTH),
        partial(MaxAliasesLimiter, max_alias_count=MAX_ALIASES),
        partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
        OperationMetrics,
    ],
    execution_context_class=FlatMemoryExecutionContext,
)
