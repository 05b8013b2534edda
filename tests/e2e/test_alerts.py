"""flowgate's alerts in a real Prometheus (Debian's server) scraping the real thing: three nodes
with real OVS and goflow2, one `flowgate agent` per node serving its /metrics on its node's address
(as the DaemonSet's agents do, on the pod IP = node IP), and the real gateway. Prometheus runs in
node-1's network namespace, as a monitoring pod there would, scrapes the agents at <node IP>:9880
and the gateway through a relay, and evaluates the rules of deploy/monitoring/prometheusrule.yaml
exactly as written except for their `for`, shortened to seconds (their timing is what the promtool
unit tests hold; here the expressions meet real series). The jobs are named as the ServiceMonitors
make them (the Service's name). Every query of the console's dashboard runs there too.

What is measured is printed as `figure: ...` (run with -s)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.e2e.test_delivery import FAST_BOUND, Deliveries
from tests.fixtures.agents import NodeAgents
from tests.fixtures.gateway import running_gateway
from tests.fixtures.monitoring import ROOT, Prometheus, write_rules
from tests.fixtures.waiting import wait_for

pytestmark = [pytest.mark.ovs, pytest.mark.slow]

HOLD = "2s"  # every alert's `for`, shortened
INTERVAL = "1s"  # scrape and evaluation
AGENT_METRICS_PORT = 9880  # deploy/base/agent.yaml --metrics-address=$(POD_IP):9880
MONITOR_NODE = "node-1"
NOT_RECEIVED = "FlowgateNodeRecordsNotReceived"
AGENT_MISSING = "FlowgateAgentMissing"


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, query) of every panel of deploy/monitoring/dashboard.yaml."""
    config = yaml.safe_load((ROOT / "deploy" / "monitoring" / "dashboard.yaml").read_text())
    board = json.loads(next(iter(config["data"].values())))
    return [(p["title"], t["expr"]) for row in board["rows"] for p in row["panels"] for t in p["targets"]]


def figure(text: str) -> None:
    print(f"figure: {text}")


class Monitored(Deliveries):
    def __init__(self, testbed: Any, gateway: Any, agents: NodeAgents, prometheus: Prometheus) -> None:
        super().__init__(testbed, gateway, agents)
        self.prometheus = prometheus

    def start_agent(self, node: str) -> None:
        self.agents.start(node, extra=["--metrics-address", f"{self.ip(node)}:{AGENT_METRICS_PORT}"])

    def wait_firing(self, expected: set[tuple[str, str]], timeout: float, what: str) -> float:
        """Seconds until the firing alerts are exactly `expected`."""
        seen: list[set[tuple[str, str]]] = [set()]

        def reached() -> bool:
            seen[0] = self.prometheus.firing()
            return seen[0] == expected

        started = time.monotonic()
        try:
            wait_for(reached, timeout, what, interval=0.5)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; Prometheus had these firing: {sorted(seen[0])}") from None
        return time.monotonic() - started


@pytest.fixture(scope="module")
def monitored(ovs_testbed: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitored]:
    ovs_testbed.reset()
    ovs_testbed.set_traffic(2)
    directory = tmp_path_factory.mktemp("monitoring")
    agents = NodeAgents(ovs_testbed, directory)
    relay: subprocess.Popen[bytes] | None = None
    prometheus: Prometheus | None = None
    try:
        with running_gateway(ovs_testbed, directory) as gateway:
            # 127.0.0.1:<gateway port> inside node-1's namespace leads to the gateway.
            relay_log = directory / "relay.log"
            with relay_log.open("wb") as out:
                relay = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "flowgate_testbed.relay",
                        str(gateway.port),
                        ovs_testbed.netns(MONITOR_NODE),
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            wait_for(lambda: "relaying" in relay_log.read_text(), 10, f"the relay to the gateway ({relay_log})")
            config = {
                "global": {"scrape_interval": INTERVAL, "scrape_timeout": INTERVAL, "evaluation_interval": INTERVAL},
                "rule_files": [str(write_rules(directory / "rules.yaml", hold=HOLD))],
                "scrape_configs": [
                    {"job_name": "flowgate-gateway", "static_configs": [{"targets": [f"127.0.0.1:{gateway.port}"]}]},
                    {
                        "job_name": "flowgate-agent",
                        "static_configs": [
                            {
                                "targets": [
                                    f"{ovs_testbed.node_ip(n)}:{AGENT_METRICS_PORT}" for n in ovs_testbed.node_names
                                ]
                            }
                        ],
                    },
                ],
            }
            prometheus = Prometheus(ovs_testbed, MONITOR_NODE, directory / "prometheus", config)
            cluster = Monitored(ovs_testbed, gateway, agents, prometheus)
            for node in ovs_testbed.node_names:
                cluster.start_agent(node)
            prometheus.start()
            yield cluster
    finally:
        if prometheus is not None:
            prometheus.stop()
        if relay is not None:
            relay.terminate()
            relay.wait(10)
        for node in ovs_testbed.node_names:
            ovs_testbed.drop_collector_traffic(node, drop=False)
        agents.stop_all()
        ovs_testbed.reset()


