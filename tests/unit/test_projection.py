"""A live operation's shared results are exactly what GraphQL execution of that operation gives:
the direct row serialisation and the spliced flowsTable updates are compared with graphql-core's
own execution, over aliases, fragments, __typename and @skip/@include."""

from __future__ import annotations

import json
from typing import Any

import pytest
from graphql import parse

from gateway.domain.model import (
    CollectorTarget,
    Delivery,
    FlowsState,
    FlowsSummary,
    FlowType,
    NodeFlowState,
    NodeFlowStatus,
)
from gateway.schema.projection import LivePlan, live_operation
from gateway.schema.root import schema

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
