"""A node agent can write only its own node's report: deploy/admission's policy, installed by the
testbed, checked on the real API server with the tokens a DaemonSet pod gets (bound to a pod on
its node) and with tokens that name no node."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from flowgate_testbed.cluster_api import ClusterApi, ClusterApiError

from tests.fixtures.agents import NodeAgents

FLOWS = "/apis/flowgate.dev/v1alpha1/flows"
EVENTS = "/apis/events.k8s.io/v1/namespaces/default/events"
POLICY = "ValidatingAdmissionPolicy 'flowgate-agent-own-node' with binding 'flowgate-agent-own-node' denied request"


def as_token(testbed: Any, token: str) -> ClusterApi:
    return ClusterApi("127.0.0.1", testbed.apiserver_port, str(testbed.ca_file), token)


def flow(node: str) -> dict[str, Any]:
    return {
        "apiVersion": "flowgate.dev/v1alpha1",
        "kind": "Flow",
        "metadata": {"name": node},
        "spec": {"nodeName": node},
    }


def warning_about(kind: str, name: str, api_version: str = "flowgate.dev/v1alpha1") -> dict[str, Any]:
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"generateName": f"{name}-", "namespace": "default"},
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
        "reportingController": "flowgate.dev/agent",
        "reportingInstance": "test",
        "action": "Export",
        "reason": "ExportFailed",
        "type": "Warning",
        "note": "a test",
        "regarding": {"apiVersion": api_version, "kind": kind, "name": name},
    }


def refusal(call: Any) -> ClusterApiError:
    with pytest.raises(ClusterApiError) as caught:
        call()
    return caught.value


def test_a_node_bound_token_writes_its_own_flow_and_no_other(fresh_testbed: Any) -> None:
    node1 = as_token(
        fresh_testbed,
        fresh_testbed.service_account_token("flowgate-agent", bound_pod="flowgate-agent-node-1", node="node-1"),
    )
    admin = fresh_testbed.client()

    node1.create(FLOWS, flow("node-1"))
    node1.merge_patch(f"{FLOWS}/node-1/status", {"status": {"state": "Emitting", "observedGeneration": 0}})
    assert admin.get(f"{FLOWS}/node-1")["status"]["state"] == "Emitting"

    refused = refusal(lambda: node1.create(FLOWS, flow("node-2")))
    assert refused.status == 403
    assert (
        f"{POLICY}: flowgate-agent on node node-1 may write only Flow/node-1 and Events about it, not Flow/node-2."
        in (str(refused))
    )
    admin.create(FLOWS, flow("node-2"))
    patch = {"status": {"state": "Error", "message": "forged"}}
    refused = refusal(lambda: node1.merge_patch(f"{FLOWS}/node-2/status", patch))
    assert refused.status == 403 and "not Flow/node-2" in str(refused)
    assert "status" not in admin.get(f"{FLOWS}/node-2"), "the refused patch must change nothing"

    # A Flow named after its node but claiming another in spec.nodeName is refused too.
    admin.delete(f"{FLOWS}/node-1")
    admin.wait_gone(f"{FLOWS}/node-1")
    lying = {**flow("node-1"), "spec": {"nodeName": "node-2"}}
    assert "may report only on its own node, not spec.nodeName node-2" in str(
        refusal(lambda: node1.create(FLOWS, lying))
    )

    # Events: about its own Flow only.
    node1.create(EVENTS, warning_about("Flow", "node-1"))
    assert "not Flow/node-2" in str(refusal(lambda: node1.create(EVENTS, warning_about("Flow", "node-2"))))
    assert "not Events about other objects" in str(
        refusal(lambda: node1.create(EVENTS, warning_about("Node", "node-1", "v1")))
    )


def test_a_node_bound_token_may_record_an_exports_expiry_once_and_nothing_else_about_it(fresh_testbed: Any) -> None:
    """The one Event about FlowExport/cluster an agent may write: its end at the deadline, under
    the fixed name every agent tries (the API server keeps the first)."""
    node1, node2 = (
        as_token(
            fresh_testbed,
            fresh_testbed.service_account_token("flowgate-agent", bound_pod=f"flowgate-agent-{n}", node=n),
        )
        for n in ("node-1", "node-2")
    )

    def expiry(name: str = "cluster.expired-g3-1800000000", reason: str = "FlowExportExpired") -> dict[str, Any]:
        event = warning_about("FlowExport", "cluster")
        event["metadata"] = {"name": name, "namespace": "default"}
        return {**event, "type": "Normal", "reason": reason, "action": "Expire"}

    node1.create(EVENTS, expiry())
    again = refusal(lambda: node2.create(EVENTS, expiry()))
    assert again.status == 409  # already there: one Event, however many agents
    for forged in (expiry(reason="FlowExportStarted"), expiry(name="cluster.something-else")):
        assert "not Events about other objects" in str(refusal(lambda e=forged: node1.create(EVENTS, e)))  # type: ignore[misc]
    patch = {"series": {"count": 99, "lastObservedTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())}}
    assert "not Events about other objects" in str(
        refusal(lambda: node2.merge_patch(f"{EVENTS}/cluster.expired-g3-1800000000", patch))
    )


@pytest.mark.parametrize("binding", ["secret", "none"])
def test_a_token_that_names_no_node_may_write_no_flow(fresh_testbed: Any, binding: str) -> None:
    token = (
        fresh_testbed.service_account_token("flowgate-agent", bound_secret="agent-credentials")
        if binding == "secret"
        else fresh_testbed.service_account_token("flowgate-agent")
    )
    refused = refusal(lambda: as_token(fresh_testbed, token).create(FLOWS, flow("node-1")))
    assert refused.status == 403
    assert (
        f"{POLICY}: flowgate-agent may write only the Flow of the node its pod runs on, and this token names no node"
        in (str(refused))
    )
    assert not fresh_testbed.client().get(FLOWS)["items"]


def test_other_identities_are_left_to_rbac(fresh_testbed: Any) -> None:
    """The policy confines the agent's service account; the admin (and the testbed's static
    `agent` user, which stands in for reports in other tests) are not matched."""
    fresh_testbed.client("agent").create(FLOWS, flow("node-2"))
    fresh_testbed.client().create(FLOWS, flow("node-3"))
    assert sorted(i["metadata"]["name"] for i in fresh_testbed.client().get(FLOWS)["items"]) == ["node-2", "node-3"]


def test_an_agent_given_another_nodes_token_says_so_and_writes_nothing(fresh_testbed: Any, tmp_path: Path) -> None:
    """The real agent process run with node-1's pod token but told it is node-2: it says at start
    whose credentials these are, and every report on Flow/node-2 is refused by the policy."""
    agents = NodeAgents(fresh_testbed, tmp_path, resync="1s")
    agents.command = lambda node, ovs_rundir=None: [  # type: ignore[method-assign]
        *NodeAgents.command(agents, node, ovs_rundir),
        "--kubeconfig",
        str(fresh_testbed.agent_kubeconfig("node-1")),
    ]
    agents.start("node-2", ovs_rundir=str(tmp_path / "no-ovs"))
    try:
        deadline = time.monotonic() + 20
        while "may write only Flow/node-1" not in agents.log("node-2") and time.monotonic() < deadline:
            time.sleep(0.1)
        log = agents.log("node-2")
        assert "these credentials belong to a pod on node node-1, but this agent was told it runs on node-2" in log
        assert "flowgate-agent on node node-1 may write only Flow/node-1 and Events about it, not Flow/node-2." in log
        assert agents.alive("node-2")
        assert not fresh_testbed.client().get(FLOWS)["items"]
    finally:
        agents.stop_all()