def test_not_received_fires_for_the_node_whose_records_are_dropped_and_resolves_when_they_flow(
    monitored: Monitored,
) -> None:
    prometheus = monitored.prometheus
    targets = wait_for(
        lambda: (t := prometheus.targets()) and len(t) == 4 and set(t.values()) == {"up"} and t,
        30,
        "Prometheus scraping the gateway and the three agents",
        interval=0.5,
    )
    figure(f"targets: {sorted(targets)}")
    generation = monitored.start_export("NETFLOW")
    confirmed = monitored.confirmed(generation)
    figure(f"NetFlow start -> Confirmed on every node: {confirmed:.1f} s")
    # Export on, every node delivering: nothing fires, whatever the rules' shortened `for`.
    time.sleep(3)
    assert prometheus.firing() == set()
    # Every query of the console's dashboard runs on these series and finds what it shows (one
    # refused GraphQL query gives the errors panel something to show).
    assert monitored.gateway.post("{ noSuchField }", user="viewer").get("errors")
    wait_for(
        lambda: prometheus.query("flowgate_graphql_errors_total"),
        10,
        "the gateway's error counter scraped",
        interval=0.5,
    )
    time.sleep(2)  # a second scrape, so a rate has two samples
    for title, expr in dashboard_queries():
        result = prometheus.query(expr)
        assert result, f"the dashboard's {title!r} finds nothing: {expr}"
    per_node = prometheus.query("max by (node) (flowgate_agent_delivery_records_per_second)")
    assert sorted(r["metric"]["node"] for r in per_node) == monitored.nodes
    emitting = prometheus.query('count(max by (node) (flowgate_node_state{state="Emitting"})) or vector(0)')
    assert float(emitting[0]["value"][1]) == len(monitored.nodes)

    monitored.tb.drop_collector_traffic("node-2")
    try:
        fired = monitored.wait_firing(
            {(NOT_RECEIVED, "node-2")}, FAST_BOUND + 20, f"{NOT_RECEIVED} firing for node-2 alone"
        )
        figure(f"UDP to node-2's collector dropped -> {NOT_RECEIVED} firing for node-2: {fired:.1f} s")
        alert = next(a for a in prometheus.alerts() if a["labels"]["alertname"] == NOT_RECEIVED)
        assert alert["labels"] == {
            "alertname": NOT_RECEIVED,
            "node": "node-2",
            "type": "NetFlow",
            "severity": "warning",
        }
        assert alert["annotations"]["description"].startswith("Node node-2 is Emitting NetFlow, but its collector")
        time.sleep(3)  # still node-2 alone, a few evaluations on
        assert prometheus.firing() == {(NOT_RECEIVED, "node-2")}
    finally:
        monitored.tb.drop_collector_traffic("node-2", drop=False)
    resolved = monitored.wait_firing(set(), FAST_BOUND + 20, f"{NOT_RECEIVED} resolved once node-2's records flow")
    figure(f"node-2's records let through -> {NOT_RECEIVED} resolved: {resolved:.1f} s")
    assert not [a for a in prometheus.alerts() if a["labels"]["alertname"] == NOT_RECEIVED]


def test_agent_missing_fires_for_the_node_whose_agent_stopped_and_resolves_when_it_is_back(
    monitored: Monitored,
) -> None:
    prometheus = monitored.prometheus
    generation = monitored.start_export("NETFLOW")
    monitored.wait_all("Emitting", generation)
    assert monitored.agents.stop("node-3") == 0
    try:
        fired = monitored.wait_firing({(AGENT_MISSING, "node-3")}, 30, f"{AGENT_MISSING} firing for node-3 alone")
        figure(f"node-3's agent stopped -> {AGENT_MISSING} firing for node-3: {fired:.1f} s")
    finally:
        monitored.start_agent("node-3")
    resolved = monitored.wait_firing(set(), 30, f"{AGENT_MISSING} resolved once node-3's agent reports again")
    figure(f"node-3's agent started again -> {AGENT_MISSING} resolved: {resolved:.1f} s")
    # With export stopped, a node without an agent is no alert: nothing there to keep exporting.
    monitored.wait_all("Disabled", monitored.stop())
    assert monitored.agents.stop("node-3") == 0
    try:
        time.sleep(5)
        assert prometheus.firing() == set()
    finally:
        monitored.start_agent("node-3")
