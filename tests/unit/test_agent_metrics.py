"""The agent's own /metrics page, written without prometheus_client, read back by
prometheus_client's parser as Prometheus would read it, and served on the agent's event loop."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from flowgate_testbed.testbed import free_port
from prometheus_client.parser import text_string_to_metric_families

from gateway.agent.metrics import render, serve
from gateway.agent.ovs import ExportSettings
from gateway.domain.delivery import DeliveryConfig, DeliveryView
from gateway.domain.model import Delivery, FlowType, NodeFlowState


def agent(**overrides: Any) -> Any:
    figures: dict[str, Any] = {
        "node": 'node-"1"',
        "reconciles": 12,
        "watch_count": 4,
        "cached_objects": lambda: {"services": 1, "endpointslices": 1},
        "repairs": 1,
        "ovs_errors": 0,
        "status_writes": 3,
        "scrapes": 7,
        "scrape_failures": 2,
        "delivery_view": DeliveryView(Delivery.CONFIRMED, records_per_second=40.5, last_record_at=1.7e9),
        "tracker": SimpleNamespace(config=DeliveryConfig(FlowType.IPFIX, ("10.0.0.1:4739",), "10.0.0.1", None)),
        "received_records": {FlowType.IPFIX: 1234.0},
        "ovs_sent_records": 1300.0,
        "reported": SimpleNamespace(state=NodeFlowState.EMITTING, type=FlowType.IPFIX),
        "export_since": 1.6e9,
        "export_deadline": 1.61e9,
        "meter": SimpleNamespace(rate=lambda: 1250.0),
        "bridge": SimpleNamespace(bridge="br-int"),
        "ovs_seen": (ExportSettings(FlowType.IPFIX, ("10.0.0.1:4739",), active_timeout=60, sampling=400),),
        "ovs_seen_at": 1.65e9,
    }
    figures.update(overrides)
    return SimpleNamespace(**figures)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_every_figure_reads_back_as_prometheus_reads_it() -> None:
    read = samples(render(agent()))
    node = ("node", 'node-"1"')
    assert read[("flowgate_agent_reconciles_total", (node,))] == 12
    assert read[("flowgate_agent_watches", (node,))] == 4
    assert read[("flowgate_agent_cached_objects", (node, ("resource", "services")))] == 1
    assert read[("flowgate_agent_collector_scrape_failures_total", (node,))] == 2
    verdicts = {labels: v for (name, labels), v in read.items() if name == "flowgate_agent_delivery"}
    assert sorted(dict(labels)["delivery"] for labels, v in verdicts.items() if v == 1) == ["Confirmed"]
    assert len(verdicts) == len(Delivery) and all(dict(labels)["type"] == "IPFIX" for labels in verdicts)
    assert read[("flowgate_agent_delivery_records_per_second", (node,))] == 40.5
    assert read[("flowgate_agent_delivery_last_record_timestamp_seconds", (node,))] == 1.7e9
    assert read[("flowgate_agent_collector_records", (node, ("type", "IPFIX")))] == 1234
    assert read[("flowgate_agent_ovs_sent_records", (node, ("type", "IPFIX")))] == 1300
    states = {dict(labels)["state"]: v for (name, labels), v in read.items() if name == "flowgate_agent_state"}
    assert states == {"Disabled": 0, "Emitting": 1, "Error": 0}
    assert read[("flowgate_agent_export_on_since_timestamp_seconds", (node,))] == 1.6e9
    assert read[("flowgate_agent_export_deadline_timestamp_seconds", (node,))] == 1.61e9
    assert read[("flowgate_agent_packets_per_second", (node,))] == 1250
    exporter = {
        "node": 'node-"1"',
        "bridge": "br-int",
        "type": "IPFIX",
        "targets": "10.0.0.1:4739",
        "active_timeout": "60",
        "sampling": "400",
        "cache_max_flows": "",
        "agent": "",
    }
    assert read[("flowgate_agent_ovs_exporter", tuple(sorted(exporter.items())))] == 1
    assert read[("flowgate_agent_ovs_read_timestamp_seconds", (node,))] == 1.65e9


def test_nothing_exported_reads_all_verdicts_zero_and_no_rate() -> None:
    idle = agent(
        delivery_view=None,
        tracker=SimpleNamespace(config=None),
        received_records={},
        ovs_sent_records=None,
        reported=None,
        export_since=None,
        export_deadline=None,
        meter=SimpleNamespace(rate=lambda: None),
        ovs_seen=None,
        ovs_seen_at=None,
    )
    read = samples(render(idle))
    assert {v for (name, _), v in read.items() if name == "flowgate_agent_delivery"} == {0.0}
    absent = ("flowgate_agent_delivery_", "flowgate_agent_ovs_sent", "flowgate_agent_state", "flowgate_agent_export",
              "flowgate_agent_packets")  # fmt: skip
    assert not any(name.startswith(absent) for name, _ in read)


async def test_served_on_the_agents_loop() -> None:
    port = free_port()
    server = await serve(agent(), f"127.0.0.1:{port}")
    try:
        for path, status in (("/metrics", b"200"), ("/other", b"404")):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            answer = await reader.read()
            writer.close()
            assert answer.split(b" ")[1] == status
        assert b"flowgate_agent_watches" in answer or status == b"404"
    finally:
        server.close()
        await server.wait_closed()
