"""The projected export cost against what real collectors receive: three testbed nodes with real
Open vSwitch, a real goflow2 and a real `flowgate agent` each, the project's traffic generator
(bench/pktgen.c) at two rates on two nodes and none on the third, the real gateway, kubectl and
Chromium. bench/projection.py holds the procedure, shared with `python -m bench --section
projection`, which writes the same comparison to bench/RESULTS.md.

What is measured is printed as `figure: ...` (run with -s)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from bench import projection as bench
from gateway.domain import export_cost
from tests.fixtures.agents import NodeAgents
from tests.fixtures.browser import Pages, assert_accessible
from tests.fixtures.gateway import running_gateway
from tests.fixtures.waiting import wait_for

pytestmark = [pytest.mark.ovs, pytest.mark.slow]

# An agent's first rate needs 10 s of readings; a later move waits a minute after its last write.
TRAFFIC_REPORTED_WITHIN = 240.0


@pytest.fixture(scope="module")
def cluster(ovs_testbed: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, NodeAgents]]:
    """The OVS testbed with one agent per node reading br-int's counters every second, and the
    generator's traffic on node-1 and node-2 (none at all on node-3) until every agent reports it."""
    ovs_testbed.reset()
    agents = NodeAgents(ovs_testbed, tmp_path_factory.mktemp("agents"))
    try:
        with bench.offered_traffic(ovs_testbed, tmp_path_factory.mktemp("pktgen"), bench.RATES):
            # Started on traffic already flowing, each agent's first report (written at once) is its rate.
            for node in ovs_testbed.node_names:
                agents.start(node, extra=["--traffic-interval", "1s"])
            waited = bench.wait_until(
                lambda: bench.traffic_settled(bench.reported_traffic(bench.flows(ovs_testbed)), bench.RATES),
                TRAFFIC_REPORTED_WITHIN,
                f"every agent reporting its node's traffic ({bench.RATES} packets/s offered)",
                lambda: bench.reported_traffic(bench.flows(ovs_testbed)),
            )
            print(f"figure: the agents reported the offered traffic {waited:.0f} s after it started")
            yield ovs_testbed, agents
    finally:
        codes = agents.stop_all()
        ovs_testbed.reset()
        assert set(codes.values()) <= {0}, f"agents did not exit cleanly on SIGTERM: {codes}"


@pytest.mark.parametrize("setting", bench.SETTINGS, ids=lambda s: s.label)
def test_each_nodes_projected_export_is_within_35_percent_of_what_its_collector_receives(
    cluster: tuple[Any, NodeAgents], setting: bench.Setting
) -> None:
    testbed, _ = cluster
    rows = bench.run_setting(testbed, setting, bench.RATES, bench.WINDOW_SECONDS)
    for row in rows:
        print(
            f"figure: {row.setting} {row.node} at {row.offered:,} packets/s offered ({row.reported:,.1f} reported): "
            f"projected {row.projected_bytes:,.0f} B/s, received {row.received_bytes:,.0f} B/s ({row.error:+.0%})"
        )
    by_node = {row.node: row for row in rows}
    for node, offered in bench.RATES.items():
        row = by_node[node]
        if offered:
            assert abs(row.error) <= bench.BOUND, row
        else:
            # No traffic: (near) nothing projected, and next to nothing received (an IPFIX exporter's
            # templates, sent once when it starts, may still be counted in the window on a busy machine).
            assert row.projected_bytes < 100 and row.received_bytes < 2000, row


