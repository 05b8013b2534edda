"""What the agent's own /metrics reports (`--metrics-address`): the node's state as Flow/<node>
says it, since when export has been on, its reconciles, OVS repairs and errors, status writes,
collector scrapes, and the delivery verdict with the counts behind it, so Prometheus can alert on
a node in Error, a node whose records do not arrive, export left on (deploy/monitoring/):

    flowgate_agent_state{state="Error"} == 1
    flowgate_agent_delivery{delivery="NotReceived"} == 1

Figures are read from the agent at scrape time (from the HTTP server's thread: plain attribute
reads of values the agent replaces whole), never mirrored."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.domain.model import Delivery, NodeFlowState

if TYPE_CHECKING:
    from gateway.agent.agent import NodeAgent


class AgentCollector(Collector):
    def __init__(self, agent: NodeAgent) -> None:
        self.agent = agent

    def collect(self) -> Iterator[Metric]:
        agent = self.agent
        node = [agent.node]

        def counter(name: str, help_text: str, value: float) -> CounterMetricFamily:
            family = CounterMetricFamily(name, help_text, labels=["node"])
            family.add_metric(node, value)
            return family

        def gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, help_text, labels=["node"])
            family.add_metric(node, value)
            return family

        reported = agent.reported
        if reported is not None:
            # Only once the agent knows what Flow/<node> says: an agent whose series are absent is
            # one that does not report (the "agent missing" alert).
            states = GaugeMetricFamily(
                "flowgate_agent_state",
                "1 for the node's state as its Flow says (Disabled, Emitting, Error), 0 for the others.",
                labels=["node", "type", "state"],
            )
            reported_type = reported.type.value if reported.type is not None else ""
            for node_state in NodeFlowState:
                if node_state is not NodeFlowState.PENDING:  # a gateway's word, never an agent's
                    states.add_metric(
                        [agent.node, reported_type, node_state.value], float(reported.state is node_state)
                    )
            yield states
        if agent.export_since is not None:
            since = GaugeMetricFamily(
                "flowgate_agent_export_on_since_timestamp_seconds",
                "Since when FlowExport has had this node export (Unix time; absent while it does not), across "
                "settings changes and errors.",
                labels=["node"],
            )
            since.add_metric(node, agent.export_since)
            yield since
        yield counter("flowgate_agent_reconciles", "Reconcile passes run.", agent.reconciles)
        yield gauge(
            "flowgate_agent_watches",
            "Watches this agent holds open at the API server (at most 4).",
            agent.watch_count,
        )
        cached = GaugeMetricFamily(
            "flowgate_agent_cached_objects",
            "Objects of each kind this agent's watches hold (the API server sends only what can be the collector).",
            labels=["node", "resource"],
        )
        for resource, count in agent.cached_objects().items():
            cached.add_metric([agent.node, resource], count)
        yield cached
        yield counter(
            "flowgate_agent_ovs_repairs", "Times OVS was changed behind the agent and put right.", agent.repairs
        )
        yield counter("flowgate_agent_ovs_errors", "Failed attempts to read or change OVS.", agent.ovs_errors)
        yield counter("flowgate_agent_status_writes", "Writes of Flow/<node> status.", agent.status_writes)
        yield counter("flowgate_agent_collector_scrapes", "Reads of the collector's metrics.", agent.scrapes)
        yield counter(
            "flowgate_agent_collector_scrape_failures",
            "Reads of the collector's metrics that failed.",
            agent.scrape_failures,
        )
        view = agent.delivery_view
        config = agent.tracker.config
        verdict = GaugeMetricFamily(
            "flowgate_agent_delivery",
            "1 for the node's current delivery verdict (Confirmed, Waiting, NotReceived, Unknown), 0 for the others; "
            "all 0 while the node exports nothing.",
            labels=["node", "type", "delivery"],
        )
        flow_type = config.type.value if config is not None else ""
        for state in Delivery:
            verdict.add_metric([agent.node, flow_type, state.value], float(view is not None and view.state is state))
        yield verdict
        if view is not None and view.records_per_second is not None:
            yield gauge(
                "flowgate_agent_delivery_records_per_second",
                "Records a second the collector counted from this node (the delivery rate window's average).",
                view.records_per_second,
            )
        if view is not None and view.last_record_at is not None:
            yield gauge(
                "flowgate_agent_delivery_last_record_timestamp_seconds",
                "When the agent last saw the collector's count for this node grow (Unix time).",
                view.last_record_at,
            )
        packets = agent.meter.rate()
        if packets is not None:
            yield gauge(
                "flowgate_agent_packets_per_second",
                "Packets a second entering the OVS bridge (the sum of its interfaces' rx_packets over the last "
                "minute): the traffic export's cost follows.",
                packets,
            )
        received = GaugeMetricFamily(
            "flowgate_agent_collector_records",
            "Flow records the collector counts from this node's address since it started, per type, as last read "
            "(collector got M).",
            labels=["node", "type"],
        )
        for kind, value in agent.received_records.items():
            received.add_metric([agent.node, kind.value], value)
        yield received
        if agent.ovs_sent_records is not None:
            sent = GaugeMetricFamily(
                "flowgate_agent_ovs_sent_records",
                "Flow records OVS says it exported since the exporter was created (OVS sent N; IPFIX only: "
                "ovs-ofctl dump-ipfix-bridge).",
                labels=["node", "type"],
            )
            sent.add_metric([agent.node, "IPFIX"], agent.ovs_sent_records)
            yield sent


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT, :PORT (every address) or [IPv6]:PORT; ValueError with a sentence otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not an address to listen on; write it as HOST:PORT, :PORT or [IPv6]:PORT")
    return host.removeprefix("[").removesuffix("]") or "0.0.0.0", int(port)


def serve(agent: NodeAgent, address: str) -> object:
    """Start serving /metrics in a background thread; returns the server (its `shutdown` stops it)."""
    registry = CollectorRegistry()
    registry.register(AgentCollector(agent))
    host, port = parse_address(address)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
