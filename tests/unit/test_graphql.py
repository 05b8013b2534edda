"""The GraphQL API in process: the schema executed directly over a hand-fed hub, and the whole
Starlette app (HTTP, graphql-transport-ws, /healthz, /readyz, /metrics) over an in-memory API
server through Starlette's test client. No process, socket or API server is involved; the
integration tier runs the same operations against the real gateway and API server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from graphql import get_introspection_query
from kubernetes_asyncio.client import Configuration
from starlette.testclient import TestClient

from gateway.access import Caller
from gateway.kube.config import ClusterAccess
from gateway.kube.resources import CONFIG_NETWORKS, EVENTS, FLOW_EXPORTS, FLOWS, NODES, OPERATOR_NETWORKS
from gateway.resolvers.context import Context
from gateway.schema.root import SUBSCRIPTION_OVER_HTTP, schema
from gateway.server.app import create_app
from gateway.server.settings import GatewaySettings
from gateway.service.audit import AuditLog
from gateway.watch.informer import Informer
from tests.unit.fakes import Cluster, FakeKube, NeverSource, export, flow, node, services
from tests.unit.sockets import receive_json
from tests.unit.test_switch import ScriptedApi

FLOWS_QUERY = "{ flows { enabled type supported networkType generation summary { total pending emitting } nodes { node state } } }"
START = "mutation($c: CollectorInput) { startFlows(type: IPFIX, collector: $c, sampling: 64) { enabled type generation collector { description } } }"


@pytest.fixture
def cluster() -> Cluster:
    cluster = Cluster()
    for name in ("node-a", "node-b"):
        cluster.put(NODES, node(name))
    cluster.sync()
    return cluster


async def execute(cluster: Cluster, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
    ctx = Context(services=services(cluster.hub, **kw))
    return await schema.execute(query, variable_values=variables, context_value=ctx)


async def test_flows_is_derived_from_the_watched_state(cluster: Cluster) -> None:
    cluster.put(FLOW_EXPORTS, export("NetFlow", 3))
    cluster.put(FLOWS, flow("node-a", "Emitting", 3, endpoint="10.0.0.1:30001"))
    result = await execute(cluster, FLOWS_QUERY)
    assert result.errors is None
    assert result.data == {
        "flows": {
            "enabled": True,
            "type": "NETFLOW",
            "supported": True,
            "networkType": "OVNKubernetes",
            "generation": 3,
            "summary": {"total": 2, "pending": 1, "emitting": 1},
            "nodes": [{"node": "node-a", "state": "EMITTING"}, {"node": "node-b", "state": "PENDING"}],
        }
    }


async def test_delivery_is_served_from_the_flows_status(cluster: Cluster) -> None:
    cluster.put(FLOW_EXPORTS, export("NetFlow", 3))
    emitting = flow("node-a", "Emitting", 3, endpoint="10.0.0.1:30001")
    emitting["status"]["delivery"] = {
        "state": "NotReceived",
        "recordsPerSecond": 0,
        "lastRecordTime": "2026-01-01T00:00:00Z",
        "lastTransitionTime": "2026-01-01T00:00:30Z",
        "message": "The collector has counted no NetFlow records since 2026-01-01T00:00:00Z.",
    }
    cluster.put(FLOWS, emitting)
    query = "{ flows { nodes { node delivery recordsPerSecond lastRecordAt deliverySince deliveryMessage } } }"
    result = await execute(cluster, query)
    assert result.errors is None
    assert result.data["flows"]["nodes"] == [
        {
            "node": "node-a",
            "delivery": "NOT_RECEIVED",
            "recordsPerSecond": 0.0,
            "lastRecordAt": "2026-01-01T00:00:00Z",
            "deliverySince": "2026-01-01T00:00:30Z",
            "deliveryMessage": "The collector has counted no NetFlow records since 2026-01-01T00:00:00Z.",
        },
        # Not yet acting on generation 3: nothing to judge.
        {
            "node": "node-b",
            "delivery": "UNKNOWN",
            "recordsPerSecond": None,
            "lastRecordAt": None,
            "deliverySince": None,
            "deliveryMessage": None,
        },
    ]


async def test_start_with_a_metrics_port(cluster: Cluster) -> None:
    api = ScriptedApi()
    api.on_store = lambda obj: cluster.put(FLOW_EXPORTS, obj)
    ctx = Context(services=services(cluster.hub))
    ctx.services.api_for = lambda caller: api
    result = await schema.execute(
        "mutation { startFlows(type: NETFLOW, collector: {nodePort: 30001, metricsPort: 30002}) "
        "{ collector { nodePort metricsPort description } } }",
        context_value=ctx,
    )
    assert result.errors is None, result.errors
    assert result.data == {
        "startFlows": {
            "collector": {
                "nodePort": 30001,
                "metricsPort": 30002,
                "description": "nodePort 30001 (metrics on port 30002)",
            }
        }
    }
    assert api.stored is not None and api.stored["spec"]["collector"] == {"nodePort": 30001, "metricsPort": 30002}


async def test_start_writes_through_the_callers_api_and_answers_the_new_state(cluster: Cluster) -> None:
    api = ScriptedApi()
    api.on_store = lambda obj: cluster.put(FLOW_EXPORTS, obj)
    ctx = Context(services=services(cluster.hub))
    callers: list[Caller] = []

    def api_for(caller: Caller) -> Any:
        callers.append(caller)
        return api

    ctx.services.api_for = api_for
    result = await schema.execute(START, variable_values={"c": {"nodePort": 30001}}, context_value=ctx)
    assert result.errors is None, result.errors
    assert result.data == {
        "startFlows": {
            "enabled": True,
            "type": "IPFIX",
            "generation": 1,
            "collector": {"description": "nodePort 30001"},
        }
    }
    assert api.calls == ["get", "create"] and len(callers) == 1
    assert api.stored is not None
    assert api.stored["spec"] == {"type": "IPFIX", "collector": {"nodePort": 30001}, "sampling": 64}


@pytest.mark.parametrize(
    ("collector", "field"),
    [
        ({"nodePort": 70000}, "collector.nodePort"),
        ({"targets": ["10.0.0.1"]}, "collector.targets"),
        ({"nodePort": 30001, "metricsTarget": "10.0.0.1:8080"}, "collector.metricsTarget"),
        ({"targets": ["10.0.0.1:2055"], "metricsPort": 8080}, "collector.metricsPort"),
        ({"selector": []}, "collector.selector"),
        ({"nodePort": 1, "targets": ["10.0.0.1:1"]}, "collector"),
    ],
)
async def test_invalid_arguments_name_their_field_and_write_nothing(
    cluster: Cluster, collector: dict[str, Any], field: str
) -> None:
    result = await execute(cluster, START, {"c": collector})
    assert result.data is None
    (error,) = result.errors
    assert error.extensions == {"code": "INVALID_ARGUMENT", "field": field}
    assert field in error.message
    assert cluster.hub.export() is None


async def test_an_unsupported_network_answers_with_its_sentence(cluster: Cluster) -> None:
    cluster.put(CONFIG_NETWORKS, {"metadata": {"name": "cluster"}, "status": {"networkType": "OpenShiftSDN"}})
    result = await execute(cluster, START, {"c": None})
    (error,) = result.errors
    assert (error.message, error.extensions) == (
        "OpenShiftSDN does not support flows tracing.",
        {"code": "UNSUPPORTED_NETWORK"},
    )


async def test_a_document_built_to_make_the_server_work_is_refused(cluster: Cluster) -> None:
    aliases = " ".join(f"a{i}: flows {{ enabled }}" for i in range(30))
    result = await execute(cluster, "{ " + aliases + " }")
    assert result.errors and "aliases" in result.errors[0].message.lower()


async def test_subscription_snapshot_then_changes(cluster: Cluster) -> None:
    ctx = Context(services=services(cluster.hub))
    stream = await schema.subscribe("subscription { nodeFlowStatus { node state } }", context_value=ctx)
    first = [await anext(stream) for _ in range(2)]  # type: ignore[arg-type]
    assert [r.data["nodeFlowStatus"] for r in first] == [
        {"node": "node-a", "state": "DISABLED"},
        {"node": "node-b", "state": "DISABLED"},
    ]
    cluster.put(FLOW_EXPORTS, export("NetFlow", 1))
    changes = [(await anext(stream)).data["nodeFlowStatus"] for _ in range(2)]  # type: ignore[arg-type]
    assert {c["node"]: c["state"] for c in changes} == {"node-a": "PENDING", "node-b": "PENDING"}
    await stream.aclose()  # type: ignore[union-attr]
    assert not cluster.hub._mailboxes


# -- the whole app over an in-memory API server ---------------------------------------------------


def gateway_app(*nodes: str) -> tuple[Any, FakeKube]:
    """The gateway's app over an in-memory API server holding these Nodes."""
    kube = FakeKube()
    for name in nodes:
        kube.put(NODES, node(name))
    access = ClusterAccess(Configuration(host="https://127.0.0.1:1"), source="test")
    return create_app(access, GatewaySettings(auth="none"), api=kube), kube  # type: ignore[arg-type]


