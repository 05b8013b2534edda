"""Each node's projected cost of export (gateway/domain/cost_projection.py), held to the measured
table it interpolates (gateway/domain/export_cost.json), and the dry runs that show it: GraphQL
exportProjection and `kubectl flows start --dry-run`."""

from __future__ import annotations

import io
import math
from typing import Any

import pytest

from gateway.cli import output
from gateway.cli.main import build_parser
from gateway.cli.shapes import projection_json
from gateway.domain import export_cost
from gateway.domain.cost_projection import (
    CONFIRM_NODE_CPU_PERCENT,
    CostFigures,
    TrafficRange,
    cost_curve,
    effective_sampling,
    node_cost,
    project,
)
from gateway.domain.model import FlowExportSpec, FlowType, NodeFlowState, NodeFlowStatus
from gateway.resolvers.context import Context
from gateway.schema.root import schema
from tests.unit.fakes import Cluster, node, services

TABLE = export_cost.load()


figures_of = CostFigures.of


def close(a: CostFigures, b: CostFigures, rel: float = 1e-9) -> bool:
    return all(
        math.isclose(x, y, rel_tol=rel, abs_tol=1e-9) for x, y in zip(vars(a).values(), vars(b).values(), strict=True)
    )


def spec(flow_type: FlowType, sampling: int | None = None, **tuning: Any) -> FlowExportSpec:
    return FlowExportSpec(type=flow_type, sampling=sampling, **tuning)


def statuses(**rates: float | None) -> list[NodeFlowStatus]:
    return [
        NodeFlowStatus(name, NodeFlowState.DISABLED, packets_per_second=rate, traffic_measured_at="T")
        for name, rate in rates.items()
    ]


# -- the interpolation, held to the table --------------------------------------------------------


@pytest.mark.parametrize("estimate", TABLE.estimates, ids=lambda e: f"{e.setting}@{e.packets_per_second}")
def test_at_a_measured_rate_and_sampling_the_projection_is_the_table(estimate: export_cost.ExportCost) -> None:
    cost, where = node_cost(spec(estimate.type, estimate.sampling), estimate.packets_per_second)
    assert where is TrafficRange.MEASURED
    assert cost == figures_of(estimate)


@pytest.mark.parametrize(("flow_type", "sampling"), TABLE.settings())
def test_between_measured_rates_it_is_linear_in_the_rate(flow_type: FlowType, sampling: int | None) -> None:
    for low, high in zip(TABLE.rates, TABLE.rates[1:], strict=False):
        a, b = TABLE.find(flow_type, sampling, low), TABLE.find(flow_type, sampling, high)
        assert a is not None and b is not None
        for fraction in (0.25, 0.5, 0.9):
            rate = low + fraction * (high - low)
            cost, where = node_cost(spec(flow_type, sampling), rate)
            assert where is TrafficRange.MEASURED and cost is not None
            assert close(cost, figures_of(a).toward(figures_of(b), fraction))
            # Every figure lies between its two measured neighbours.
            for value, x, y in zip(
                vars(cost).values(), vars(figures_of(a)).values(), vars(figures_of(b)).values(), strict=True
            ):
                assert min(x, y) - 1e-9 <= value <= max(x, y) + 1e-9


def test_outside_the_measured_rates_it_scales_in_proportion_and_says_so() -> None:
    lowest, highest = TABLE.rates[0], TABLE.rates[-1]
    at_low = figures_of(TABLE.find(FlowType.IPFIX, 64, lowest))  # type: ignore[arg-type]
    at_high = figures_of(TABLE.find(FlowType.IPFIX, 64, highest))  # type: ignore[arg-type]
    below, where = node_cost(spec(FlowType.IPFIX, 64), lowest / 4)
    assert where is TrafficRange.BELOW and below is not None and close(below, at_low.scaled(0.25))
    zero, where = node_cost(spec(FlowType.IPFIX, 64), 0.0)
    assert where is TrafficRange.BELOW and zero == CostFigures()  # no traffic, no cost
    above, where = node_cost(spec(FlowType.IPFIX, 64), highest * 2)
    assert where is TrafficRange.ABOVE and above is not None and close(above, at_high.scaled(2))
    projection = project(spec(FlowType.IPFIX, 64), statuses(quiet=lowest / 4, busy=highest * 2))
    assert [n.range for n in projection.nodes] == [TrafficRange.BELOW, TrafficRange.ABOVE]
    text = " ".join(projection.notes)
    assert f"lowest measured rate ({lowest:,} packets/s)" in text
    assert f"highest measured rate ({highest:,} packets/s)" in text and "beyond what was measured" in text


def test_a_sampling_between_measured_ones_is_interpolated_in_one_over_sampling() -> None:
    rate = TABLE.rates[1]
    dense = figures_of(TABLE.find(FlowType.SFLOW, 64, rate))  # type: ignore[arg-type]
    sparse = figures_of(TABLE.find(FlowType.SFLOW, 400, rate))  # type: ignore[arg-type]
    cost, _ = node_cost(spec(FlowType.SFLOW, 128), rate)
    fraction = (1 / 64 - 1 / 128) / (1 / 64 - 1 / 400)
    assert cost is not None and close(cost, dense.toward(sparse, fraction))
    # Export is proportional to 1/sampling in the table itself, so half of 1/64's to within a tenth.
    assert cost.export_bytes_per_second == pytest.approx(dense.export_bytes_per_second / 2, rel=0.1)
    _, note = cost_curve(TABLE, FlowType.SFLOW, 128)
    assert note is not None and "1 in 128 was not measured" in note and "1 in 64 and 1 in 400" in note


