"""Export for a while, from the nodes chosen, on the real thing: three nodes with real OVS and a
real goflow2 each, one real `flowgate agent` per node (node-bound tokens, confined by the
admission policy), switched with the real `kubectl flows` against the real API server; no gateway
runs, as none is needed for export to stop. What arrives is read from each node's goflow2.

The testbed's API server, agents and collectors share this machine's clock, so a deadline read
from FlowExport can be compared with the collectors' receive times directly."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.agents import NodeAgents
from tests.fixtures.faults import Figures
from tests.fixtures.kubectl import Kubectl
from tests.fixtures.waiting import wait_for

pytestmark = [pytest.mark.ovs, pytest.mark.slow, pytest.mark.usefixtures("kubectl_binary")]

EXPORT = "/apis/flowgate.dev/v1alpha1/flowexports/cluster"
FLOWS = "/apis/flowgate.dev/v1alpha1/flows"
EVENTS = "/apis/events.k8s.io/v1/namespaces/default/events"
STOPPED_WITHIN = 2.0  # after the deadline, or a label's removal, no record arrives later than this
JOINED_WITHIN = 2.0  # a node labelled exports (OVS holds its exporter) within this
START = ("flows", "start", "netflow", "--node-port", "30001", "--active-timeout", "1")


class Timebox:
    """The testbed, its agents and `kubectl flows` as the admin, with what these tests check."""

    def __init__(self, testbed: Any, agents: NodeAgents) -> None:
        self.tb = testbed
        self.agents = agents
        self.kubectl = Kubectl(Path(testbed.kubeconfig("admin")))
        self.nodes: list[str] = list(testbed.node_names)

    def export(self) -> dict[str, Any]:
        found: dict[str, Any] = self.tb.client().get(EXPORT)
        return found

    def deadline(self) -> float:
        return datetime.fromisoformat(self.export()["spec"]["deadline"].replace("Z", "+00:00")).timestamp()

    def flows(self) -> dict[str, dict[str, Any]]:
        listing = self.tb.client().get(FLOWS)
        return {item["metadata"]["name"]: item.get("status") or {} for item in listing.get("items", [])}

    def wait_flows(self, want: dict[str, str], what: str, timeout: float = 15.0, message: str = "") -> None:
        generation = int(self.export()["metadata"]["generation"])

        def reached() -> bool:
            flows = self.flows()
            return all(
                flows.get(node, {}).get("state") == state
                and flows[node].get("observedGeneration") == generation
                and message in (flows[node].get("message") or "")
                for node, state in want.items()
            )

        wait_for(reached, timeout, what, saw=lambda: str(self.flows()))

    def exporting(self, node: str) -> bool:
        """br-int on this node holds a NetFlow exporter."""
        return self.tb.ovs_vsctl(node, "get", "bridge", "br-int", "netflow").strip() != "[]"

    def received_ns(self, node: str, since_ns: int) -> list[int]:
        """When this node's collector received NetFlow records of the node's own exporter."""
        ip = self.tb.node_ip(node)
        return [
            int(r["time_received_ns"])
            for r in self.tb.read_flow_records(node)
            if r.get("type") == "NETFLOW_V5"
            and r.get("sampler_address") == ip
            and int(r["time_received_ns"]) >= since_ns
        ]

    def wait_records(self, node: str, since_ns: int, timeout: float = 10.0) -> float:
        """Seconds from `since_ns` to the first record of this node's exporter at its collector."""
        received = wait_for(
            lambda: self.received_ns(node, since_ns),
            timeout,
            f"NetFlow records at {node}'s collector",
            saw=lambda: f"{len(self.tb.read_flow_records(node))} records of any kind, none of {node}'s since then",
        )
        return (min(received) - since_ns) / 1e9

    def expiry_events(self) -> list[dict[str, Any]]:
        items = self.tb.client().get(EVENTS).get("items", [])
        return [e for e in items if e.get("reason") == "FlowExportExpired"]