def test_the_dry_run_changes_nothing_and_agrees_with_graphql(cluster: tuple[Any, NodeAgents], tmp_path: Path) -> None:
    testbed, _ = cluster
    projection = bench.dry_run(testbed, bench.SETTINGS[0])  # raises if it moved any resourceVersion
    assert "userspace datapath" in projection["basis"]["description"]
    assert projection["basis"]["measured"] == export_cost.load().measured
    query = """query($type: FlowType!, $sampling: Int) { exportProjection(type: $type, sampling: $sampling) {
      nodes { node packetsPerSecond range cost { exportBytesPerSecond } } } }"""
    with running_gateway(testbed, tmp_path) as gateway:
        answer = bench.changing_nothing(
            testbed, "the GraphQL query", lambda: gateway.post(query, {"type": "IPFIX", "sampling": 64}, user="admin")
        )
    assert not answer.get("errors"), answer
    through_gateway = {n["node"]: n for n in answer["data"]["exportProjection"]["nodes"]}
    for node in projection["nodes"]:
        # The same traffic gives the same figures (an agent may have rewritten its rate meanwhile).
        if through_gateway[node["node"]]["packetsPerSecond"] == node["packetsPerSecond"]:
            assert through_gateway[node["node"]]["cost"]["exportBytesPerSecond"] == pytest.approx(
                node["cost"]["exportBytesPerSecond"]
            )
    quiet = through_gateway["node-3"]
    assert quiet["range"] == "BELOW" and quiet["cost"]["exportBytesPerSecond"] < 100


def bytes_per_second(text: str) -> float:
    """What export_cost.format_rate wrote ("2.1 kB/s", "310 kB/s", "1.4 MB/s") as bytes a second."""
    found = re.search(r"([\d.]+) (k|M)?B/s", text)
    assert found, f"no rate in {text!r}"
    return float(found.group(1)) * {"k": 1e3, "M": 1e6, None: 1.0}[found.group(2)]


def test_the_page_shows_the_projection_and_beside_it_what_each_collector_receives(
    cluster: tuple[Any, NodeAgents], pages: Pages, tmp_path: Path
) -> None:
    testbed, _ = cluster
    setting = bench.SETTINGS[0]
    projection = bench.dry_run(testbed, setting)
    with running_gateway(testbed, tmp_path, "--auth", "none", user="admin") as gateway:
        page = pages.open(gateway.url + "/")
        busy = next(n for n in projection["nodes"] if n["node"] == "node-2")
        # Before anything changes: the panel projects each node at its own measured traffic.
        page.get_by_role("button", name="Collector").click()
        page.locator("#flowgate-sampling").fill(str(setting.sampling))
        page.get_by_role("button", name="IPFIX", exact=True).click()
        # At the node's traffic as its agent last reported it: the dry run read an earlier report, and
        # on a busy machine the generator's rate (and so the report) moves a little in between.
        projected_cell = page.locator('[data-test="projection-node-2"] td').nth(3)
        expected = busy["cost"]["exportBytesPerSecond"]

        def shown() -> str:
            return projected_cell.inner_text() if projected_cell.count() else "no projection row for node-2"

        def near_the_dry_run() -> bool:
            text = shown()
            return "B/s" in text and bytes_per_second(text) == pytest.approx(expected, rel=0.25)

        wait_for(
            near_the_dry_run,
            15,
            f"node-2's projection within 25 % of the dry run's {export_cost.format_rate(expected)}",
            saw=shown,
        )
        expect(page.locator("[data-test=projection-basis]")).to_contain_text("userspace datapath")
        # While exporting: each row's projection beside what its collector counts.
        generation = bench.start(testbed, setting)
        bench.wait_until(
            lambda: bench.emitting(testbed, generation, list(bench.RATES)), 60, "every node emitting", lambda: ""
        )
        received = page.locator('[data-test="row-node-2"] td[data-label="Received"]')
        expect(received).to_contain_text("Confirmed", timeout=60_000)
        # The row's projection follows the node's latest reported traffic, which an agent rewrites
        # with its other status writes: close to the dry run's, not equal to it.
        projected = page.locator('[data-test="projected-node-2"]')
        expect(projected).to_contain_text("≈")
        assert bytes_per_second(projected.inner_text()) == pytest.approx(
            busy["cost"]["exportBytesPerSecond"], rel=0.25
        ), projected.inner_text()
        pages.screenshot(page, "projection-exporting")
        assert_accessible(page, "the page with the projection while exporting")