def test_a_sampling_sparser_than_any_measured_is_scaled_down_and_noted() -> None:
    rate = TABLE.rates[2]
    sparsest = figures_of(TABLE.find(FlowType.IPFIX, 400, rate))  # type: ignore[arg-type]
    cost, _ = node_cost(spec(FlowType.IPFIX, 4000), rate)
    assert cost is not None and close(cost, sparsest.scaled(0.1))
    projection = project(spec(FlowType.IPFIX, 4000), statuses(a=rate))
    assert any("sparser than any measured" in note for note in projection.notes)


def test_defaults_are_what_ovs_runs_and_netflow_has_no_sampling() -> None:
    assert effective_sampling(FlowType.IPFIX, None) == 400
    assert effective_sampling(FlowType.SFLOW, None) == 400
    assert effective_sampling(FlowType.NETFLOW, None) is None
    default = project(spec(FlowType.IPFIX), statuses(a=10_000))
    assert default.sampling == 400 and default.active_timeout_seconds == 60
    assert default.nodes[0].cost == figures_of(TABLE.find(FlowType.IPFIX, 400, 10_000))  # type: ignore[arg-type]
    assert project(spec(FlowType.SFLOW), statuses(a=1)).active_timeout_seconds is None
    netflow = project(spec(FlowType.NETFLOW, active_timeout_seconds=30), statuses(a=1000))
    assert netflow.sampling is None and netflow.active_timeout_seconds == 30
    assert any("follows connections" in note and "every 30 s" in note for note in netflow.notes)
    cached = project(spec(FlowType.IPFIX, 64, cache_max_flows=1000), statuses(a=1000))
    assert any("at most what is shown" in note for note in cached.notes)


def test_the_total_adds_the_nodes_and_leaves_out_unknown_traffic() -> None:
    projection = project(spec(FlowType.IPFIX, 64), statuses(a=2_000, b=20_000, c=0, d=None))
    known = [n.cost for n in projection.nodes if n.cost is not None]
    assert len(known) == 3 and projection.unknown_nodes == 1
    summed = CostFigures()
    for cost in known:
        summed = summed.plus(cost)
    assert close(projection.total, summed)
    assert projection.nodes[2].cost == CostFigures()  # a node with no traffic projects nothing
    assert projection.nodes[3].range is TrafficRange.UNKNOWN
    assert any("1 node has not reported its traffic" in note for note in projection.notes)


def test_the_basis_names_the_table_date_ovs_version_and_userspace_datapath() -> None:
    basis = project(spec(FlowType.IPFIX), statuses(a=1)).basis
    text = basis.describe()
    assert TABLE.measured in text and TABLE.open_vswitch in text and "userspace datapath" in text
    assert basis.rates == TABLE.rates


def test_a_costly_switch_needs_confirmation_with_the_totals() -> None:
    cheap = project(spec(FlowType.IPFIX, 400), statuses(a=1000, b=1000))
    assert cheap.confirmation is None
    costly = project(spec(FlowType.IPFIX, 1), statuses(a=50_000, b=50_000))
    assert costly.confirmation is not None
    assert "ipfix 1/1" in costly.confirmation and "export to the collectors" in costly.confirmation
    assert export_cost.format_rate(costly.total.export_bytes_per_second) in costly.confirmation
    one_busy = project(spec(FlowType.NETFLOW), statuses(a=200_000))
    assert one_busy.confirmation is not None and f"confirmation from {CONFIRM_NODE_CPU_PERCENT:.0f} %" in (
        one_busy.confirmation
    )


# -- the dry runs --------------------------------------------------------------------------------


def cluster_with_traffic(**rates: float | None) -> Cluster:
    cluster = Cluster()
    for name, rate in rates.items():
        cluster.put(cluster.hub.nodes.resource, node(name))
        status: dict[str, Any] = {"state": "Disabled", "observedGeneration": 0}
        if rate is not None:
            status["traffic"] = {"packetsPerSecond": rate, "measuredAt": "2026-01-01T00:00:00Z"}
        cluster.put(cluster.hub.flows.resource, {"metadata": {"name": name, "resourceVersion": "1"}, "status": status})
    cluster.sync()
    return cluster


QUERY = """query($type: FlowType!, $sampling: Int) {
  exportProjection(type: $type, sampling: $sampling) {
    type sampling activeTimeoutSeconds
    nodes { node packetsPerSecond range cost { exportBytesPerSecond cpuPercentOfCore cpuSpread } }
    total { exportBytesPerSecond recordsPerSecond }
    unknownNodes notes confirmation
    basis { measured openVSwitch datapath description }
  }
}"""


