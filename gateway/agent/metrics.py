"""What the agent's own /metrics reports (`--metrics-address`): the node's state as Flow/<node>
says it, since when export has been on, its reconciles, OVS repairs and errors, status writes,
collector scrapes, and the delivery verdict with the counts behind it, so Prometheus can alert on
a node in Error, a node whose records do not arrive, export left on (deploy/monitoring/):

    flowgate_agent_state{state="Error"} == 1
    flowgate_agent_delivery{delivery="NotReceived"} == 1

Figures are read from the agent at scrape time, on its own event loop, never mirrored."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from gateway.domain.model import Delivery, NodeFlowState

if TYPE_CHECKING:
    from gateway.agent.agent import NodeAgent

log = logging.getLogger("flowgate.agent")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Row = tuple[Sequence[str], float]  # label values, value


class Page:
    """The Prometheus text format (prometheus.io/docs/instrumenting/exposition_formats), written
    directly: the agent's handful of families do not need prometheus_client in every node's memory."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, labels: Sequence[str], rows: Iterable[Row]) -> None:
        sample = name + "_total" if kind == "counter" else name
        escaped = help_text.replace("\\", "\\\\").replace("\n", "\\n")
        self.lines += [f"# HELP {sample} {escaped}", f"# TYPE {sample} {kind}"]
        for values, value in rows:
            pairs = sorted(zip(labels, values, strict=True))
            text = ",".join(f'{key}="{_label_value(v)}"' for key, v in pairs)
            self.lines.append(f"{sample}{{{text}}} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def render(agent: NodeAgent) -> str:
    """The agent's figures as they are now."""
    page = Page()
    node = [agent.node]

    def counter(name: str, help_text: str, value: float) -> None:
        page.family(name, "counter", help_text, ["node"], [(node, value)])

    def gauge(name: str, help_text: str, value: float) -> None:
        page.family(name, "gauge", help_text, ["node"], [(node, value)])

    reported = agent.reported
    if reported is not None:
        # Only once the agent knows what Flow/<node> says: an agent whose series are absent is
        # one that does not report (the "agent missing" alert).
        reported_type = reported.type.value if reported.type is not None else ""
        page.family(
            "flowgate_agent_state",
            "gauge",
            "1 for the node's state as its Flow says (Disabled, Emitting, Error), 0 for the others.",
            ["node", "type", "state"],
            [
                ([agent.node, reported_type, node_state.value], float(reported.state is node_state))
                for node_state in NodeFlowState
                if node_state is not NodeFlowState.PENDING  # a gateway's word, never an agent's
            ],
        )
    if agent.export_since is not None:
        gauge(
            "flowgate_agent_export_on_since_timestamp_seconds",
            "Since when FlowExport has had this node export (Unix time; absent while it does not), across "
            "settings changes and errors.",
            agent.export_since,
        )
    deadline = agent.export_deadline
    if deadline is not None:
        gauge(
            "flowgate_agent_export_deadline_timestamp_seconds",
            "When export on this node stops by itself (Unix time; absent while it runs until stopped).",
            deadline,
        )
    if agent.ovs_seen is not None and agent.ovs_seen_at is not None:
        # br-int's exporters as the agent last read them from OVSDB: what must-gather reports.
        page.family(
            "flowgate_agent_ovs_exporter",
            "gauge",
            "Each exporter row on the bridge at the agent's last read of OVS (always 1; the labels are its settings).",
            ["node", "bridge", "type", "targets", "active_timeout", "sampling", "cache_max_flows", "agent"],
            [
                (
                    [
                        agent.node,
                        agent.bridge.bridge,
                        row.type.value,
                        ",".join(row.targets),
                        _text(row.active_timeout),
                        _text(row.sampling),
                        _text(row.cache_max_flows),
                        row.agent or "",
                    ],
                    1.0,
                )
                for row in agent.ovs_seen
            ],
        )
        gauge(
            "flowgate_agent_ovs_read_timestamp_seconds",
            "When the agent last read the bridge's exporters from OVS (Unix time).",
            agent.ovs_seen_at,
        )
    counter("flowgate_agent_reconciles", "Reconcile passes run.", agent.reconciles)
    gauge("flowgate_agent_watches", "Watches this agent holds open at the API server (at most 4).", agent.watch_count)
    page.family(
        "flowgate_agent_cached_objects",
        "gauge",
        "Objects of each kind this agent's watches hold (the API server sends only what can be the collector).",
        ["node", "resource"],
        [([agent.node, resource], count) for resource, count in agent.cached_objects().items()],
    )
    counter("flowgate_agent_ovs_repairs", "Times OVS was changed behind the agent and put right.", agent.repairs)
    counter("flowgate_agent_ovs_errors", "Failed attempts to read or change OVS.", agent.ovs_errors)
    counter("flowgate_agent_status_writes", "Writes of Flow/<node> status.", agent.status_writes)
    counter("flowgate_agent_collector_scrapes", "Reads of the collector's metrics.", agent.scrapes)
    counter(
        "flowgate_agent_collector_scrape_failures",
        "Reads of the collector's metrics that failed.",
        agent.scrape_failures,
    )
    view = agent.delivery_view
    config = agent.tracker.config
    flow_type = config.type.value if config is not None else ""
    page.family(
        "flowgate_agent_delivery",
        "gauge",
        "1 for the node's current delivery verdict (Confirmed, Waiting, NotReceived, Unknown), 0 for the others; "
        "all 0 while the node exports nothing.",
        ["node", "type", "delivery"],
        [([agent.node, flow_type, state.value], float(view is not None and view.state is state)) for state in Delivery],
    )
    if view is not None and view.records_per_second is not None:
        gauge(
            "flowgate_agent_delivery_records_per_second",
            "Records a second the collector counted from this node (the delivery rate window's average).",
            view.records_per_second,
        )
    if view is not None and view.last_record_at is not None:
        gauge(
            "flowgate_agent_delivery_last_record_timestamp_seconds",
            "When the agent last saw the collector's count for this node grow (Unix time).",
            view.last_record_at,
        )
    packets = agent.meter.rate()
    if packets is not None:
        gauge(
            "flowgate_agent_packets_per_second",
            "Packets a second entering the OVS bridge (the sum of its ports' received packets over the last "
            "minute): the traffic export's cost follows.",
            packets,
        )
    page.family(
        "flowgate_agent_collector_records",
        "gauge",
        "Flow records the collector counts from this node's address since it started, per type, as last read "
        "(collector got M).",
        ["node", "type"],
        [([agent.node, kind.value], value) for kind, value in agent.received_records.items()],
    )
    if agent.ovs_sent_records is not None:
        page.family(
            "flowgate_agent_ovs_sent_records",
            "gauge",
            "Flow records OVS says it exported since the exporter was created (OVS sent N; IPFIX only: "
            "ovs-ofctl dump-ipfix-bridge).",
            ["node", "type"],
            [([agent.node, "IPFIX"], agent.ovs_sent_records)],
        )
    return page.text()


def _text(value: int | None) -> str:
    return "" if value is None else str(value)


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT, :PORT (every address) or [IPv6]:PORT; ValueError with a sentence otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not an address to listen on; write it as HOST:PORT, :PORT or [IPv6]:PORT")
    return host.removeprefix("[").removesuffix("]") or "0.0.0.0", int(port)


async def serve(agent: NodeAgent, address: str) -> asyncio.Server:
    """Serve GET /metrics on the agent's own event loop (one small answer per scrape); close the
    returned server to stop. OSError when the address cannot be listened on."""
    host, port = parse_address(address)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                request = await reader.readuntil(b"\r\n\r\n")
            method, _, rest = request.decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            if method in ("GET", "HEAD") and path in ("/metrics", "/"):
                status, kind, body = "200 OK", CONTENT_TYPE, render(agent).encode()
            else:
                status, kind, body = "404 Not Found", "text/plain; charset=utf-8", b"Only /metrics is served here.\n"
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass  # a scraper that went away, or not a scraper
        except Exception:
            log.exception("serving /metrics failed")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return await asyncio.start_server(answer, host, port, limit=16 * 1024)
