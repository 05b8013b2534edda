"""Delivery confirmed end to end: three nodes with real OVS, a real goflow2 per node (its metrics on
the collector Service's `metrics` node port), one real `flowgate agent` per node inside the node's
own network namespace (as the DaemonSet's hostNetwork pods run), the real gateway and kubectl.
The agents read their collector's counters every second (--scrape-interval 1s).

What is measured is printed as `figure: ...` (run with -s)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.test_agent import NODE_PORT, Cluster, wait_for
from tests.fixtures.agents import NodeAgents
from tests.fixtures.gateway import running_gateway
from tests.fixtures.kubectl import Kubectl

pytestmark = [pytest.mark.ovs, pytest.mark.slow]

METRICS_NODE_PORT = 30002  # the testbed collector Service's port named `metrics`
SCRAPE_SECONDS = 1.0  # tests/fixtures/agents.py SCRAPE
FAST_BOUND = 1 + SCRAPE_SECONDS + 10  # activeTimeout 1 s, sampling 1: timeout + one scrape + 10 s slack
START = """
mutation Start($type: FlowType!, $collector: CollectorInput, $sampling: Int, $timeout: Int) {
  startFlows(type: $type, collector: $collector, sampling: $sampling, activeTimeoutSeconds: $timeout) { generation }
}"""
NODES = "{ flows { nodes { node state delivery recordsPerSecond lastRecordAt deliverySince deliveryMessage } } }"


def figure(text: str) -> None:
    print(f"figure: {text}")


class Deliveries(Cluster):
    def start_export(
        self, flow_type: str, *, timeout: int | None = 1, sampling: int | None = 1, collector: Any = None
    ) -> int:
        variables = {
            "type": flow_type,
            "collector": collector or {"nodePort": NODE_PORT},
            "sampling": None if flow_type == "NETFLOW" else sampling,
            "timeout": timeout,
        }
        result = self.gateway.post(START, variables, user="admin")
        assert not result.get("errors"), result["errors"]
        return int(result["data"]["startFlows"]["generation"])

    def delivery(self, node: str) -> dict[str, Any]:
        return dict(self.flows().get(node, {}).get("delivery") or {})

    def deliveries(self) -> dict[str, dict[str, Any]]:
        return {node: dict(status.get("delivery") or {}) for node, status in self.flows().items()}

    def wait_delivery(self, states: dict[str, str], generation: int, timeout: float) -> float:
        last: dict[str, Any] = {}

        def reached() -> bool:
            flows = self.flows()
            last.update({n: (s.get("state"), s.get("observedGeneration"), s.get("delivery")) for n, s in flows.items()})
            return all(
                flows.get(node, {}).get("observedGeneration") == generation
                and (flows[node].get("delivery") or {}).get("state") == state
                for node, state in states.items()
            )

        try:
            return wait_for(reached, timeout, f"delivery {states} at generation {generation}", interval=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the Flows said {last}") from None

    def confirmed(self, generation: int) -> float:
        """Seconds until every node is Confirmed: Emitting first (the agents applied the change),
        then Confirmed within the bound, which counts from there."""
        emitting = self.wait_all("Emitting", generation)
        return emitting + self.wait_delivery(dict.fromkeys(self.nodes, "Confirmed"), generation, FAST_BOUND)

    def live_rate(self, node: str) -> float:
        """The agent's own, unrounded rate (its /metrics), as of its last scrape."""
        page = self.agents.metrics(node)
        match = re.search(r"^flowgate_agent_delivery_records_per_second\{[^}]*\} (\S+)$", page, re.M)
        assert match, f"{node}'s agent reports no rate:\n{page}"
        return float(match.group(1))

    def agent_metric(self, node: str, name: str, **labels: str) -> float | None:
        page = self.agents.metrics(node)
        for line in page.splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
        return None


@pytest.fixture(scope="module")
def cluster(ovs_testbed: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deliveries]:
    ovs_testbed.reset()
    agents = NodeAgents(ovs_testbed, tmp_path_factory.mktemp("agents"))
    agents.start_all()
    try:
        with running_gateway(ovs_testbed, tmp_path_factory.mktemp("gateway")) as gateway:
            yield Deliveries(ovs_testbed, gateway, agents)
    finally:
        codes = agents.stop_all()
        ovs_testbed.reset()
        assert set(codes.values()) <= {0}, f"agents did not exit cleanly on SIGTERM: {codes}"


