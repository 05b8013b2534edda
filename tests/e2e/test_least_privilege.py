"""The ClusterRoles in deploy/rbac are enough and no more. The gateway and one agent per node run
with service-account tokens of flowgate-gateway and flowgate-agent (namespace flowgate, bound to
exactly those ClusterRoles, as deploy/base binds them) and go through start -> Emitting -> stop on
real OVS; then each identity is refused what belongs to the other: the agent cannot write
FlowExport, the gateway cannot write Flow (it writes FlowExport as its callers, never as itself)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flowgate_testbed.cluster_api import ClusterApi, ClusterApiError

from tests.fixtures.agents import NodeAgents
from tests.fixtures.credentials import token_kubeconfig
from tests.fixtures.gateway import launch
from tests.fixtures.waiting import wait_for

pytestmark = [pytest.mark.ovs, pytest.mark.slow]

NODE_PORT = 30001
WITHIN = 15.0
FLOWS = "/apis/flowgate.dev/v1alpha1/flows"
EXPORTS = "/apis/flowgate.dev/v1alpha1/flowexports"
START = """
mutation Start($port: Int!) {
  startFlows(type: NETFLOW, collector: {nodePort: $port}, activeTimeoutSeconds: 1) { generation }
}"""
STOP = "mutation { stopFlows { generation } }"
FLOWS_QUERY = "{ flows { enabled nodes { node state type endpoint } } }"


def flow_states(testbed: Any) -> dict[str, dict[str, Any]]:
    items = testbed.client().get(FLOWS).get("items", [])
    return {item["metadata"]["name"]: item.get("status") or {} for item in items}


def wait_all(testbed: Any, state: str, generation: int | None = None) -> dict[str, dict[str, Any]]:
    def reached() -> dict[str, dict[str, Any]] | None:
        flows = flow_states(testbed)
        ok = all(
            flows.get(node, {}).get("state") == state
            and (generation is None or flows[node].get("observedGeneration") == generation)
            for node in testbed.node_names
        )
        return flows if ok else None

    result: dict[str, dict[str, Any]] = wait_for(reached, WITHIN, f"every Flow {state} (generation {generation})")
    return result


def as_account(testbed: Any, token: str) -> ClusterApi:
    return ClusterApi("127.0.0.1", testbed.apiserver_port, str(testbed.ca_file), token)


def refused(call: Callable[[], Any]) -> int:
    try:
        call()
    except ClusterApiError as exc:
        return exc.status
    return 200


def test_gateway_and_agents_with_only_their_roles_start_emit_and_stop(fresh_ovs_testbed: Any, tmp_path: Path) -> None:
    tb = fresh_ovs_testbed
    gateway_token = tb.service_account_token("flowgate-gateway")
    gateway = launch(tb, tmp_path, kubeconfig=token_kubeconfig(tb, tmp_path / "gateway-sa.kubeconfig", gateway_token))
    # Each agent with its own pod's token (node-bound), as the admission policy requires.
    agents = NodeAgents(tb, tmp_path)
    try:
        gateway.wait_ready()
        agents.start_all()
        wait_all(tb, "Disabled")

        started = gateway.post(START, {"port": NODE_PORT}, user="admin")
        assert not started.get("errors"), started["errors"]
        generation = started["data"]["startFlows"]["generation"]
        flows = wait_all(tb, "Emitting", generation)
        for node in tb.node_names:
            assert flows[node]["endpoint"] == f"{tb.node_ip(node)}:{NODE_PORT}"
            assert (
                tb.ovs_vsctl(node, "get", "netflow", "br-int", "targets").strip()
                == f'["{tb.node_ip(node)}:{NODE_PORT}"]'
            )

        # The gateway checks each caller with TokenReview and SubjectAccessReview under its role.
        seen = gateway.post(FLOWS_QUERY, user="viewer")
        assert not seen.get("errors"), seen["errors"]
        assert {n["node"]: n["state"] for n in seen["data"]["flows"]["nodes"]} == dict.fromkeys(
            tb.node_names, "EMITTING"
        )
        forbidden = gateway.post(FLOWS_QUERY, user="nobody")
        assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"

        stopped = gateway.post(STOP, user="admin")
        assert not stopped.get("errors"), stopped["errors"]
        wait_all(tb, "Disabled", stopped["data"]["stopFlows"]["generation"])
        for node in tb.node_names:
            assert tb.ovs_vsctl(node, "get", "bridge", "br-int", "netflow").strip() == "[]"
    finally:
        codes = agents.stop_all()
        gateway.stop()
    assert set(codes.values()) == {0}, codes
    for node in tb.node_names:
        log = agents.log(node)
        assert "Forbidden" not in log and "403" not in log, log
    assert "403" not in gateway.log.read_text()


def test_the_agents_role_cannot_write_flowexport_and_the_gateways_cannot_write_flow(fresh_ovs_testbed: Any) -> None:
    tb = fresh_ovs_testbed
    # node-1's agent, as its DaemonSet pod runs it: a token bound to a pod on node-1
    agent = as_account(tb, tb.service_account_token("flowgate-agent", bound_pod="flowgate-agent-node-1", node="node-1"))
    gateway = as_account(tb, tb.service_account_token("flowgate-gateway"))
    export = {
        "apiVersion": "flowgate.dev/v1alpha1",
        "kind": "FlowExport",
        "metadata": {"name": "cluster"},
        "spec": {"type": "NetFlow", "collector": {"nodePort": NODE_PORT}},
    }
    flow = {
        "apiVersion": "flowgate.dev/v1alpha1",
        "kind": "Flow",
        "metadata": {"name": "node-1"},
        "spec": {"nodeName": "node-1"},
    }

    # What each does for a living works with the same tokens.
    assert agent.get(EXPORTS) is not None and gateway.get(EXPORTS) is not None
    agent.create(FLOWS, flow)
    agent.merge_patch(f"{FLOWS}/node-1/status", {"status": {"state": "Disabled", "observedGeneration": 0}})

    # The agent may not switch export on or off for the cluster.
    assert refused(lambda: agent.create(EXPORTS, export)) == 403
    tb.client().create(EXPORTS, export)
    assert refused(lambda: agent.merge_patch(f"{EXPORTS}/cluster", {"spec": {"type": "IPFIX"}})) == 403
    assert refused(lambda: agent.request("DELETE", f"{EXPORTS}/cluster")) == 403
    # ... nor delete another node's report.
    assert refused(lambda: agent.request("DELETE", f"{FLOWS}/node-1")) == 403

    # The gateway may not forge a node's report, nor change FlowExport as itself.
    second = {**flow, "metadata": {"name": "node-2"}, "spec": {"nodeName": "node-2"}}
    assert refused(lambda: gateway.create(FLOWS, second)) == 403
    assert refused(lambda: gateway.merge_patch(f"{FLOWS}/node-1/status", {"status": {"state": "Emitting"}})) == 403
    assert refused(lambda: gateway.merge_patch(f"{FLOWS}/node-1", {"metadata": {"labels": {"x": "y"}}})) == 403
    assert refused(lambda: gateway.merge_patch(f"{EXPORTS}/cluster", {"spec": {"type": "IPFIX"}})) == 403
    assert refused(lambda: gateway.create(EXPORTS, {**export, "metadata": {"name": "other"}})) == 403

    # Neither reads Secrets or Pods.
    for account in (agent, gateway):
        assert refused(lambda a=account: a.get("/api/v1/namespaces/flowgate/secrets")) == 403
        assert refused(lambda a=account: a.get("/api/v1/pods")) == 403
    assert flow_states(tb)["node-1"]["state"] == "Disabled"
    assert tb.client().get(f"{EXPORTS}/cluster")["spec"]["type"] == "NetFlow"
