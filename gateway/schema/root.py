"""The root types and the schema (`gateway.schema.root:schema`). Each root field takes GraphQL
arguments, calls its resolver with domain values and converts the domain answer to the GraphQL
types: the only place the two meet."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from contextlib import aclosing
from functools import partial
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError, specified_rules
from strawberry.extensions import AddValidationRules, MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types import ExecutionResult, Info
from strawberry.types.graphql import OperationType

from gateway.domain import model
from gateway.resolvers import flows as resolve
from gateway.resolvers.context import Context
from gateway.schema.execution import FlatMemoryExecutionContext
from gateway.schema.extensions import NestingLimit, OneMutationPerRequest, OperationMetrics
from gateway.schema.types import (
    CollectorInput,
    ExportCostTable,
    ExportProjection,
    FlowEvent,
    FlowsState,
    FlowsTableUpdate,
    LabelInput,
    NodeChoiceArguments,
    NodeFlowStatus,
    Viewer,
)

# Generous for every real query (the deepest, flows.collector.selector.key, is 4 levels) while
# refusing documents built to make the server work hard.
MAX_DEPTH = 8
MAX_ALIASES = 20
MAX_TOKENS = 2000

GraphInfo = Info[Context, None]

# What the schema's extensions check, as graphql-core rules: for the documents the gateway
# validates itself (live operations, planned `flows` queries) before executing them directly.
VALIDATION_RULES = [
    *specified_rules,
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    OneMutationPerRequest,
    NestingLimit,
]

# startFlows' (and its dry run's) arguments about for how long and where.
DurationSeconds = Annotated[
    int | None,
    strawberry.argument(
        description=f"Export for this long (1 to {model.MAX_DURATION_SECONDS}: at most 168h), then every "
        "node stops by itself, also with the gateway and the API server gone. Counted from the API "
        "server's clock. Null: until stopped."
    ),
]
NodeNames = Annotated[
    list[str] | None,
    strawberry.argument(
        description=f"Export only from the nodes with these names (1 to {model.MAX_CHOSEN_NODES}); the "
        "others report DISABLED, not selected. Names that are no node are refused unless "
        "ignoreUnknownNodes is true."
    ),
]
NodeSelector = Annotated[
    list[LabelInput] | None,
    strawberry.argument(
        description="Export only from the nodes carrying all these labels; a node gaining or losing one "
        "joins or leaves without a new start. Not together with nodes."
    ),
]
IgnoreUnknownNodes = Annotated[
    bool,
    strawberry.argument(
        description="With nodes: start on the names that are nodes of this cluster, leaving out the others "
        "(at least one must be), instead of refusing the start."
    ),
]


@strawberry.type
class Query:
    @strawberry.field(description="The cluster's flow export state, one entry per node.")
    async def flows(self, info: GraphInfo) -> FlowsState:
        return FlowsState.from_domain(await resolve.flows(info.context))

    @strawberry.field(description="Who is asking, and whether they may switch flow export (asked as them).")
    async def viewer(self, info: GraphInfo) -> Viewer:
        return Viewer.from_domain(await resolve.viewer(info.context))

    @strawberry.field(
        description="The latest Events about flow export, newest first: who started, switched or stopped it, "
        "and nodes that turned to Error (at most 100)."
    )
    async def events(self, info: GraphInfo, limit: int = 10) -> list[FlowEvent]:
        return [FlowEvent.from_domain(e) for e in await resolve.events(info.context, limit)]

    @strawberry.field(
        description="What each export type and sampling costs a node (CPU, memory, export traffic), as measured "
        "on Open vSwitch: the price to see before switching."
    )
    async def export_costs(self, info: GraphInfo) -> ExportCostTable:
        return ExportCostTable.from_domain(await resolve.export_costs(info.context))

    @strawberry.field(
        description="A dry run of startFlows with the same arguments: the same checks and errors, then what the "
        "setting would cost each node it would choose at the traffic it carries now, and in total. Changes nothing."
    )
    async def export_projection(
        self,
        info: GraphInfo,
        type: model.FlowType,
        collector: CollectorInput | None = None,
        sampling: int | None = None,
        active_timeout_seconds: int | None = None,
        cache_max_flows: int | None = None,
        duration_seconds: DurationSeconds = None,
        nodes: NodeNames = None,
        node_selector: NodeSelector = None,
        ignore_unknown_nodes: IgnoreUnknownNodes = False,
    ) -> ExportProjection:
        choice = NodeChoiceArguments(duration_seconds, nodes, node_selector, ignore_unknown_nodes)
        request = (collector or CollectorInput()).start_request(
            type, sampling, active_timeout_seconds, cache_max_flows, choice
        )
        return ExportProjection.from_domain(await resolve.export_projection(info.context, request))


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Start (or switch to) exporting flows of this type, on every node or the ones chosen, until "
        "stopped or for a while. What it asks for replaces what runs (a new duration, a new deadline). Idempotent "
        "without a duration."
    )
    async def start_flows(
        self,
        info: GraphInfo,
        type: model.FlowType,
        collector: CollectorInput | None = None,
        sampling: int | None = None,
        active_timeout_seconds: int | None = None,
        cache_max_flows: int | None = None,
        duration_seconds: DurationSeconds = None,
        nodes: NodeNames = None,
        node_selector: NodeSelector = None,
        ignore_unknown_nodes: IgnoreUnknownNodes = False,
    ) -> FlowsState:
        choice = NodeChoiceArguments(duration_seconds, nodes, node_selector, ignore_unknown_nodes)
        request = (collector or CollectorInput()).start_request(
            type, sampling, active_timeout_seconds, cache_max_flows, choice
        )
        return FlowsState.from_domain(await resolve.start_flows(info.context, request))

    @strawberry.mutation(description="Stop exporting flows on every node.")
    async def stop_flows(self, info: GraphInfo) -> FlowsState:
        return FlowsState.from_domain(await resolve.stop_flows(info.context))


@strawberry.type
class Subscription:
    @strawberry.subscription(description="A snapshot of every node (or the one named), then each change as it happens.")
    async def node_flow_status(self, info: GraphInfo, node: str | None = None) -> AsyncGenerator[NodeFlowStatus, None]:
        # aclosing: when the client goes, the resolver's own cleanup (closing its mailbox) runs
        # at once, not whenever the inner generator is collected.
        async with aclosing(resolve.node_flow_status(info.context, node)) as statuses:
            async for status in statuses:
                yield NodeFlowStatus.from_domain(status)

    @strawberry.subscription(
        description="Every node in one message, then batched changes and removed nodes: what a live table needs."
    )
    async def flows_table(self, info: GraphInfo) -> AsyncGenerator[FlowsTableUpdate, None]:
        async with aclosing(resolve.flows_table(info.context)) as updates:
            async for update in updates:
                yield FlowsTableUpdate.from_domain(update)


SUBSCRIPTION_OVER_HTTP = (
    "A subscription streams over a WebSocket: open one to /graphql (graphql-transport-ws or graphql-ws) "
    "and subscribe there; over HTTP only queries and mutations run."
)


class GatewaySchema(strawberry.Schema):
    """The schema, answering a subscription sent as an HTTP request with a sentence. Strawberry lets
    it through (for its multipart transport, which flowgate's clients do not use) and the root field
    then fails as null: "Cannot return null for non-nullable field", an INTERNAL error with a
    traceback in the log. Subscriptions over WebSocket go through `subscribe`, not here."""

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        allowed = set(DEFAULT_ALLOWED_OPERATION_TYPES if allowed_operation_types is None else allowed_operation_types)
        allowed.discard(OperationType.SUBSCRIPTION)
        try:
            return await super().execute(
                query, variable_values, context_value, root_value, operation_name, allowed, operation_extensions
            )
        except InvalidOperationTypeError as exc:
            if exc.operation_type is not OperationType.SUBSCRIPTION:
                raise
            error = GraphQLError(SUBSCRIPTION_OVER_HTTP, extensions={"code": "INVALID_QUERY"})
            return ExecutionResult(data=None, errors=[error])


schema = GatewaySchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[
        partial(QueryDepthLimiter, max_depth=MAX_DEPTH),
        partial(MaxAliasesLimiter, max_alias_count=MAX_ALIASES),
        partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
        partial(AddValidationRules, [OneMutationPerRequest, NestingLimit]),
        OperationMetrics,
    ],
    execution_context_class=FlatMemoryExecutionContext,
)