RATE_WINDOW = 10 * SCRAPE_SECONDS  # ten scrapes (longer than four 1 s active timeouts)
# Two flows, then four: NetFlow reports ~2 records a second per flow, so a 10 s window holds enough
# of them (about 40) for their count to move by a few percent only.
BASE_FLOWS = 2


@pytest.mark.parametrize("flow_type", ["NETFLOW", "IPFIX", "SFLOW"])
def test_each_type_is_confirmed_on_every_node_at_a_rate_that_tracks_the_traffic(
    cluster: Deliveries, flow_type: str
) -> None:
    cluster.tb.set_traffic(BASE_FLOWS)
    generation = cluster.start_export(flow_type)
    confirmed = cluster.confirmed(generation)
    figure(f"start {flow_type} (active timeout 1 s, sampling 1) -> Confirmed on all 3 nodes: {confirmed:.1f} s")
    first = cluster.deliveries()
    for node in cluster.nodes:
        assert first[node]["recordsPerSecond"] > 0, first[node]
        assert first[node]["lastRecordTime"] and first[node]["lastTransitionTime"]
    time.sleep(RATE_WINDOW + 2)  # the rate window now holds only this traffic
    before = {node: cluster.live_rate(node) for node in cluster.nodes}
    cluster.tb.set_traffic(2 * BASE_FLOWS)  # twice the flows, each at the same packet rate
    doubled_at = time.monotonic()
    time.sleep(RATE_WINDOW + 2)
    after = {node: cluster.live_rate(node) for node in cluster.nodes}
    for node in cluster.nodes:
        ratio = after[node] / before[node]
        figure(
            f"{flow_type} {node}: {before[node]:.1f} records/s with {BASE_FLOWS} flows, "
            f"{after[node]:.1f} with {2 * BASE_FLOWS} (x{ratio:.2f})"
        )
        assert 1.6 <= ratio <= 2.4, f"{node}: {before[node]} -> {after[node]} records/s"
    if flow_type == "IPFIX":
        # What users read follows: the status rate is rewritten once the live rate is half again
        # as much or less than two thirds (at most once a minute), so within a minute every Flow's
        # rate is within that factor of the live one, and up with it. One type shows it; the rate
        # is the same computation for all.
        def followed() -> bool:
            for node in cluster.nodes:
                shown, live = cluster.delivery(node).get("recordsPerSecond") or 0, cluster.live_rate(node)
                if not (live / 1.5 <= shown <= live * 1.5 and shown >= 1.3 * before[node]):
                    return False
            return True

        wait_for(followed, 65, "the doubled rate in every Flow's status", interval=1)
        shown = {n: cluster.delivery(n)["recordsPerSecond"] for n in cluster.nodes}
        figure(
            f"{flow_type} traffic doubled -> every Flow's rate followed within {time.monotonic() - doubled_at:.1f} s: "
            + ", ".join(f"{n} {shown[n]:g}/s" for n in cluster.nodes)
        )
    cluster.tb.set_traffic(1)


def test_status_shows_delivery_in_the_cli_and_graphql(cluster: Deliveries) -> None:
    generation = cluster.start_export("IPFIX")
    cluster.confirmed(generation)
    result = cluster.gateway.post(NODES, user="viewer")
    assert not result.get("errors"), result
    for row in result["data"]["flows"]["nodes"]:
        assert row["delivery"] == "CONFIRMED" and row["recordsPerSecond"] > 0 and row["lastRecordAt"], row
    wide = Kubectl(cluster.tb.kubeconfig("viewer")).ok("flows", "status", "-o", "wide")
    print("kubectl flows status -o wide:\n" + wide.stdout)
    header, *rows = wide.stdout.splitlines()
    assert header.split()[:7] == ["NAME", "STATUS", "TYPE", "ENDPOINT", "PACKETS/S", "RECEIVED", "RATE"]
    received, rate, message = header.index("RECEIVED"), header.index("RATE"), header.index("MESSAGE")
    for row in rows:
        # By column position: PACKETS/S is empty until an agent has measured its node's traffic.
        assert row[received:rate].strip() == "confirmed" and re.fullmatch(r"[0-9.]+/s", row[rate:message].strip()), row
    got = cluster.tb.kubectl("get", "flows", "-o", "wide")
    assert got.returncode == 0, got.stderr
    assert got.stdout.splitlines()[0].split()[4:6] == ["RECEIVED", "RATE"]


