"""The projection benchmark's pure parts (bench/projection.py): when the agents' reports count as
settled, how a dry run's answer meets what a collector received, and the table it writes."""

from __future__ import annotations

import math

from bench import projection as bench
from gateway.domain.model import FlowType

RATES = {"node-1": 2_000, "node-2": 12_000, "node-3": 0}


def test_the_traffic_is_settled_once_every_agent_reports_its_rate_and_a_quiet_node_none() -> None:
    assert bench.traffic_settled({"node-1": 1_900.0, "node-2": 12_500.0, "node-3": 0.0}, RATES)
    assert not bench.traffic_settled({"node-1": 1_900.0, "node-2": 12_500.0, "node-3": None}, RATES)
    assert not bench.traffic_settled({"node-1": 1_000.0, "node-2": 12_500.0, "node-3": 0.0}, RATES)
    assert not bench.traffic_settled({"node-1": 1_900.0, "node-2": 12_500.0, "node-3": 20.0}, RATES)
    flows = {"node-1": {"status": {"traffic": {"packetsPerSecond": 2000}}}, "node-2": {"status": {}}}
    assert bench.reported_traffic(flows) == {"node-1": 2000.0, "node-2": None}


def test_each_nodes_projection_meets_what_its_collector_received() -> None:
    setting = bench.Setting(FlowType.SFLOW, 128)
    assert setting.argv() == ["sflow", "--node-port", "30001", "--sampling", "128"]
    answer = {
        "nodes": [
            {
                "node": "node-1",
                "packetsPerSecond": 2020.0,
                "cost": {"exportBytesPerSecond": 3250.0, "recordsPerSecond": 16.1},
            },
            {"node": "node-3", "packetsPerSecond": 0.0, "cost": {"exportBytesPerSecond": 0.0, "recordsPerSecond": 0.0}},
        ]
    }
    got = {"node-1": bench.Received(3290.0, 16.2), "node-3": bench.Received(0.0, 0.0)}
    rows = bench.compare(setting, answer, got, RATES)
    assert [(r.node, r.offered, r.reported) for r in rows] == [("node-1", 2000, 2020.0), ("node-3", 0, 0.0)]
    assert math.isclose(rows[0].error, (3250 - 3290) / 3290)
    assert rows[1].error == 0.0
    lines = bench.table(rows)
    assert (
        lines[2]
        == "| sFlow 1/128 | node-1 | 2,000 | 2,020.0 | 3.25 kB/s, 16.1 records/s | 3.29 kB/s, 16.2 records/s | 0.99 |"
    )
    assert lines[3].endswith("| — |")