@pytest.fixture
def app_client() -> Iterator[tuple[TestClient, FakeKube]]:
    app, kube = gateway_app("node-a", "node-b")
    with TestClient(app) as client:
        yield client, kube


def wait_ready(client: TestClient) -> None:
    for _ in range(200):
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.01)
    raise AssertionError(client.get("/readyz").json())


def test_readyz_waits_until_every_node_is_derived(monkeypatch: pytest.MonkeyPatch) -> None:
    """A replica is ready once its lists are in and every node derived from them: with the
    derivation held back, /readyz keeps answering 503 and says so, lists or not."""
    import asyncio

    from gateway.service.hub import StatusHub

    async def held_back(self: StatusHub) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(StatusHub, "derive_when_synced", held_back)
    app, _ = gateway_app("node-a")
    with TestClient(app) as client:
        deadline = time.monotonic() + 5
        while (answer := client.get("/readyz").json())["waiting"] != ["node statuses"]:
            assert time.monotonic() < deadline, f"waited 5 s for the lists to be in; /readyz answered {answer}"
            time.sleep(0.01)
        reply = client.get("/readyz")
        assert reply.status_code == 503 and reply.json()["ready"] is False, reply.json()


def test_http_query_and_operational_endpoints(app_client: tuple[TestClient, FakeKube]) -> None:
    client, _ = app_client
    assert client.get("/healthz").text == "ok\n"
    wait_ready(client)
    answer = client.post("/graphql", json={"query": "{ flows { nodes { node state } } }"})
    assert answer.status_code == 200
    assert [n["node"] for n in answer.json()["data"]["flows"]["nodes"]] == ["node-a", "node-b"]
    metrics = client.get("/metrics").text
    assert "flowgate_watches 6.0" in metrics and 'flowgate_graphql_operations_total{type="query"} 1.0' in metrics
    # One series per node, for the alerts that compare the gateway's view with the agents' own.
    assert 'flowgate_node_state{node="node-a",state="Disabled"} 1.0' in metrics
    assert 'flowgate_node_state{node="node-b",state="Disabled"} 1.0' in metrics


