"""The audit trail on the real API server: every accepted start, switch and stop, through the
gateway or `kubectl flows`, records an Event on FlowExport/cluster naming the user as the API
server knows them; `kubectl get events`, `kubectl describe flowexport cluster` and the gateway's
`events` query show them; a refused change records nothing; a node turning to Error records a
Warning on its Flow (the real agent, its node-bound token)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from tests.fixtures.agents import NodeAgents
from tests.fixtures.gateway import Gateway, GraphQLErrorResponse
from tests.fixtures.kubectl import Kubectl

EVENTS = "/apis/events.k8s.io/v1/namespaces/default/events"
START = "mutation($t: FlowType!, $c: CollectorInput) { startFlows(type: $t, collector: $c) { generation } }"
STOP = "mutation { stopFlows { generation } }"
EVENTS_QUERY = "{ events(limit: 5) { time type reason regarding note count user } }"


def flowexport_events(testbed: Any) -> list[dict[str, Any]]:
    items = testbed.client().get(f"{EVENTS}?fieldSelector=regarding.kind%3DFlowExport")["items"]
    return sorted(items, key=lambda e: e["eventTime"])


def clear_events(testbed: Any) -> None:
    testbed.client().request("DELETE", EVENTS)


async def wait_events(gateway: Gateway, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        events = (await gateway.query(EVENTS_QUERY))["events"]
        if len(events) >= count or time.monotonic() > deadline:
            return list(events)
        await asyncio.sleep(0.1)


async def test_gateway_switches_are_recorded_naming_the_user(gateway: Gateway, kubectl_binary: Path) -> None:
    testbed = gateway.testbed
    clear_events(testbed)
    await gateway.query(START, {"t": "NETFLOW", "c": {"nodePort": 30001}})
    await gateway.query(START, {"t": "NETFLOW", "c": {"nodePort": 30001}})  # the same again: no change
    await gateway.query(START, {"t": "IPFIX", "c": {"targets": ["192.0.2.7:4739"]}})
    await gateway.query(STOP)
    events = flowexport_events(testbed)
    assert [(e["reason"], e["note"]) for e in events] == [
        ("FlowExportStarted", 'User "admin" started flow export: NetFlow to nodePort 30001; generation 1.'),
        (
            "FlowExportSwitched",
            'User "admin" switched flow export from NetFlow to nodePort 30001 to IPFIX to targets 192.0.2.7:4739; '
            "generation 2.",
        ),
        ("FlowExportStopped", 'User "admin" stopped flow export (was IPFIX to targets 192.0.2.7:4739); generation 3.'),
    ]
    export = testbed.client().get("/apis/flowgate.dev/v1alpha1/flowexports/cluster")
    for event in events:
        assert event["regarding"]["uid"] == export["metadata"]["uid"]
        assert event["reportingController"] == "flowgate.dev/gateway"
        assert event["metadata"]["annotations"]["flowgate.dev/user"] == "admin"

    # Refused changes record nothing.
    for user in ("viewer", "nobody"):
        try:
            await gateway.query(START, {"t": "SFLOW"}, user=user)
        except GraphQLErrorResponse:
            pass
    assert len(flowexport_events(testbed)) == 3

    # kubectl shows them where users look.
    kubectl = Kubectl(testbed.kubeconfig("admin"))
    listed = kubectl.ok("get", "events", "--field-selector", "involvedObject.kind=FlowExport").stdout
    assert "FlowExportSwitched" in listed and 'User "admin" switched flow export' in listed
    described = kubectl.ok("describe", "flowexport", "cluster").stdout
    events_section = described.split("Events:", 1)[1]
    for reason in ("FlowExportStarted", "FlowExportSwitched", "FlowExportStopped"):
        assert reason in events_section, described
    assert "flowgate.dev/gateway" in events_section

    # And the gateway's own `events` query, newest first.
    shown = await wait_events(gateway, 3)
    assert [e["reason"] for e in shown[:3]] == ["FlowExportStopped", "FlowExportSwitched", "FlowExportStarted"]
    assert {e["user"] for e in shown[:3]} == {"admin"} and shown[0]["regarding"] == "FlowExport/cluster"


async def test_kubectl_flows_records_its_changes_as_the_kubeconfig_user(
    fresh_testbed: Any, kubectl_binary: Path
) -> None:
    clear_events(fresh_testbed)
    kubectl = Kubectl(fresh_testbed.kubeconfig("admin"))
    kubectl.ok("flows", "start", "sflow", "--selector", "role=flows-collector")
    kubectl.ok("flows", "stop")
    events = flowexport_events(fresh_testbed)
    assert [(e["reason"], e["reportingController"]) for e in events] == [
        ("FlowExportStarted", "flowgate.dev/kubectl-flows"),
        ("FlowExportStopped", "flowgate.dev/kubectl-flows"),
    ]
    assert events[0]["note"] == (
        'User "admin" started flow export: sFlow to selector role=flows-collector; generation 1.'
    )
    # The viewer is refused and records nothing.
    refused = Kubectl(fresh_testbed.kubeconfig("viewer"))("flows", "start", "netflow")
    assert refused.returncode == 1
    assert len(flowexport_events(fresh_testbed)) == 2


def test_a_node_turning_to_error_records_one_warning_on_its_flow(fresh_testbed: Any, tmp_path: Path) -> None:
    """The real agent with node-1's pod token and no OVS at all: Error, and one Warning Event on
    Flow/node-1 however many times it retries (`kubectl describe flow node-1` shows it)."""
    testbed = fresh_testbed
    testbed.client().request("DELETE", EVENTS)
    agents = NodeAgents(testbed, tmp_path, resync="1s")
    agents.start("node-1", ovs_rundir=str(tmp_path / "no-ovs"))
    try:
        testbed.client().create(
            "/apis/flowgate.dev/v1alpha1/flowexports",
            {
                "apiVersion": "flowgate.dev/v1alpha1",
                "kind": "FlowExport",
                "metadata": {"name": "cluster"},
                "spec": {"type": "NetFlow", "collector": {"targets": ["192.0.2.10:2055"]}},
            },
        )
        deadline = time.monotonic() + 20
        warnings: list[dict[str, Any]] = []
        while not warnings and time.monotonic() < deadline:
            warnings = testbed.client().get(f"{EVENTS}?fieldSelector=regarding.kind%3DFlow")["items"]
            time.sleep(0.1)
        time.sleep(3)  # several retries later
        warnings = testbed.client().get(f"{EVENTS}?fieldSelector=regarding.kind%3DFlow")["items"]
        (warning,) = warnings
        assert warning["type"] == "Warning" and warning["reason"] == "ExportFailed"
        assert warning["note"].startswith(f"OVS not reachable at unix:{tmp_path / 'no-ovs'}/db.sock")
        assert warning["regarding"]["name"] == "node-1" and warning["reportingController"] == "flowgate.dev/agent"
        flow = testbed.client().get("/apis/flowgate.dev/v1alpha1/flows/node-1")
        assert warning["regarding"]["uid"] == flow["metadata"]["uid"]
        described = Kubectl(testbed.kubeconfig("admin")).ok("describe", "flow", "node-1").stdout
        assert "ExportFailed" in described.split("Events:", 1)[1]
        assert agents.alive("node-1")
    finally:
        agents.stop_all()
