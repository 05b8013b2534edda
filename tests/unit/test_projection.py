"""A live operation's shared results, and a planned `flows` answer, are exactly what GraphQL
execution of that operation gives: the direct row serialisation and the spliced flowsTable
updates and `flows` answers are compared with graphql-core's own execution, over aliases,
fragments, __typename and @skip/@include."""

from __future__ import annotations

import json
from typing import Any

import pytest
from graphql import execute, get_operation_ast, parse

from gateway.domain.model import (
    CollectorTarget,
    Delivery,
    FlowsState,
    FlowsSummary,
    FlowType,
    NodeFlowState,
    NodeFlowStatus,
)
from gateway.kube.resources import FLOW_EXPORTS, FLOWS, NODES
from gateway.resolvers.context import Context
from gateway.schema.projection import LivePlan, QueryPlan, RowCache, live_operation
from gateway.schema.root import schema
from tests.unit.fakes import Cluster, export, flow, node, services

GRAPHQL = schema._schema

ROWS = (
    NodeFlowStatus("node-1", NodeFlowState.EMITTING, FlowType.IPFIX, "10.0.0.1:4739", None, "2026-01-01T00:00:00Z", 3),
    NodeFlowStatus("node-2", NodeFlowState.ERROR, FlowType.IPFIX, None, 'no collector "é" \n here', None, 3),
    NodeFlowStatus("node-3", NodeFlowState.PENDING, FlowType.IPFIX, None, "waiting", None, None),
    NodeFlowStatus(
        "node-4",
        NodeFlowState.EMITTING,
        FlowType.IPFIX,
        "10.0.0.4:4739",
        observed_generation=3,
        delivery=Delivery.NOT_RECEIVED,
        records_per_second=0.125,
        last_record_at="2026-01-01T00:00:00Z",
        delivery_since="2026-01-01T00:00:30Z",
        delivery_message="The collector has counted no IPFIX records since 2026-01-01T00:00:00Z.",
    ),
    NodeFlowStatus(
        "node-5",
        NodeFlowState.EMITTING,
        FlowType.IPFIX,
        "10.0.0.5:4739",
        delivery=Delivery.CONFIRMED,
        records_per_second=40.0,
    ),
)
STATE = FlowsState(
    enabled=True,
    type=FlowType.IPFIX,
    collector=CollectorTarget(selector=(("role", "flows-collector"),)),
    network_type="OVNKubernetes",
    supported=True,
    unsupported_reason=None,
    generation=3,
    summary=FlowsSummary(5, 0, 1, 3, 1),
    nodes=ROWS,
)

NODE_DOCUMENTS = [
    "subscription { nodeFlowStatus { node state type endpoint message updatedAt observedGeneration } }",
    "subscription S($n: String) { nodeFlowStatus(node: $n) { n: node s: state node __typename } }",
    "subscription { live: nodeFlowStatus { ...Row ... on NodeFlowStatus { endpoint } } } fragment Row on NodeFlowStatus { node state }",
    "subscription S($x: Boolean!) { nodeFlowStatus { node state @skip(if: $x) type @include(if: $x) message @include(if: true) } }",
    "subscription { nodeFlowStatus { node delivery recordsPerSecond lastRecordAt deliverySince deliveryMessage } }",
]
TABLE_DOCUMENTS = [
    "subscription { flowsTable { snapshot removed state { enabled type summary { total emitting } } changed { node state endpoint } } }",
    "subscription { t: flowsTable { a: changed { node } b: changed { node } snapshot } }",
    "subscription { flowsTable { changed { ...R } state { unsupportedReason collector { description selector { key value } } } } } fragment R on NodeFlowStatus { node __typename state }",
    # Different fields under two aliases of `changed`, and rows inside `state`: executed as usual.
    "subscription { flowsTable { a: changed { node } b: changed { state } state { nodes { node } } } }",
    "subscription S($x: Boolean!) { flowsTable { changed @skip(if: $x) { node } removed snapshot } }",
    "subscription { flowsTable { changed { node delivery recordsPerSecond deliveryMessage } snapshot } }",
]


def plans(text: str, variables: dict[str, Any] | None = None) -> tuple[LivePlan, LivePlan]:
    document = parse(text)
    operation = live_operation(GRAPHQL, document, None)
    assert operation is not None
    fast = LivePlan(GRAPHQL, document, operation, variables, None)
    slow = LivePlan(GRAPHQL, document, operation, variables, None)
    slow.compiled = False
    return fast, slow


@pytest.mark.parametrize("text", NODE_DOCUMENTS)
@pytest.mark.parametrize("flag", [True, False])
def test_node_payloads_equal_graphql_execution(text: str, flag: bool) -> None:
    fast, slow = plans(text, {"x": flag, "n": "node-1"})
    for row in ROWS:
        assert json.loads(fast.node_payload(row)) == json.loads(slow.node_payload(row))


