"""The node agent end to end on the real thing: three nodes with real OVS (userspace datapath) and
a real goflow2 each, the real gateway (`flowgate serve`), and one real `flowgate agent` per node.
Export is switched over GraphQL as users do; what arrives is read from each node's goflow2.

activeTimeoutSeconds=1 (and sampling=1 for IPFIX/sFlow, whose defaults would sample one packet
in 400 of the testbed's ~20 packets a second) makes records arrive within ~2 s."""

from __future__ import annotations

import ipaddress
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fixtures import waiting
from tests.fixtures.agents import NodeAgents
from tests.fixtures.faults import Figures
from tests.fixtures.gateway import Gateway, running_gateway

pytestmark = [pytest.mark.ovs, pytest.mark.slow]

NODE_PORT = 30001
RESYNC_SECONDS = 2.0
# Waits: a few seconds on a quiet machine; these bounds leave room for a loaded one, and only an
# agent that never applies (or a collector that never receives) runs them out.
EMITTING_WITHIN = 30.0
RECORDS_WITHIN = 20.0
DRAIN = 2.0  # records already in flight when an exporter goes

FLOWS_PATH = "/apis/flowgate.dev/v1alpha1/flows"
START = """
mutation Start($type: FlowType!, $collector: CollectorInput, $sampling: Int, $timeout: Int) {
  startFlows(type: $type, collector: $collector, sampling: $sampling, activeTimeoutSeconds: $timeout) { generation }
}"""
STOP = "mutation { stopFlows { generation } }"
RECORD_TYPE = {"NETFLOW": "NETFLOW_V5", "IPFIX": "IPFIX", "SFLOW": "SFLOW_5"}


def figure(name: str, seconds: float) -> None:
    print(f"figure: {name}: {seconds:.2f} s")


def wait_for(
    check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05, saw: Callable[[], Any] | None = None
) -> float:
    """Seconds until check() is truthy; past `timeout`, fails naming `what` and what it saw."""
    start = time.monotonic()
    waiting.wait_for(check, timeout, what, interval, saw)
    return time.monotonic() - start