@pytest.fixture(scope="module")
def timebox(ovs_testbed: Any, request: pytest.FixtureRequest) -> Iterator[Timebox]:
    ovs_testbed.reset()
    agents: NodeAgents = request.getfixturevalue("node_agents")
    timebox = Timebox(ovs_testbed, agents)
    # Every agent up and reporting before anything is timed.
    wait_for(lambda: set(timebox.flows()) == set(timebox.nodes), 60, "every agent's first report", saw=timebox.flows)
    yield timebox
    codes = agents.stop_all()
    ovs_testbed.start_apiserver()  # whatever a failed scenario left
    for node in ovs_testbed.node_names:
        with contextlib.suppress(Exception):
            ovs_testbed.kubectl("label", "node", node, "flows-")
    ovs_testbed.reset()
    assert set(codes.values()) <= {0}, f"agents did not exit cleanly on SIGTERM: {codes}"


def last_after(received: list[int], deadline: float) -> float:
    """Seconds from the deadline to the last record received (negative: all before it)."""
    return (max(received) / 1e9 - deadline) if received else float("-inf")


def test_for_20s_on_two_nodes_exports_there_only_and_stops_at_the_deadline(timebox: Timebox, figures: Figures) -> None:
    tb = timebox
    started_ns = time.time_ns()
    out = tb.kubectl.ok(*START, "--for", "20s", "--nodes", "node-1,node-2").stdout
    assert "It runs on 2 of 3 nodes (nodes node-1, node-2)" in out
    deadline = tb.deadline()
    tb.wait_flows({"node-1": "Emitting", "node-2": "Emitting", "node-3": "Disabled"}, "node-1 and node-2 Emitting")
    assert tb.flows()["node-3"]["message"] == "not selected: flow export runs on the nodes named (node-1, node-2)"
    for node in ("node-1", "node-2"):
        figures.add(f"first record at {node}'s collector after the start", tb.wait_records(node, started_ns))
    status = tb.kubectl.ok("flows", "status").stdout.splitlines()[0]
    assert status.startswith("NetFlow on 2 of 3 nodes (nodes node-1, node-2); stops in "), status

    wait_for(lambda: time.time() > deadline + STOPPED_WITHIN + 3, 30, "the deadline and a few seconds more")
    for node in ("node-1", "node-2"):
        assert not tb.exporting(node)
        late = last_after(tb.received_ns(node, started_ns), deadline)
        figures.add(f"last record at {node}'s collector after the deadline", late, bound=STOPPED_WITHIN)
        assert late <= STOPPED_WITHIN
    assert tb.received_ns("node-3", started_ns) == [], "node-3 was not chosen: its collector must get nothing"

    ended = f"export ended at its deadline, {tb.export()['spec']['deadline']}"
    tb.wait_flows({"node-1": "Disabled", "node-2": "Disabled"}, "the end reported", message=ended)
    status = tb.kubectl.ok("flows", "status").stdout.splitlines()[0]
    assert status.startswith("NetFlow ended ") and "ago, at its deadline" in status, status
    header = tb.kubectl.ok("get", "flows").stdout.splitlines()[0].split()
    assert header == ["NAME", "STATUS", "TYPE", "ENDPOINT"]
    generation = int(tb.export()["metadata"]["generation"])
    wait_for(lambda: tb.expiry_events(), 10, "the expiry Event", saw=lambda: "no FlowExportExpired Event")
    time.sleep(2)  # every agent has had its try
    events = [
        e for e in tb.expiry_events() if e["metadata"]["name"] == f"cluster.expired-g{generation}-{int(deadline)}"
    ]
    assert len(events) == 1 and events[0]["regarding"]["name"] == "cluster"
    figures.outcome("records at the chosen nodes only, none at node-3; every exporter gone at the deadline")