@pytest.mark.parametrize("text", TABLE_DOCUMENTS)
@pytest.mark.parametrize("flag", [True, False])
def test_table_payloads_equal_graphql_execution(text: str, flag: bool) -> None:
    fast, slow = plans(text, {"x": flag})
    for args in ((True, ROWS, ()), (False, ROWS[1:], ("node-9",)), (False, (), ())):
        assert json.loads(fast.table_payload(*args, STATE)) == json.loads(slow.table_payload(*args, STATE))


def test_the_common_shapes_are_served_without_executing_rows() -> None:
    for text in (NODE_DOCUMENTS[0], TABLE_DOCUMENTS[0], TABLE_DOCUMENTS[1]):
        assert plans(text)[0].compiled, text
    assert not plans(TABLE_DOCUMENTS[3])[0].compiled


def test_rows_are_cached_until_the_row_changes() -> None:
    fast, _ = plans(NODE_DOCUMENTS[0])
    first = fast.row_json(ROWS[0])
    assert fast.row_json(ROWS[0]) is first
    changed = NodeFlowStatus("node-1", NodeFlowState.ERROR, FlowType.IPFIX, None, "gone", None, 4)
    assert json.loads(fast.row_json(changed))["state"] == "ERROR"


def test_text_that_looks_like_the_splice_marker_is_data_not_rows() -> None:
    tricky = NodeFlowStatus("node-1", NodeFlowState.ERROR, None, None, '"@@rows-0@@"', None, 1)
    fast, slow = plans(TABLE_DOCUMENTS[0])
    assert json.loads(fast.table_payload(False, (tricky,), (), STATE)) == json.loads(
        slow.table_payload(False, (tricky,), (), STATE)
    )


QUERY_DOCUMENTS = [
    "{ flows { enabled type generation summary { total emitting } nodes { node state type endpoint message updatedAt observedGeneration } } }",
    "{ a: flows { n: nodes { node } } b: flows { enabled nodes { node } } __typename }",
    "query Q($x: Boolean!) { flows { nodes @skip(if: $x) { node state } ...F } } fragment F on FlowsState { nodes { message } supported }",
    "{ flows { nodes { node __typename delivery recordsPerSecond deliveryMessage } collector { description } } }",
    # Different fields under two aliases of `nodes`: executed as usual.
    "{ flows { a: nodes { node } b: nodes { state } } }",
    "{ flows { enabled } }",
]


@pytest.fixture
def cluster() -> Cluster:
    cluster = Cluster()
    for name in ("node-a", "node-b", "node-c"):
        cluster.put(NODES, node(name))
    cluster.sync()
    cluster.put(FLOW_EXPORTS, export("NetFlow", 2))
    cluster.put(FLOWS, flow("node-a", "Emitting", 2, "10.0.0.1:2055"))
    tricky = flow("node-b", "Error", 2)
    tricky["status"]["message"] = 'no collector "é" \n here "@@rows-0@@"'
    cluster.put(FLOWS, tricky)
    return cluster


async def planned_answer(cluster: Cluster, text: str, variables: dict[str, Any]) -> dict[str, Any] | None:
    document = parse(text)
    operation = get_operation_ast(document, None)
    assert operation is not None
    plan = QueryPlan(GRAPHQL, document, operation, variables, None)
    if not plan.compiled:
        return None
    context = Context(services=services(cluster.hub))
    result = await execute(GRAPHQL, plan.executed, context_value=context, variable_values=variables)  # type: ignore[misc]
    assert not result.errors
    rows = None if plan.rows is None else RowCache(plan.rows)
    return json.loads(plan.render(result.data, rows, cluster.hub.statuses()))  # type: ignore[no-any-return]


@pytest.mark.parametrize("text", QUERY_DOCUMENTS)
@pytest.mark.parametrize("flag", [True, False])
async def test_planned_flows_answers_equal_graphql_execution(cluster: Cluster, text: str, flag: bool) -> None:
    variables = {"x": flag}
    executed = await schema.execute(
        text, variable_values=variables, context_value=Context(services=services(cluster.hub))
    )
    assert not executed.errors
    planned = await planned_answer(cluster, text, variables)
    assert planned is None or planned == {"data": executed.data}
    assert (planned is None) == ("a: nodes { node } b: nodes { state }" in text)


async def test_a_planned_answer_writes_only_the_rows_that_changed(cluster: Cluster) -> None:
    document = parse(QUERY_DOCUMENTS[0])
    operation = get_operation_ast(document, None)
    assert operation is not None
    plan = QueryPlan(GRAPHQL, document, operation, None, None)
    assert plan.rows is not None
    rows = RowCache(plan.rows)
    before = [rows.json(s) for s in cluster.hub.statuses()]
    cluster.put(FLOWS, flow("node-c", "Emitting", 2, "10.0.0.3:2055"))
    after = [rows.json(s) for s in cluster.hub.statuses()]
    assert [a is b for a, b in zip(before, after, strict=True)] == [True, True, False]
    assert json.loads(after[2])["state"] == "EMITTING"
