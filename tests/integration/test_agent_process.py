"""The `flowgate agent` process against a real API server when OVS is not there: it reports the
sentence in Flow/<node>, keeps running, and exits cleanly on SIGTERM. (The OVS testbed covers
everything else; this needs no root.)"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from flowgate_testbed.testbed import free_port

from tests.fixtures.agents import NodeAgents
from tests.fixtures.waiting import wait_for

FLOWS = "/apis/flowgate.dev/v1alpha1/flows"
EXPORTS = "/apis/flowgate.dev/v1alpha1/flowexports"


def wait_for_flow(testbed: Any, node: str, check: Any, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        items = testbed.client().get(FLOWS).get("items", [])
        last = next((i for i in items if i["metadata"]["name"] == node), {})
        if last and check(last.get("status") or {}):
            return last
        time.sleep(0.05)
    raise AssertionError(f"Flow/{node} did not reach the expected status in {timeout:.0f} s: {last}")


def test_ovs_not_reachable_is_reported_and_the_agent_keeps_running(fresh_testbed: Any, tmp_path: Path) -> None:
    agents = NodeAgents(fresh_testbed, tmp_path, resync="1s")
    absent = tmp_path / "no-ovs"
    agents.start("node-1", ovs_rundir=str(absent))
    try:
        admin = fresh_testbed.client()
        admin.create(
            EXPORTS,
            {
                "apiVersion": "flowgate.dev/v1alpha1",
                "kind": "FlowExport",
                "metadata": {"name": "cluster"},
                "spec": {"type": "NetFlow", "collector": {"targets": ["192.0.2.10:2055"]}},
            },
        )
        flow = wait_for_flow(fresh_testbed, "node-1", lambda s: s.get("state") == "Error")
        assert flow["status"]["message"] == (
            f"OVS not reachable at unix:{absent}/db.sock: database connection failed (No such file or directory)."
        )
        assert flow["status"]["type"] == "NetFlow" and flow["status"]["observedGeneration"] == 1
        node = admin.get("/api/v1/nodes/node-1")
        assert flow["metadata"]["ownerReferences"] == [
            {"apiVersion": "v1", "kind": "Node", "name": "node-1", "uid": node["metadata"]["uid"]}
        ]
        assert flow["spec"] == {"nodeName": "node-1"}
        time.sleep(2.5)  # a few retries later: still running, logged once, not at every retry
        assert agents.alive("node-1")
        log = agents.log("node-1")
        assert log.count("ERROR agent[node-1] OVS not reachable at") == 1, log
    finally:
        code = agents.stop("node-1")
    assert code == 0
    assert "received SIGTERM; stopping and leaving OVS as it is" in agents.log("node-1")


def _watches_at_the_api_server(testbed: Any, resource: str) -> float:
    text = testbed.client().get("/metrics")["raw"]
    found = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("apiserver_longrunning_requests{")
        and 'verb="WATCH"' in line
        and f'resource="{resource}"' in line
    ]
    return sum(found)


def _agent_metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    figures = {}
    for line in text.splitlines():
        if line.startswith("flowgate_agent_watches{"):
            figures["watches"] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("flowgate_agent_cached_objects{"):
            figures[line.split('resource="')[1].split('"')[0]] = float(line.rsplit(" ", 1)[1])
    return figures


def test_the_api_server_sends_an_agent_only_what_can_be_its_collector(fresh_testbed: Any, tmp_path: Path) -> None:
    """Beside 30 ordinary Services and another NodePort Service, an agent discovering its
    collector by label (export on or off) holds that Service and its EndpointSlice, in four
    watches the API server counts too; static targets need no Service watch at all."""
    admin = fresh_testbed.client()
    names = [f"web-{i}" for i in range(30)]
    for name in names:
        admin.create(
            "/api/v1/namespaces/default/services", {"metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}}
        )
    admin.create(
        "/api/v1/namespaces/default/services",
        {
            "metadata": {"name": "other", "labels": {"app": "other"}},
            "spec": {"type": "NodePort", "ports": [{"port": 9}]},
        },
    )
    port = free_port()
    agents = NodeAgents(fresh_testbed, tmp_path, resync="1s")
    services_before = _watches_at_the_api_server(fresh_testbed, "services")
    agents.start("node-1", ovs_rundir=str(tmp_path / "no-ovs"), extra=["--metrics-address", f"127.0.0.1:{port}"])
    try:
        wait_for_flow(fresh_testbed, "node-1", lambda s: "state" in s)  # reported (OVS absent: Error)
        # Export off: the default collector's Service (role=flows-collector) is watched, ready for a start.
        figures = wait_for(lambda: (m := _agent_metrics(port)).get("watches") == 4 and m, 10, "four watches")
        assert figures["services"] == 1 and figures["endpointslices"] == 1, figures
        assert _watches_at_the_api_server(fresh_testbed, "services") == services_before + 1
        body = {"apiVersion": "flowgate.dev/v1alpha1", "kind": "FlowExport", "metadata": {"name": "cluster"},
                "spec": {"type": "NetFlow"}}  # fmt: skip
        admin.create(EXPORTS, body)
        wait_for_flow(fresh_testbed, "node-1", lambda s: s.get("observedGeneration") == 1)
        figures = wait_for(lambda: (m := _agent_metrics(port)).get("watches") == 4 and m, 10, "four watches")
        assert figures["services"] == 1 and figures["endpointslices"] == 1, figures  # the collector's, nothing else
        assert _watches_at_the_api_server(fresh_testbed, "services") == services_before + 1
        admin.merge_patch(f"{EXPORTS}/cluster", {"spec": {"collector": {"targets": ["192.0.2.10:2055"]}}})
        wait_for_flow(fresh_testbed, "node-1", lambda s: s.get("observedGeneration") == 2)
        figures = wait_for(lambda: (m := _agent_metrics(port)).get("watches") == 2 and m, 10, "two watches again")
        assert figures["services"] == 0 and figures["endpointslices"] == 0
        assert wait_for(
            lambda: _watches_at_the_api_server(fresh_testbed, "services") == services_before, 10, "the watch closed"
        )
    finally:
        agents.stop("node-1")
        for name in [*names, "other"]:
            admin.delete(f"/api/v1/namespaces/default/services/{name}")


def test_a_bad_kubeconfig_is_a_sentence_and_exit_code_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.main", "agent", "--node", "node-1", "--kubeconfig", str(tmp_path / "absent")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"kubeconfig {tmp_path / 'absent'} does not exist; pass --kubeconfig or set KUBECONFIG." in result.stderr


def test_resync_must_be_a_duration() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.main", "agent", "--node", "n", "--resync", "soon"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "argument --resync: 'soon' is not a duration; write it like 30s, 2m" in result.stderr