async def test_graphql_export_projection_is_a_query_over_each_nodes_reported_traffic() -> None:
    cluster = cluster_with_traffic(**{"node-1": 2000.0, "node-2": 20000.0, "node-3": None})
    result = await schema.execute(
        QUERY, {"type": "IPFIX", "sampling": 64}, context_value=Context(services=services(cluster.hub))
    )
    assert result.errors is None, result.errors
    answer = result.data["exportProjection"]  # type: ignore[index]
    expected = project(spec(FlowType.IPFIX, 64), cluster.hub.statuses())
    assert [n["node"] for n in answer["nodes"]] == ["node-1", "node-2", "node-3"]
    assert answer["nodes"][1]["cost"]["exportBytesPerSecond"] == pytest.approx(
        expected.nodes[1].cost.export_bytes_per_second  # type: ignore[union-attr]
    )
    assert answer["nodes"][2] == {"node": "node-3", "packetsPerSecond": None, "range": "UNKNOWN", "cost": None}
    assert answer["unknownNodes"] == 1 and answer["confirmation"] is None
    assert answer["basis"]["measured"] == TABLE.measured and "userspace" in answer["basis"]["datapath"]
    assert "exportProjection" in str(schema.as_str().split("type Query", 1)[1].split("}", 1)[0])


async def test_graphql_export_projection_refuses_what_start_refuses() -> None:
    cluster = cluster_with_traffic(a=1.0)
    result = await schema.execute(
        QUERY, {"type": "NETFLOW", "sampling": 64}, context_value=Context(services=services(cluster.hub))
    )
    assert result.errors and result.errors[0].extensions["code"] == "INVALID_ARGUMENT"  # type: ignore[index]
    assert "sampling applies to IPFIX and sFlow only" in result.errors[0].message


def test_the_dry_run_table_shows_every_node_the_total_notes_and_basis() -> None:
    projection = projection_json(project(spec(FlowType.IPFIX, 64), statuses(a=2000, b=20000, c=10, d=None)))
    text = output.render_projection(projection, "table")
    lines = text.splitlines()
    assert lines[0].startswith("What ipfix 1/64, active timeout 60 s would cost each node")
    header = next(line for line in lines if line.startswith("NODE"))
    assert header.split() == ["NODE", "PACKETS/S", "OVS-VSWITCHD", "CPU", "EXPORT", "RECORDS/S", "NOTE"]
    rows = {line.split()[0]: line for line in lines[lines.index(header) + 1 :] if line.strip()}
    b = projection["nodes"][1]["cost"]
    assert export_cost.format_rate(b["exportBytesPerSecond"]) in rows["b"]
    assert export_cost.format_cpu(b["cpuPercentOfCore"], b["cpuSpread"]) in rows["b"]
    assert "below the measured rates" in rows["c"] and "traffic not reported" in rows["d"]
    assert export_cost.format_rate(projection["total"]["exportBytesPerSecond"]) in rows["TOTAL"]
    flat = " ".join(text.split())
    assert f"measured {TABLE.measured} with {TABLE.open_vswitch}, userspace datapath" in flat
    assert flat.endswith("Nothing was changed (--dry-run).")
    assert output.render_projection(projection, "json").startswith('{\n  "type": "IPFIX"')


def test_dry_run_flags_parse_and_output_needs_a_dry_run() -> None:
    parser = build_parser("kubectl flows")
    args = parser.parse_args(["start", "ipfix", "--sampling", "64", "--dry-run", "-o", "yaml"])
    assert args.dry_run and args.output == "yaml"
    from gateway.cli.main import run

    err = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        run(["start", "ipfix", "-o", "json"], out=io.StringIO(), err=err)
    assert exited.value.code == 2


def test_while_exporting_each_row_carries_the_running_settings_projection_beside_the_measured_rate() -> None:
    from gateway.domain.model import FlowExport, FlowReport, TrafficReport
    from gateway.domain.status import node_flow_status

    traffic = TrafficReport(20_000.0, "2026-01-01T00:00:00Z")
    report = FlowReport(
        "n", NodeFlowState.EMITTING, FlowType.IPFIX, "10.0.0.1:4739", observed_generation=2, traffic=traffic
    )
    running = FlowExport(spec(FlowType.IPFIX, 64), generation=2)
    row = node_flow_status("n", running, report)
    cost, _ = node_cost(spec(FlowType.IPFIX, 64), 20_000.0)
    assert cost is not None
    assert row.packets_per_second == 20_000.0 and row.projection_range is TrafficRange.MEASURED
    assert row.projected_records_per_second == cost.records_per_second
    assert row.projected_export_bytes_per_second == cost.export_bytes_per_second
    stopped = node_flow_status("n", FlowExport(FlowExportSpec(), generation=3), report)
    assert stopped.packets_per_second == 20_000.0  # the traffic shows whatever the state
    assert stopped.projected_records_per_second is None and stopped.projection_range is None
    unknown = node_flow_status("n", running, FlowReport("n", NodeFlowState.EMITTING, observed_generation=2))
    assert unknown.projected_records_per_second is None and unknown.projection_range is TrafficRange.UNKNOWN