class Cluster:
    """The testbed, its gateway and its agents, with the checks these tests make."""

    def __init__(self, testbed: Any, gateway: Gateway, agents: NodeAgents) -> None:
        self.tb = testbed
        self.gateway = gateway
        self.agents = agents
        self.nodes: list[str] = list(testbed.node_names)

    # -- desired state, as users change it ------------------------------------------------------

    def start(self, flow_type: str, collector: dict[str, Any] | None = None, *, sampling: int | None = None) -> int:
        variables = {
            "type": flow_type,
            "collector": collector or {"nodePort": NODE_PORT},
            "sampling": sampling if sampling is not None else (1 if flow_type != "NETFLOW" else None),
            "timeout": 1,
        }
        result = self.gateway.post(START, variables, user="admin")
        assert not result.get("errors"), result["errors"]
        return int(result["data"]["startFlows"]["generation"])

    def stop(self) -> int:
        result = self.gateway.post(STOP, user="admin")
        assert not result.get("errors"), result["errors"]
        return int(result["data"]["stopFlows"]["generation"])

    # -- observed state ------------------------------------------------------------------------

    def flows(self) -> dict[str, dict[str, Any]]:
        listing = self.tb.client().get(FLOWS_PATH)
        return {item["metadata"]["name"]: item.get("status") or {} for item in listing.get("items", [])}

    def wait_states(self, expected: dict[str, str], generation: int, timeout: float = EMITTING_WITHIN) -> float:
        def reached() -> bool:
            flows = self.flows()
            return all(
                flows.get(node, {}).get("state") == state and flows[node].get("observedGeneration") == generation
                for node, state in expected.items()
            )

        def seen() -> dict[str, tuple[Any, Any]]:
            flows = self.flows()
            return {
                node: (flows.get(node, {}).get("state"), flows.get(node, {}).get("observedGeneration"))
                for node in expected
            }

        return wait_for(reached, timeout, f"Flow states {expected} at generation {generation}", saw=seen)

    def wait_all(self, state: str, generation: int, timeout: float = EMITTING_WITHIN) -> float:
        return self.wait_states(dict.fromkeys(self.nodes, state), generation, timeout)

    def exporters(self, node: str) -> list[str]:
        """br-int's netflow, sflow and ipfix columns ("[]" when unset)."""
        return str(self.tb.ovs_vsctl(node, "get", "bridge", "br-int", "netflow", "sflow", "ipfix")).split()

    def ip(self, node: str) -> str:
        return str(self.tb.node_ip(node))

    def pod_subnet(self, node: str) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"10.128.{self.nodes.index(node) + 1}.0/24")

    # -- what the collectors received ----------------------------------------------------------

    def mark(self) -> dict[str, int]:
        return {node: len(self.tb.read_flow_records(node)) for node in self.nodes}

    def records(self, node: str, since: dict[str, int]) -> list[dict[str, Any]]:
        return list(self.tb.read_flow_records(node)[since[node] :])

    def wait_records(self, node: str, since: dict[str, int], record_type: str, count: int = 2) -> list[dict[str, Any]]:
        """Records of this type, once `count` of them describe the pods' UDP test traffic."""
        subnet = self.pod_subnet(node)

        def enough() -> list[dict[str, Any]] | None:
            found = [r for r in self.records(node, since) if r.get("type") == record_type]
            # (goflow2 leaves src_addr empty in the rare record that carries no address fields.)
            pods = [
                r
                for r in found
                if r.get("src_addr") and ipaddress.ip_address(r["src_addr"]) in subnet and r.get("dst_port") == 5000
            ]
            return found if len(pods) >= count else None

        def seen() -> str:
            found = self.records(node, since)
            return f"{len(found)} records since, of types {sorted({str(r.get('type')) for r in found})}"

        wait_for(enough, RECORDS_WITHIN, f"{record_type} records at {node}'s collector", interval=0.2, saw=seen)
        return enough() or []

    def assert_node_local(self, node: str, records: list[dict[str, Any]], sampler: str | None = None) -> None:
        """Every record came from this node's exporter and describes this node's own pods: their
        IPv4 addresses, or the IPv6 link-local chatter (neighbour discovery) of their interfaces,
        which cannot leave the node either."""
        subnet = self.pod_subnet(node)
        for record in records:
            assert record["sampler_address"] == (sampler or self.ip(node)), record
            for field in ("src_addr", "dst_addr"):
                if not record.get(field):
                    continue  # a flow without IP addresses (ARP, say): nothing to place
                address = ipaddress.ip_address(record[field])
                if address.version == 4:
                    assert address in subnet, record
                else:
                    assert address.is_link_local or address.is_multicast, record