def test_a_firewalled_collector_is_not_received_on_that_node_only(cluster: Deliveries) -> None:
    generation = cluster.start_export("IPFIX")
    cluster.confirmed(generation)
    seen: dict[str, set[str]] = {node: set() for node in cluster.nodes}
    watching = threading.Event()
    watching.set()

    def watch() -> None:
        while watching.is_set():
            for node, delivery in cluster.deliveries().items():
                seen[node].add(str(delivery.get("state")))
            time.sleep(0.3)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        counts = {
            "sent": lambda: cluster.agent_metric("node-2", "flowgate_agent_ovs_sent_records", type="IPFIX") or 0,
            "got": lambda: cluster.agent_metric("node-2", "flowgate_agent_collector_records", type="IPFIX") or 0,
        }
        before = {name: read() for name, read in counts.items()}
        cluster.tb.drop_collector_traffic("node-2")
        try:
            lost = cluster.wait_delivery({"node-2": "NotReceived"}, generation, FAST_BOUND + 2 * SCRAPE_SECONDS + 3)
            figure(f"UDP to node-2's collector dropped -> node-2 NotReceived: {lost:.1f} s (bound {FAST_BOUND:.0f} s)")
            message = cluster.delivery("node-2")["message"]
            print("node-2:", message)
            assert "OVS reports records sent, so they are lost between this node and 10.89.0.2:30001" in message
            assert cluster.agent_metric("node-2", "flowgate_agent_delivery", delivery="NotReceived") == 1
            during = {name: read() - before[name] for name, read in counts.items()}
            figure(
                f"node-2 while dropped ({lost:.0f} s): OVS sent {during['sent']:.0f} IPFIX records, "
                f"the collector got {during['got']:.0f}"
            )
            # What the collector still got had left before the drop, or was counted after the agent's
            # last reading before it (one scrape).
            assert during["sent"] > 0 and during["got"] < during["sent"] / 3
        finally:
            cluster.tb.drop_collector_traffic("node-2", drop=False)
        back = cluster.wait_delivery({"node-2": "Confirmed"}, generation, FAST_BOUND)
        figure(f"UDP let through again -> node-2 Confirmed: {back:.1f} s")
    finally:
        watching.clear()
        watcher.join()
    assert seen["node-1"] == seen["node-3"] == {"Confirmed"}, seen
    assert "NotReceived" in seen["node-2"]


def test_the_default_active_timeout_waits_and_one_second_confirms_within_seconds(cluster: Deliveries) -> None:
    cluster.wait_all("Disabled", cluster.stop())
    generation = cluster.start_export("NETFLOW", timeout=1)
    fast = cluster.confirmed(generation)
    figure(f"stopped -> NetFlow with activeTimeoutSeconds 1: Confirmed on all nodes after {fast:.1f} s")

    cluster.wait_all("Disabled", cluster.stop())
    started = time.monotonic()
    cluster.start_export("NETFLOW", timeout=None)  # OVN-Kubernetes' 60 s
    bound = 60 + SCRAPE_SECONDS + 10
    seen: list[tuple[float, str]] = []
    waiting: set[str] = set()
    while True:
        deliveries = cluster.deliveries()
        states = {str(d.get("state")) for n, d in deliveries.items() if n in cluster.nodes}
        waiting |= {str(d.get("message")) for d in deliveries.values() if d.get("state") == "Waiting"}
        elapsed = time.monotonic() - started
        for state in states:
            if not seen or seen[-1][1] != state:
                seen.append((elapsed, state))
        assert "NotReceived" not in states, f"NotReceived before the first record: {seen}"
        if states == {"Confirmed"}:
            break
        assert elapsed < bound + 5, f"no Confirmed within {bound:.0f} s: {seen}"
        time.sleep(0.5)
    assert any(state == "Waiting" for _, state in seen), seen
    print("Waiting:", waiting)
    assert all("active timeout of 60 s" in text and "within 71 s" in text for text in waiting), waiting
    first = time.monotonic() - started
    figure(f"NetFlow with the default 60 s active timeout: Waiting, then Confirmed on all nodes after {first:.1f} s")
    assert all(d.get("message") is None for d in cluster.deliveries().values())


