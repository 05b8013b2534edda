"""Live operations over graphql-transport-ws, in process: subscribers of the same operation share
one group and one execution per change; each still gets its own snapshot; a slow reader holds at
most one message per node (or is sent a fresh table); the protocol's rules and close codes hold.
The whole app runs over an in-memory API server through Starlette's test client."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from graphql import parse
from kubernetes_asyncio.client import Configuration
from starlette.testclient import TestClient, WebSocketDenialResponse, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from gateway.kube.config import ClusterAccess
from gateway.kube.resources import FLOW_EXPORTS, FLOWS, NODES
from gateway.schema.projection import LivePlan, live_operation
from gateway.schema.root import schema
from gateway.server.app import create_app
from gateway.server.live import LiveOperations, NodeMember, TableGroup, TableMember
from gateway.server.settings import GatewaySettings
from tests.unit.fakes import Cluster, FakeKube, flow, node
from tests.unit.sockets import receive_json, receive_message

GRAPHQL = schema._schema

NODE_QUERY = "subscription { nodeFlowStatus { node state } }"
TABLE_QUERY = (
    "subscription { flowsTable { snapshot removed changed { node state } state { summary { total pending } } } }"
)


@pytest.fixture
def kube() -> FakeKube:
    kube = FakeKube()
    for name in ("node-a", "node-b"):
        kube.put(NODES, node(name))
    return kube


# Sessions connect() opened: the test client cannot stop while one is open, so a test that
# fails before closing its own would hang the teardown.
_opened: list[WebSocketTestSession] = []


@pytest.fixture
def client(kube: FakeKube) -> Iterator[TestClient]:
    access = ClusterAccess(Configuration(host="https://127.0.0.1:1"), source="test")
    app = create_app(access, GatewaySettings(auth="none", max_subscriptions_per_connection=3), api=kube)  # type: ignore[arg-type]
    with TestClient(app) as test_client:
        for _ in range(300):
            if test_client.get("/readyz").status_code == 200:
                break
            time.sleep(0.01)
        try:
            yield test_client
        finally:
            while _opened:
                _opened.pop().__exit__(None, None, None)  # closing twice does nothing


def live(client: TestClient) -> LiveOperations:
    found: LiveOperations = client.app.state.live  # type: ignore[attr-defined]
    return found


def connect(client: TestClient) -> Any:
    ws = client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"])
    socket = ws.__enter__()
    _opened.append(socket)
    socket.send_text(json.dumps({"type": "connection_init", "payload": {}}))
    assert receive(socket, "connection_ack") == {"type": "connection_ack"}
    return ws, socket


def subscribe(socket: Any, op_id: str, query: str, variables: dict[str, Any] | None = None) -> None:
    payload: dict[str, Any] = {"query": query}
    if variables is not None:
        payload["variables"] = variables
    socket.send_text(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))


def receive(socket: Any, what: str = "the next message") -> dict[str, Any]:
    return receive_json(socket, what)


def test_subscribers_of_one_operation_share_a_group_and_get_their_own_snapshot(
    client: TestClient, kube: FakeKube
) -> None:
    first_ctx, first = connect(client)
    second_ctx, second = connect(client)
    subscribe(first, "a", NODE_QUERY)
    subscribe(second, "b", NODE_QUERY)
    for socket, op_id in ((first, "a"), (second, "b")):
        snapshot = [receive(socket, f"subscription {op_id}'s snapshot of both nodes") for _ in range(2)]
        assert {m["id"] for m in snapshot} == {op_id}
        assert [m["payload"]["data"]["nodeFlowStatus"]["node"] for m in snapshot] == ["node-a", "node-b"]
    operations = live(client)
    assert len(operations.groups) == 1 and operations.subscriber_count == 2
    kube.put(FLOW_EXPORTS, {"metadata": {"name": "cluster"}, "spec": {"type": "NetFlow"}})
    for socket in (first, second):
        changes = {
            receive(socket, "both nodes turning PENDING")["payload"]["data"]["nodeFlowStatus"]["node"] for _ in range(2)
        }
        assert changes == {"node-a", "node-b"}
    first.send_text(json.dumps({"id": "a", "type": "complete"}))
    second_ctx.__exit__(None, None, None)
    first.send_text(json.dumps({"type": "ping"}))
    assert receive(first, "the pong") == {"type": "pong"}
    assert operations.groups == {} and operations.subscriber_count == 0
    first_ctx.__exit__(None, None, None)


def test_different_variables_are_different_groups_and_an_unknown_node_is_refused(client: TestClient) -> None:
    ctx, socket = connect(client)
    query = "subscription S($n: String) { nodeFlowStatus(node: $n) { node state } }"
    subscribe(socket, "1", query, {"n": "node-a"})
    assert receive(socket)["payload"]["data"]["nodeFlowStatus"]["node"] == "node-a"
    subscribe(socket, "2", query, {"n": "node-b"})
    assert receive(socket)["payload"]["data"]["nodeFlowStatus"]["node"] == "node-b"
    assert len(live(client).groups) == 2
    subscribe(socket, "3", query, {"n": "node-z"})
    refused = receive(socket)
    assert refused["type"] == "error" and refused["id"] == "3"
    assert refused["payload"][0]["extensions"] == {"code": "INVALID_ARGUMENT", "field": "node"}
    ctx.__exit__(None, None, None)


def test_table_snapshot_then_batched_changes(client: TestClient, kube: FakeKube) -> None:
    ctx, socket = connect(client)
    subscribe(socket, "t", TABLE_QUERY)
    snapshot = receive(socket, "the table's snapshot")["payload"]["data"]["flowsTable"]
    assert snapshot["snapshot"] and [r["node"] for r in snapshot["changed"]] == ["node-a", "node-b"]
    kube.put(FLOW_EXPORTS, {"metadata": {"name": "cluster"}, "spec": {"type": "IPFIX"}})
    update = receive(socket, "the table update of both nodes turning PENDING")["payload"]["data"]["flowsTable"]
    assert not update["snapshot"] and {r["state"] for r in update["changed"]} == {"PENDING"}
    assert update["state"]["summary"] == {"total": 2, "pending": 2}
    kube.remove(NODES, "node-b")
    update = receive(socket, "the table update removing node-b, whose Node was deleted")["payload"]["data"][
        "flowsTable"
    ]
    assert update["removed"] == ["node-b"] and update["state"]["summary"]["total"] == 1
    ctx.__exit__(None, None, None)


def test_a_tab_reopening_the_table_finds_it_written(client: TestClient, kube: FakeKube) -> None:
    """The plan outlives its subscribers: the next tab gets the same snapshot bytes while nothing
    changed, a fresh one (with only the changed rows written again) once something did, and the
    rows of nodes gone meanwhile are dropped."""

    def open_table() -> dict[str, Any]:
        with connected(client) as socket:
            subscribe(socket, "t", TABLE_QUERY)
            table: dict[str, Any] = receive(socket, "the table's snapshot")["payload"]["data"]["flowsTable"]
        return table

    first = open_table()
    assert not live(client).groups  # the last tab left: no group runs
    (plan,) = live(client)._plans.values()
    written = plan.snapshot
    assert open_table() == first and plan.snapshot is written
    rows = dict(plan.rows._rows)
    kube.put(FLOWS, flow("node-a", "Emitting", 1))
    kube.remove(NODES, "node-b")
    for _ in range(300):
        reopened = open_table()
        if [r["node"] for r in reopened["changed"]] == ["node-a"]:
            break
        time.sleep(0.01)
    assert [r["node"] for r in reopened["changed"]] == ["node-a"] and plan.snapshot is not written
    assert set(plan.rows._rows) == {"node-a"} and plan.rows._rows["node-a"] != rows["node-a"]


class Connection:
    """Stands in for a LiveConnection: records that a member owes messages."""

    def __init__(self) -> None:
        self.owing: list[Any] = []

    def owed(self, member: Any) -> None:
        self.owing.append(member)


async def test_a_slow_member_owes_one_message_per_node_and_a_fresh_table_when_far_behind() -> None:
    member = NodeMember(Connection(), "1")  # type: ignore[arg-type]
    for i in range(500):
        member.push("node-a" if i % 2 else "node-b", f'{{"n":{i}}}')
    assert len(member.outbox) == 2 and member.outbox["node-a"] == '{"n":499}'

    cluster = Cluster()
    cluster.put(NODES, node("node-a"))
    cluster.sync()
    operations = LiveOperations(cluster.hub)
    document = parse(TABLE_QUERY)
    operation = live_operation(GRAPHQL, document, None)
    assert operation is not None
    group = TableGroup(operations, "key", LivePlan(GRAPHQL, document, operation, {}, None))
    table = TableMember(Connection(), "2")  # type: ignore[arg-type]
    group.add(table)
    for i in range(100):
        table.push(f'{{"n":{i}}}')
    assert table.resync and table.queue == []
    (message,) = table.take()
    assert json.loads(message)["payload"]["data"]["flowsTable"]["snapshot"] is True
    group.mailbox.close()


@contextlib.contextmanager
def connected(client: TestClient) -> Iterator[Any]:
    ctx, socket = connect(client)
    try:
        yield socket
    finally:
        ctx.__exit__(None, None, None)


def test_protocol_rules(client: TestClient) -> None:
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as socket:
        subscribe(socket, "1", NODE_QUERY)
        assert receive_message(socket, "the close 4401")["code"] == 4401  # no connection_init
    with connected(client) as socket:
        socket.send_text(json.dumps({"type": "connection_init", "payload": {}}))
        assert receive_message(socket, "the close 4429")["code"] == 4429
    with connected(client) as socket:
        subscribe(socket, "1", NODE_QUERY)
        receive(socket), receive(socket)
        subscribe(socket, "1", NODE_QUERY)
        closing = receive_message(socket, "the close 4409")
        assert closing["code"] == 4409 and "Subscriber for 1 already exists" in closing["reason"]
    with connected(client) as socket:
        subscribe(socket, "1", "subscription { nodeFlowStatus { node ")
        assert receive_message(socket, "the close 4400")["code"] == 4400
    with connected(client) as socket:
        socket.send_text("not json")
        assert receive_message(socket, "the close 4400")["code"] == 4400


def test_limits_validation_and_queries_over_the_socket(client: TestClient) -> None:
    with connected(client) as socket:
        subscribe(socket, "bad", "subscription { nodeFlowStatus { nope } }")
        error = receive(socket)
        assert error["type"] == "error" and error["payload"][0]["extensions"]["code"] == "INVALID_QUERY"
        subscribe(socket, "q", "{ flows { summary { total } } }")
        assert receive(socket)["payload"] == {"data": {"flows": {"summary": {"total": 2}}}}
        assert receive(socket) == {"id": "q", "type": "complete"}
        for op_id in ("1", "2", "3"):
            subscribe(socket, op_id, NODE_QUERY)
            receive(socket), receive(socket)
        subscribe(socket, "4", NODE_QUERY)
        limited = receive(socket)
        assert limited["type"] == "error" and "limit" in limited["payload"][0]["message"].lower()


def test_a_page_on_another_origin_is_refused_with_a_sentence_the_console_proxy_is_served(client: TestClient) -> None:
    for protocol in ("graphql-transport-ws", "graphql-ws"):  # the live path and Strawberry's own
        with pytest.raises(WebSocketDisconnect) as refused:
            with client.websocket_connect(
                "/graphql", subprotocols=[protocol], headers={"origin": "https://evil.example"}
            ):
                pass
        assert isinstance(refused.value, WebSocketDenialResponse) and refused.value.status_code == 403, protocol
        if protocol == "graphql-transport-ws":
            assert "refused a WebSocket from a page on https://evil.example" in refused.value.text
            assert "--allowed-origin" in refused.value.text
    # What the OpenShift console's proxy sends: its own Origin and the user's bearer token.
    proxied = {"origin": "http://localhost", "authorization": "Bearer anything"}
    for protocol in ("graphql-transport-ws", "graphql-ws"):
        with client.websocket_connect("/graphql", subprotocols=[protocol], headers=proxied) as socket:
            socket.send_text(json.dumps({"type": "connection_init", "payload": {}}))
            assert receive(socket, "connection_ack")["type"] == "connection_ack", protocol
    ctx, _ = connect(client)  # the test client sends no Origin: not a browser
    ctx.__exit__(None, None, None)


def test_legacy_graphql_ws_is_still_served(client: TestClient, kube: FakeKube) -> None:
    kube.put(FLOWS, flow("node-a", "Emitting", 1))
    with client.websocket_connect("/graphql", subprotocols=["graphql-ws"]) as socket:
        socket.send_text(json.dumps({"type": "connection_init", "payload": {}}))
        assert receive(socket, "connection_ack")["type"] == "connection_ack"
        socket.send_text(json.dumps({"id": "1", "type": "start", "payload": {"query": NODE_QUERY}}))
        message = receive(socket, "node-a's status")
        while message["type"] == "ka":
            message = receive(socket, "node-a's status")
        assert message["type"] == "data" and message["payload"]["data"]["nodeFlowStatus"]["node"] == "node-a"