@pytest.fixture(scope="module")
def cluster(
    ovs_testbed: Any, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    ovs_testbed.reset()
    agents: NodeAgents = request.getfixturevalue("node_agents")
    with running_gateway(ovs_testbed, tmp_path_factory.mktemp("gateway")) as gateway:
        yield Cluster(ovs_testbed, gateway, agents)
    # Agents first, so nothing re-creates Flows while the testbed is put back as it was.
    codes = agents.stop_all()
    ovs_testbed.reset()
    assert set(codes.values()) <= {0}, f"agents did not exit cleanly on SIGTERM: {codes}"


def test_netflow_on_node_port_reaches_each_nodes_own_collector(cluster: Cluster) -> None:
    since = cluster.mark()
    generation = cluster.start("NETFLOW")
    figure("startFlows NETFLOW -> all 3 Flows Emitting", cluster.wait_all("Emitting", generation))
    flows = cluster.flows()
    for node in cluster.nodes:
        assert flows[node]["type"] == "NetFlow"
        assert flows[node]["endpoint"] == f"{cluster.ip(node)}:{NODE_PORT}"
        assert flows[node]["lastTransitionTime"]
    for node in cluster.nodes:
        cluster.wait_records(node, since, "NETFLOW_V5")
        # none from other nodes: every record, of any type, is this node's own
        cluster.assert_node_local(node, cluster.records(node, since))

    table = cluster.tb.kubectl("get", "flows")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    print("kubectl get flows:\n" + table.stdout)
    assert lines[0].split() == ["NAME", "STATUS", "TYPE", "ENDPOINT"]
    assert [line.split() for line in lines[1:]] == [
        [node, "Emitting", "NetFlow", f"{cluster.ip(node)}:{NODE_PORT}"] for node in cluster.nodes
    ]


def _switch(cluster: Cluster, flow_type: str, previous: str) -> None:
    generation = cluster.start(flow_type)
    figure(f"switch to {flow_type} -> all Emitting", cluster.wait_all("Emitting", generation))
    switched_ns = time.time_ns()
    since = cluster.mark()
    for node in cluster.nodes:
        records = cluster.wait_records(node, since, RECORD_TYPE[flow_type])
        # sFlow names its agent (the ovn-k8s-mp0 management port) as the sampler.
        mp0 = str(next(iter(cluster.pod_subnet(node).hosts())) + 1) if flow_type == "SFLOW" else None
        cluster.assert_node_local(node, records, sampler=mp0)
    time.sleep(max(0.0, DRAIN + 1 - (time.time_ns() - switched_ns) / 1e9))
    for node in cluster.nodes:
        late = [
            r
            for r in cluster.records(node, since)
            if r.get("type") == RECORD_TYPE[previous] and r["time_received_ns"] > switched_ns + DRAIN * 1e9
        ]
        assert not late, f"{node} still received {previous} after switching to {flow_type}: {late[:1]}"


def test_switching_type_switches_what_collectors_receive(cluster: Cluster) -> None:
    cluster.start("NETFLOW")
    _switch(cluster, "IPFIX", "NETFLOW")
    _switch(cluster, "SFLOW", "IPFIX")
    for node in cluster.nodes:
        netflow, sflow, ipfix = cluster.exporters(node)
        assert (netflow, ipfix) == ("[]", "[]") and sflow != "[]"


def test_changing_only_the_sampling_of_a_running_ipfix_export_is_applied(cluster: Cluster) -> None:
    """Sampling alone is a change: the same type, collector and timeout with another sampling must
    reach every bridge, read back from OVS itself; changed there by hand, the resync puts it back."""

    def samplings() -> dict[str, str]:
        """Every IPFIX row's sampling, per node (one row each, or the test says what else)."""
        return {
            node: " ".join(cluster.tb.ovs_vsctl(node, "--bare", "--columns=sampling", "list", "ipfix").split())
            for node in cluster.nodes
        }

    cluster.wait_all("Emitting", cluster.start("IPFIX", sampling=1))
    assert samplings() == dict.fromkeys(cluster.nodes, "1")
    generation = cluster.start("IPFIX", sampling=64)
    cluster.wait_all("Emitting", generation)
    # The Flows say Emitting at the new generation once the agents applied it: OVS must agree.
    wait_for(
        lambda: samplings() == dict.fromkeys(cluster.nodes, "64"),
        EMITTING_WITHIN,
        "sampling 64 on every node's IPFIX exporter",
        saw=samplings,
    )
    exporter = cluster.exporters("node-2")[2]
    cluster.tb.ovs_vsctl("node-2", "set", "ipfix", exporter, "sampling=5")  # inside the row: only a resync sees it
    wait_for(lambda: samplings()["node-2"] == "64", EMITTING_WITHIN, "sampling 64 restored on node-2", saw=samplings)
    assert cluster.flows()["node-2"]["state"] == "Emitting"


def test_stop_clears_every_bridge_and_records_stop(cluster: Cluster) -> None:
    generation = cluster.start("NETFLOW")
    cluster.wait_all("Emitting", generation)
    generation = cluster.stop()
    figure("stopFlows -> all Disabled", cluster.wait_all("Disabled", generation))
    for node in cluster.nodes:
        assert cluster.exporters(node) == ["[]", "[]", "[]"]
        assert not {"type", "endpoint", "message"} & set(cluster.flows()[node])
    time.sleep(DRAIN)
    since = cluster.mark()
    time.sleep(3.0)
    assert {node: cluster.records(node, since) for node in cluster.nodes} == {node: [] for node in cluster.nodes}


@pytest.mark.fault("S9", "Data plane: ovs-vswitchd stopped, br-int cleared, nodes deleted and added")
def test_collector_gone_on_one_node_is_an_error_there_only(cluster: Cluster, figures: Figures) -> None:
    generation = cluster.start("IPFIX")
    cluster.wait_all("Emitting", generation)
    agent_pid = cluster.agents.processes["node-2"].pid
    cluster.tb.stop_collector("node-2")
    try:
        others = {"node-1": "Emitting", "node-3": "Emitting"}
        error_after = cluster.wait_states({"node-2": "Error", **others}, generation)
        figures.add("collector gone -> node-2 Error", error_after, "s")
        status = cluster.flows()["node-2"]
        assert status["message"] == f"no flows collector on node-2 behind nodePort {NODE_PORT}"
        assert "endpoint" not in status
        assert cluster.agents.alive("node-2")
        assert cluster.exporters("node-2") == ["[]", "[]", "[]"]
        table = cluster.tb.kubectl("get", "flows").stdout
        print("kubectl get flows:\n" + table)
        assert ["node-2", "Error", "IPFIX"] == table.splitlines()[2].split()
        since = cluster.mark()
    finally:
        cluster.tb.start_collector("node-2")
    figures.add("collector back -> node-2 Emitting", cluster.wait_all("Emitting", generation), "s")
    # The exporter was re-created, so IPFIX templates went out at once and the new collector
    # decodes records without waiting 600 s for the next template.
    cluster.assert_node_local("node-2", cluster.wait_records("node-2", since, "IPFIX"))
    assert cluster.agents.processes["node-2"].pid == agent_pid and cluster.agents.alive("node-2")
    figures.outcome("the node without a collector was Error with a sentence, the others kept emitting, IPFIX resumed")


def test_selector_mode(cluster: Cluster) -> None:
    missing = cluster.start("NETFLOW", {"selector": [{"key": "role", "value": "no-such-collector"}]})
    cluster.wait_all("Error", missing)
    assert {s["message"] for s in cluster.flows().values()} == {"no Service matches selector role=no-such-collector"}
    since = cluster.mark()
    generation = cluster.start("NETFLOW", {"selector": [{"key": "role", "value": "flows-collector"}]})
    cluster.wait_all("Emitting", generation)
    for node, status in cluster.flows().items():
        assert status["endpoint"] == f"{cluster.ip(node)}:{NODE_PORT}"
        cluster.assert_node_local(node, cluster.wait_records(node, since, "NETFLOW_V5"))


def test_static_targets_mode(cluster: Cluster) -> None:
    target = f"{cluster.ip('node-1')}:{NODE_PORT}"
    since = cluster.mark()
    generation = cluster.start("NETFLOW", {"targets": [target]})
    cluster.wait_all("Emitting", generation)
    assert {s["endpoint"] for s in cluster.flows().values()} == {target}
    # Every node sends to node-1's collector, as configured.
    wait_for(
        lambda: (
            {r["sampler_address"] for r in cluster.records("node-1", since)} >= {cluster.ip(n) for n in cluster.nodes}
        ),
        RECORDS_WITHIN,
        "records from all three nodes at node-1's collector",
    )


def restart_agent(cluster: Cluster, node: str, *extra: str) -> None:
    """Replace node's agent (SIGTERM, then a new one with `extra` flags) and wait until it has read
    the bridge once: a change made before that is what its first pass applies, not a repair."""
    assert cluster.agents.stop(node) == 0
    log_before = len(cluster.agents.log(node))
    cluster.agents.start(node, extra=extra)

    def bridge_read() -> bool:
        try:
            return "\nflowgate_agent_ovs_read_timestamp_seconds{" in cluster.agents.metrics(node)
        except Exception:  # its metrics are not served yet
            return False

    wait_for(
        bridge_read,
        EMITTING_WITHIN,
        f"{node}'s new agent reading the bridge",
        saw=lambda: cluster.agents.log(node)[log_before:][-2000:],
    )


def test_drift_is_repaired_by_the_ovsdb_monitor_and_by_the_resync(cluster: Cluster) -> None:
    generation = cluster.start("NETFLOW")
    cluster.wait_all("Emitting", generation)
    # As an ovnkube-node restart does: the bridge loses its NetFlow. With the resync, the
    # collector's scrape and the traffic reading (whose news also wakes the agent) ten minutes
    # apart, only the OVSDB monitor can notice within the bound (how fast it does is a figure).
    quiet = ("--resync", "600s", "--scrape-interval", "600s", "--traffic-interval", "600s")
    restart_agent(cluster, "node-3", *quiet)
    try:
        log_before = len(cluster.agents.log("node-3"))
        cluster.tb.ovs_vsctl("node-3", "clear", "bridge", "br-int", "netflow")
        repaired = wait_for(
            lambda: cluster.exporters("node-3")[0] != "[]",
            EMITTING_WITHIN,
            "NetFlow restored on node-3 by its agent's OVSDB monitor (nothing else wakes it for 600 s)",
            saw=lambda: cluster.exporters("node-3"),
        )
        figure("br-int netflow cleared by hand -> restored", repaired)
        # It logs right after its transaction: stopped before that, it never would.
        wait_for(
            lambda: "changed outside flowgate; restored NetFlow to" in cluster.agents.log("node-3")[log_before:],
            EMITTING_WITHIN,
            "the node-3 agent saying it repaired br-int",
            saw=lambda: cluster.agents.log("node-3")[log_before:][-2000:],
        )
    finally:
        restart_agent(cluster, "node-3")  # the resync of the other tests
    # Changed inside the row (not seen by the OVSDB monitor): the resync puts it right.
    cluster.tb.ovs_vsctl("node-3", "set", "netflow", cluster.exporters("node-3")[0], "active_timeout=30")
    # One ovs-vsctl call reads every NetFlow row: the repair replaces the row (a new uuid), and
    # OVSDB drops the unreferenced old one in the same transaction, so there is never a stale row.
    retuned = wait_for(
        lambda: (
            cluster.tb.ovs_vsctl("node-3", "--bare", "--columns=active_timeout", "list", "netflow").split() == ["1"]
        ),
        EMITTING_WITHIN,
        "active_timeout restored on node-3 at a resync",
        saw=lambda: cluster.tb.ovs_vsctl("node-3", "--bare", "--columns=active_timeout", "list", "netflow"),
    )
    figure("netflow active_timeout changed by hand -> restored", retuned)
    # The agent logs right after its transaction, so the line may trail the bridge by a moment.
    wait_for(
        lambda: cluster.agents.log("node-3")[log_before:].count("changed outside flowgate; restored NetFlow to") >= 2,
        10,
        "both repairs logged by the node-3 agents",
        saw=lambda: cluster.agents.log("node-3")[log_before:][-2000:],
    )
    log = cluster.agents.log("node-3")[log_before:]
    assert log.count("changed outside flowgate; restored NetFlow to") == 2, log
    assert cluster.flows()["node-3"]["state"] == "Emitting"


def test_api_server_outage_keeps_ovs_as_applied(cluster: Cluster) -> None:
    generation = cluster.start("NETFLOW")
    cluster.wait_all("Emitting", generation)
    cluster.tb.stop_apiserver()
    try:
        time.sleep(2 * RESYNC_SECONDS + 0.5)
        since = cluster.mark()
        for node in cluster.nodes:
            assert cluster.exporters(node)[0] != "[]"
            assert cluster.agents.alive(node)
        # Drift is still repaired while the API server is away.
        cluster.tb.ovs_vsctl("node-1", "clear", "bridge", "br-int", "netflow")
        wait_for(
            lambda: cluster.exporters("node-1")[0] != "[]",
            EMITTING_WITHIN,
            "NetFlow restored during the outage",
            saw=lambda: cluster.exporters("node-1"),
        )
        for node in cluster.nodes:
            cluster.wait_records(node, since, "NETFLOW_V5")
    finally:
        cluster.tb.start_apiserver()
    # The agents' watches come back by themselves and follow the next change.
    generation = cluster.start("IPFIX")
    figure("after API server restart: switch to IPFIX -> all Emitting", cluster.wait_all("Emitting", generation, 60))


def test_sigterm_exits_cleanly_and_a_restart_does_not_reapply(cluster: Cluster) -> None:
    generation = cluster.start("NETFLOW")
    cluster.wait_all("Emitting", generation)
    # Settled: the collector confirmed the records, so nothing more is due to be written.
    wait_for(lambda: cluster.flows()["node-1"].get("delivery", {}).get("state") == "Confirmed", 15, "delivery")
    before = cluster.flows()["node-1"]
    assert cluster.agents.stop("node-1") == 0
    assert cluster.exporters("node-1")[0] != "[]"  # OVS left as it was
    log_before = len(cluster.agents.log("node-1"))
    cluster.agents.start("node-1")
    wait_for(lambda: "watching FlowExport/cluster" in cluster.agents.log("node-1")[log_before:], 15, "agent restart")
    time.sleep(RESYNC_SECONDS + 0.5)
    log = cluster.agents.log("node-1")[log_before:]
    assert "now exports" not in log and "restored" not in log, log
    assert cluster.flows()["node-1"] == before  # not even lastTransitionTime moved, nor the delivery verdict


def test_a_rolling_update_of_the_agents_keeps_every_node_exporting(cluster: Cluster) -> None:
    """Each node's agent replaced in turn while IPFIX is on, as a DaemonSet rolling update does
    (SIGTERM, then the new pod): OVS keeps exporting throughout. The exporter row each bridge
    points at is the same one before, during and after (polled every 50 ms; a removal or a new row
    would show), there is exactly one IPFIX row per node, every node's collector keeps receiving
    its records without a gap, and no node's reported state moves."""
    generation = cluster.start("IPFIX")
    cluster.wait_all("Emitting", generation)
    since = cluster.mark()
    for node in cluster.nodes:
        cluster.wait_records(node, since, "IPFIX")
    exporters = {node: cluster.exporters(node) for node in cluster.nodes}
    assert all(e[2] != "[]" for e in exporters.values()), exporters
    flows_before = cluster.flows()
    seen: dict[str, set[tuple[str, ...]]] = {node: set() for node in cluster.nodes}
    polling = threading.Event()

    def poll() -> None:
        while not polling.is_set():
            for node in cluster.nodes:
                seen[node].add(tuple(cluster.exporters(node)))
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    # Only what the agents say from here on: earlier tests on this cluster may have had drift put back.
    logged_before = {node: len(cluster.agents.log(node)) for node in cluster.nodes}
    rolled_from = time.time_ns()
    poller.start()
    try:
        for node in cluster.nodes:
            log_before = len(cluster.agents.log(node))
            assert cluster.agents.stop(node) == 0
            time.sleep(1.0)  # the node without an agent for a moment, as between two pods
            cluster.agents.start(node)
            wait_for(lambda n=node, b=log_before: "watching FlowExport" in cluster.agents.log(n)[b:], 15, "new agent")
            time.sleep(RESYNC_SECONDS + 0.5)  # a resync of the new agent has passed too
        time.sleep(2.0)
    finally:
        polling.set()
        poller.join(10)
    rolled_until = time.time_ns()
    for node in cluster.nodes:
        assert seen[node] == {tuple(exporters[node])}, (node, exporters[node], seen[node])
        rows = cluster.tb.ovs_vsctl(node, "--bare", "--columns=_uuid", "list", "ipfix").split()
        assert rows == [exporters[node][2]], (node, rows)
        stamps = sorted(
            r["time_received_ns"]
            for r in cluster.records(node, since)
            if r.get("type") == "IPFIX" and r.get("sampler_address") == cluster.ip(node)
        )
        during = [t for t in stamps if rolled_from <= t <= rolled_until]
        gaps = [b - a for a, b in zip([rolled_from, *during], [*during, rolled_until], strict=True)]
        longest = max(gaps) / 1e9
        figure(f"{node}: longest gap between records while the agents rolled", longest)
        assert longest <= 5, f"{node}: {longest:.1f} s without a record (active timeout 1 s)"
    # No node's export state moved (its delivery and traffic figures are the agents' to refresh).
    kept = ("state", "type", "endpoint", "observedGeneration", "lastTransitionTime", "message")
    after = cluster.flows()
    for node in cluster.nodes:
        assert {k: after[node].get(k) for k in kept} == {k: flows_before[node].get(k) for k in kept}, (
            node,
            flows_before[node],
            after[node],
        )
    log = "".join(cluster.agents.log(node)[logged_before[node] :] for node in cluster.nodes)
    assert "restored" not in log, log


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) agent\[(node-\d)\] (?P<text>.+)$")
# What a sentence for people is not: a traceback, an object or exception repr, a raw mapping.
NOT_A_SENTENCE = re.compile(r"Traceback|object at 0x|\w+Error\(|\w+Exception\(|\{'|^\W")


def test_agent_logs_are_sentences(cluster: Cluster) -> None:
    for node in cluster.nodes:
        lines = cluster.agents.log(node).splitlines()
        assert lines, f"{node}'s agent logged nothing"
        for line in lines:
            match = LOG_LINE.match(line)
            assert match and match.group(2) == node, f"not an agent log line: {line!r}"
            text = match.group("text")
            assert not NOT_A_SENTENCE.search(text) and len(text.split()) >= 3, f"not a sentence: {text!r}"
        text = "\n".join(lines)
        # What happened is told in words a person reads: what it watches, what OVS now does, the report.
        assert "watching FlowExport/cluster, Node/" + node in text
        assert f"OVS bridge br-int now exports NetFlow to {cluster.ip(node)}:{NODE_PORT}" in text
        assert f"Flow/{node} is now Emitting: NetFlow to {cluster.ip(node)}:{NODE_PORT}" in text