def test_no_metrics_endpoint_is_unknown_and_quiet(cluster: Deliveries) -> None:
    target = f"{cluster.ip('node-1')}:{NODE_PORT}"
    marks = {node: len(cluster.agents.log(node)) for node in cluster.nodes}
    generation = cluster.start_export("NETFLOW", collector={"targets": [target]})
    cluster.wait_delivery(dict.fromkeys(cluster.nodes, "Unknown"), generation, 10)
    for delivery in cluster.deliveries().values():
        assert "publishes no metrics endpoint" in delivery["message"], delivery
    time.sleep(10)  # ten scrape intervals
    for node in cluster.nodes:
        log = cluster.agents.log(node)[marks[node] :]
        assert " WARNING " not in log and " ERROR " not in log, log
        assert log.count("is unknown") == 1, log
        assert cluster.delivery(node)["state"] == "Unknown"


def test_static_targets_with_a_metrics_target_confirm_every_node_at_one_collector(cluster: Deliveries) -> None:
    collector = {
        "targets": [f"{cluster.ip('node-1')}:{NODE_PORT}"],
        "metricsTarget": f"{cluster.ip('node-1')}:{METRICS_NODE_PORT}",
    }
    generation = cluster.start_export("NETFLOW", collector=collector)
    confirmed = cluster.confirmed(generation)
    figure(f"static target node-1 with metricsTarget -> every node Confirmed there: {confirmed:.1f} s")


def test_steady_state_writes_stay_below_one_per_node_per_minute(cluster: Deliveries) -> None:
    generation = cluster.start_export("IPFIX")
    cluster.confirmed(generation)
    time.sleep(RATE_WINDOW + 2)  # the rate window filled: past the first, short-window rate
    watch = cluster.tb.kubectl_process(
        "get", "flows", "--watch-only", "--output-watch-events", "-o",
        'jsonpath={.type} {.object.metadata.name} {.object.metadata.resourceVersion}{"\\n"}',
    )  # fmt: skip
    writes_before = {n: cluster.agent_metric(n, "flowgate_agent_status_writes_total") or 0 for n in cluster.nodes}
    scrapes_before = {n: cluster.agent_metric(n, "flowgate_agent_collector_scrapes_total") or 0 for n in cluster.nodes}
    window = 90.0  # a write per scrape would be 90 of them
    events: list[str] = []
    reader = threading.Thread(target=lambda: events.extend(line.strip() for line in watch.stdout), daemon=True)
    reader.start()
    time.sleep(window)
    watch.terminate()
    watch.wait(10)
    reader.join(5)
    modified = Counter(line.split()[1] for line in events if line.startswith("MODIFIED"))
    per_minute = {node: modified[node] * 60 / window for node in cluster.nodes}
    writes = {
        n: (cluster.agent_metric(n, "flowgate_agent_status_writes_total") or 0) - writes_before[n]
        for n in cluster.nodes
    }
    scrapes = {n: (cluster.agent_metric(n, "flowgate_agent_collector_scrapes_total") or 0) - scrapes_before[n] for n in cluster.nodes}  # fmt: skip
    for node in cluster.nodes:
        figure(
            f"steady IPFIX, {window:.0f} s: {node} Flow changed {modified[node]} times "
            f"({per_minute[node]:.2f}/min) over {scrapes[node]:.0f} scrapes; the agent counted {writes[node]:.0f} writes"
        )
        assert per_minute[node] < 1, (node, events)
        assert abs(writes[node] - modified[node]) <= 1, (writes, modified)  # read a moment apart
        assert scrapes[node] >= window / SCRAPE_SECONDS * 0.8
    assert all(cluster.delivery(n)["state"] == "Confirmed" for n in cluster.nodes)
    print(json.dumps(cluster.deliveries(), indent=1))