def test_a_subscription_sent_over_http_is_told_where_it_runs(app_client: tuple[TestClient, FakeKube]) -> None:
    client, _ = app_client
    wait_ready(client)
    answer = client.post("/graphql", json={"query": "subscription { nodeFlowStatus { node state } }"})
    assert answer.status_code == 200
    assert answer.json() == {
        "data": None,
        "errors": [{"message": SUBSCRIPTION_OVER_HTTP, "extensions": {"code": "INVALID_QUERY"}}],
    }
    # Queries still run over HTTP.
    assert client.post("/graphql", json={"query": "{ flows { enabled } }"}).json() == {
        "data": {"flows": {"enabled": False}}
    }


def test_websocket_subscription_sees_a_change_from_the_watch(app_client: tuple[TestClient, FakeKube]) -> None:
    client, kube = app_client
    wait_ready(client)
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_text(json.dumps({"type": "connection_init", "payload": {}}))
        assert receive_json(ws, "connection_ack")["type"] == "connection_ack"
        query = 'subscription { nodeFlowStatus(node: "node-b") { node state } }'
        ws.send_text(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        first = receive_json(ws, "node-b's status")
        assert first["payload"]["data"]["nodeFlowStatus"] == {"node": "node-b", "state": "DISABLED"}
        kube.put(FLOW_EXPORTS, {"metadata": {"name": "cluster"}, "spec": {"type": "sFlow"}})
        change = receive_json(ws, "node-b turning PENDING after the FlowExport change")
        assert change["payload"]["data"]["nodeFlowStatus"] == {"node": "node-b", "state": "PENDING"}


async def test_flows_shows_an_export_the_operator_manages_and_start_is_a_conflict(cluster: Cluster) -> None:
    cluster.put(
        OPERATOR_NETWORKS,
        {
            "metadata": {"name": "cluster"},
            "spec": {"exportNetworkFlows": {"ipfix": {"collectors": ["192.0.2.1:4739", "192.0.2.2:4739"]}}},
        },
    )
    query = "{ flows { operatorExport { manager field exporters { type collectors } message } } }"
    result = await execute(cluster, query)
    managed = result.data["flows"]["operatorExport"]
    assert managed["manager"] == "Cluster Network Operator" and managed["field"] == "spec.exportNetworkFlows"
    assert managed["exporters"] == [{"type": "IPFIX", "collectors": ["192.0.2.1:4739", "192.0.2.2:4739"]}]
    (error,) = (await execute(cluster, START, {"c": None})).errors
    assert error.extensions == {"code": "CONFLICT"}
    assert error.message == managed["message"] and "spec.exportNetworkFlows" in error.message


async def test_events_lists_the_audit_trail_newest_first(cluster: Cluster) -> None:
    informer = Informer(NeverSource(EVENTS))
    informer.synced.set()
    for i, (kind, name, reason, user) in enumerate(
        [
            ("FlowExport", "cluster", "FlowExportStarted", "alice"),
            ("Flow", "node-a", "ExportFailed", None),
            ("FlowExport", "cluster", "FlowExportStopped", "bob"),
        ]
    ):
        annotations = {"flowgate.dev/user": user} if user else {}
        informer.store.apply(
            "ADDED",
            {
                "metadata": {"name": f"e{i}", "namespace": "default", "annotations": annotations},
                "eventTime": f"2024-05-01T10:00:0{i}.000000Z",
                "regarding": {"apiVersion": "flowgate.dev/v1alpha1", "kind": kind, "name": name},
                "type": "Warning" if user is None else "Normal",
                "reason": reason,
                "note": f"note {i}",
            },
        )
    ctx = Context(services=services(cluster.hub))
    ctx.services.audit = AuditLog(informer)
    query = "{ events(limit: 2) { time type reason regarding note count user } }"
    result = await schema.execute(query, context_value=ctx)
    assert result.errors is None, result.errors
    assert result.data == {
        "events": [
            {
                "time": "2024-05-01T10:00:02Z",
                "type": "Normal",
                "reason": "FlowExportStopped",
                "regarding": "FlowExport/cluster",
                "note": "note 2",
                "count": 1,
                "user": "bob",
            },
            {
                "time": "2024-05-01T10:00:01Z",
                "type": "Warning",
                "reason": "ExportFailed",
                "regarding": "Flow/node-a",
                "note": "note 1",
                "count": 1,
                "user": None,
            },
        ]
    }
    (error,) = (await schema.execute("{ events(limit: 0) { note } }", context_value=ctx)).errors
    assert error.extensions == {"code": "INVALID_ARGUMENT", "field": "limit"}


@pytest.mark.parametrize(
    "document",
    [
        "mutation { a: startFlows(type: NETFLOW) { enabled } b: startFlows(type: IPFIX) { enabled } }",
        "mutation { startFlows(type: NETFLOW) { enabled } stopFlows { enabled } }",
        "mutation { ...M } fragment M on Mutation { stopFlows { enabled } }",
    ],
)
async def test_one_request_makes_at_most_one_change(cluster: Cluster, document: str) -> None:
    api = ScriptedApi()
    ctx = Context(services=services(cluster.hub))
    ctx.services.api_for = lambda caller: api
    result = await schema.execute(document, context_value=ctx)
    (error,) = result.errors
    assert error.message.startswith("A request may make one change, and this mutation asks for")
    assert error.extensions == {"code": "INVALID_QUERY"}
    assert api.calls == []


def test_request_bodies_over_the_limit_are_refused_before_they_are_read() -> None:
    kube = FakeKube()
    access = ClusterAccess(Configuration(host="https://127.0.0.1:1"), source="test")
    app = create_app(access, GatewaySettings(auth="none", max_request_bytes=4096), api=kube)  # type: ignore[arg-type]
    with TestClient(app) as client:
        big = {"query": "{ flows { enabled } }", "padding": "x" * 10_000}
        answer = client.post("/graphql", json=big)
        assert answer.status_code == 413
        assert answer.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            yield b'{"query": "{ flows { enabled } }", "padding": "'
            for _ in range(100):
                yield b"x" * 1000
            yield b'"}'

        answer = client.post("/graphql", content=chunks(), headers={"Content-Type": "application/json"})
        assert answer.status_code == 413
        metrics = client.get("/metrics").text
        assert 'flowgate_http_requests_total{method="POST",path="/graphql",status="413"} 2.0' in metrics


async def test_introspection_is_answered_but_cannot_nest_without_end(cluster: Cluster) -> None:
    full = await execute(cluster, get_introspection_query(descriptions=True, input_value_deprecation=True))
    assert full.errors is None and full.data is not None  # what GraphiQL asks
    chain = "{ __schema { types { " + "fields { type { " * 12 + "name" + " } }" * 12 + " } } }"
    errors = (await execute(cluster, chain)).errors
    assert errors[0].message.startswith("This operation nests more than 20 levels deep")
    assert {e.extensions["code"] for e in errors} == {"INVALID_QUERY"}  # graphql-core's own introspection rule too


def test_flows_answers_are_kept_until_the_cluster_changes(app_client: tuple[TestClient, FakeKube]) -> None:
    client, kube = app_client
    wait_ready(client)
    answers = next(
        r.endpoint for r in client.app.routes if getattr(r, "path", "") == "/graphql" and hasattr(r, "methods")
    )  # type: ignore[attr-defined]
    query = {"query": "{ flows { summary { total pending } nodes { node state } } }"}
    first = client.post("/graphql", json=query).json()
    assert client.post("/graphql", json=query).json() == first and answers.hits == 1
    kube.put(FLOW_EXPORTS, {"metadata": {"name": "cluster"}, "spec": {"type": "NetFlow"}})
    for _ in range(200):  # the watch brings the change
        changed = client.post("/graphql", json=query).json()
        if changed != first:
            break
        time.sleep(0.01)
    assert changed["data"]["flows"]["summary"] == {"total": 2, "pending": 2}
    # Both fresh answers had their rows spliced in rather than executed row by row.
    assert answers.planned >= 2
    # Not kept: anything but reads of the shared state.
    viewer = {"query": "{ viewer { canSwitch } flows { enabled } }"}
    hits = answers.hits
    client.post("/graphql", json=viewer), client.post("/graphql", json=viewer)
    assert answers.hits == hits


TIMED_START = """
mutation($d: Int, $n: [String!], $s: [LabelInput!], $i: Boolean! = false) {
  startFlows(type: NETFLOW, durationSeconds: $d, nodes: $n, nodeSelector: $s, ignoreUnknownNodes: $i) {
    enabled ended deadline nodeChoice { mode names selector { key value } description }
    summary { total selected } nodes { node state selected message }
  }
}"""


async def test_start_for_a_while_on_chosen_nodes_and_the_state_that_says_so(cluster: Cluster) -> None:
    api = ScriptedApi()
    api.server_now = 1_800_000_000.0
    cluster.hub.clock = api.server_time
    api.on_store = lambda obj: cluster.put(FLOW_EXPORTS, obj)
    ctx = Context(services=services(cluster.hub))
    ctx.services.api_for = lambda caller: api
    result = await schema.execute(TIMED_START, {"d": 1200, "n": ["node-b"]}, context_value=ctx)
    assert result.errors is None, result.errors
    answer = result.data["startFlows"]  # type: ignore[index]
    assert answer["deadline"] == "2027-01-15T08:20:00Z" and answer["enabled"] and not answer["ended"]
    assert answer["nodeChoice"] == {
        "mode": "names",
        "names": ["node-b"],
        "selector": None,
        "description": "nodes node-b",
    }
    assert answer["summary"] == {"total": 2, "selected": 1}
    assert [(n["node"], n["state"], n["selected"]) for n in answer["nodes"]] == [
        ("node-a", "DISABLED", False),
        ("node-b", "PENDING", True),
    ]
    assert answer["nodes"][0]["message"].startswith("not selected: flow export runs on the nodes named (node-b)")
    # The same state from flows, and once the deadline has passed, ended.
    api.server_now += 1200
    flows = await schema.execute("{ flows { enabled ended deadline type } }", context_value=ctx)
    assert flows.data == {
        "flows": {"enabled": False, "ended": True, "deadline": "2027-01-15T08:20:00Z", "type": "NETFLOW"}
    }


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"d": 0}, "durationSeconds"),
        ({"d": 604801}, "durationSeconds"),
        ({"n": ["node-a", "node-z"]}, "nodes"),
        ({"n": ["node-z"], "i": True}, "nodes"),
        ({"n": ["node-a"], "s": [{"key": "zone", "value": "a"}]}, "nodes"),
        ({"s": [{"key": "zone", "value": "a b"}]}, "nodeSelector"),
    ],
)
async def test_bad_durations_and_node_choices_name_their_field_and_write_nothing(
    cluster: Cluster, variables: dict[str, Any], field: str
) -> None:
    result = await execute(cluster, TIMED_START, variables)
    (error,) = result.errors
    assert error.extensions == {"code": "INVALID_ARGUMENT", "field": field}, error.message
    assert cluster.hub.export() is None
