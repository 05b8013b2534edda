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
from kubernetes_asyncio.client import Configuration
from starlette.testclient import TestClient

from gateway.access import Caller
from gateway.kube.config import ClusterAccess
from gateway.kube.resources import CONFIG_NETWORKS, FLOW_EXPORTS, FLOWS, NODES
from gateway.resolvers.context import Context
from gateway.schema.root import SUBSCRIPTION_OVER_HTTP, schema
from gateway.server.app import create_app
from gateway.server.settings import GatewaySettings
from tests.unit.fakes import Cluster, FakeKube, export, flow, node, services
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


@pytest.fixture
def app_client() -> Iterator[tuple[TestClient, FakeKube]]:
    kube = FakeKube()
    for name in ("node-a", "node-b"):
        kube.put(NODES, node(name))
    access = ClusterAccess(Configuration(host="https://127.0.0.1:1"), source="test")
    app = create_app(access, GatewaySettings(auth="none"), api=kube)  # type: ignore[arg-type]
    with TestClient(app) as client:
        yield client, kube


def wait_ready(client: TestClient) -> None:
    for _ in range(200):
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.01)
    raise AssertionError(client.get("/readyz").json())


def test_http_query_and_operational_endpoints(app_client: tuple[TestClient, FakeKube]) -> None:
    client, _ = app_client
    assert client.get("/healthz").text == "ok\n"
    wait_ready(client)
    answer = client.post("/graphql", json={"query": "{ flows { nodes { node state } } }"})
    assert answer.status_code == 200
    assert [n["node"] for n in answer.json()["data"]["flows"]["nodes"]] == ["node-a", "node-b"]
    metrics = client.get("/metrics").text
    assert "flowgate_watches 4.0" in metrics and 'flowgate_graphql_operations_total{type="query"} 1.0' in metrics


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
        assert json.loads(ws.receive_text())["type"] == "connection_ack"
        query = 'subscription { nodeFlowStatus(node: "node-b") { node state } }'
        ws.send_text(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        first = json.loads(ws.receive_text())
        assert first["payload"]["data"]["nodeFlowStatus"] == {"node": "node-b", "state": "DISABLED"}
        kube.put(FLOW_EXPORTS, {"metadata": {"name": "cluster"}, "spec": {"type": "sFlow"}})
        change = json.loads(ws.receive_text())
        assert change["payload"]["data"]["nodeFlowStatus"] == {"node": "node-b", "state": "PENDING"}


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
    # Not kept: anything but reads of the shared state.
    viewer = {"query": "{ viewer { canSwitch } flows { enabled } }"}
    hits = answers.hits
    client.post("/graphql", json=viewer), client.post("/graphql", json=viewer)
    assert answers.hits == hits