@pytest.mark.fault("S12", "The API server frozen (SIGSTOP) across a time-boxed export's deadline")
def test_export_stops_on_time_with_the_api_server_frozen_across_the_deadline(
    timebox: Timebox, figures: Figures
) -> None:
    tb = timebox
    started_ns = time.time_ns()
    tb.kubectl.ok(*START, "--for", "20s", "--nodes", "node-1,node-2")  # replaces any earlier deadline
    deadline, generation = tb.deadline(), int(tb.export()["metadata"]["generation"])
    tb.wait_flows({"node-1": "Emitting", "node-2": "Emitting"}, "node-1 and node-2 Emitting")
    for node in ("node-1", "node-2"):
        tb.wait_records(node, started_ns)
    wait_for(lambda: time.time() > deadline - 5, 30, "five seconds before the deadline")
    pid = tb.tb.apiserver_pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: time.time() > deadline + STOPPED_WITHIN + 3, 30, "the deadline passing, the API server frozen")
        for node in ("node-1", "node-2"):
            assert not tb.exporting(node), f"{node} still exports with the API server frozen"
            late = last_after(tb.received_ns(node, started_ns), deadline)
            figures.add(f"{node}: last record after the deadline, API server frozen", late, bound=STOPPED_WITHIN)
            assert late <= STOPPED_WITHIN
        assert tb.received_ns("node-3", started_ns) == []
    finally:
        os.kill(pid, signal.SIGCONT)
    thawed = time.monotonic()
    ended = f"export ended at its deadline, {tb.export()['spec']['deadline']}"
    tb.wait_flows(
        {"node-1": "Disabled", "node-2": "Disabled"}, "the end reported once the API server is back", 30, ended
    )
    figures.add("every chosen node reported the end after the API server came back", time.monotonic() - thawed)
    name = f"cluster.expired-g{generation}-{int(deadline)}"
    wait_for(
        lambda: any(e["metadata"]["name"] == name for e in tb.expiry_events()),
        15,
        f"the expiry Event {name}",
        saw=lambda: str([e["metadata"]["name"] for e in tb.expiry_events()]),
    )
    time.sleep(2)
    assert sum(e["metadata"]["name"] == name for e in tb.expiry_events()) == 1
    figures.outcome(
        "every chosen node's exporter was gone by the deadline while the API server was stopped; each node "
        "reported the end and one Event recorded it once the API server ran again"
    )


def test_a_selector_start_exports_from_labelled_nodes_and_follows_the_labels(
    timebox: Timebox, figures: Figures
) -> None:
    tb = timebox
    tb.kubectl.ok("label", "node", "node-2", "flows=on")
    started_ns = time.time_ns()
    tb.kubectl.ok(*START, "--for", "10m", "--node-selector", "flows=on")
    generation = int(tb.export()["metadata"]["generation"])
    tb.wait_flows({"node-1": "Disabled", "node-2": "Emitting", "node-3": "Disabled"}, "node-2 alone Emitting")
    tb.wait_records("node-2", started_ns)
    time.sleep(2)
    assert tb.received_ns("node-1", started_ns) == [] and tb.received_ns("node-3", started_ns) == []

    tb.kubectl.ok("label", "node", "node-3", "flows=on")
    labelled = time.monotonic()
    wait_for(lambda: tb.exporting("node-3"), 10, "node-3 exporting after its label", interval=0.02)
    joined = figures.add("node-3 labelled -> its OVS exports", time.monotonic() - labelled, bound=JOINED_WITHIN)
    assert joined <= JOINED_WITHIN
    labelled_ns = time.time_ns()
    figures.add("node-3 labelled -> first record at its collector", tb.wait_records("node-3", labelled_ns))
    tb.wait_flows({"node-3": "Emitting"}, "node-3 Emitting")

    tb.kubectl.ok("label", "node", "node-3", "flows-")
    unlabelled_at = time.time()
    wait_for(lambda: not tb.exporting("node-3"), 10, "node-3 no longer exporting", interval=0.02)
    left = figures.add("node-3 unlabelled -> its OVS stops", time.time() - unlabelled_at, bound=STOPPED_WITHIN)
    assert left <= STOPPED_WITHIN
    time.sleep(STOPPED_WITHIN + 2)
    late = last_after(tb.received_ns("node-3", labelled_ns), unlabelled_at)
    figures.add("node-3 unlabelled -> last record at its collector", late, bound=STOPPED_WITHIN)
    assert late <= STOPPED_WITHIN
    tb.wait_flows({"node-3": "Disabled"}, "node-3 Disabled, not selected", message="not selected")
    assert int(tb.export()["metadata"]["generation"]) == generation  # the labels did it: no new start
    tb.kubectl.ok("flows", "stop")
    tb.kubectl.ok("label", "node", "node-2", "flows-")
