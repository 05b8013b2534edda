"""The cost table shipped with the product (gateway/domain/export_cost.json): that it is what the
data-plane benchmark generated from its saved windows (bench/dataplane.json), not typed; that
it covers every setting the benchmark measures; and that `kubectl flows start --help` and
GraphQL `exportCosts` show it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bench import dataplane, dataplane_report
from bench.__main__ import _marker
from gateway.cli.main import build_parser
from gateway.domain import export_cost
from gateway.domain.model import FlowType
from gateway.resolvers.context import Context
from gateway.schema.root import schema
from tests.unit.fakes import Cluster, services

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def replayed() -> tuple[dataplane.Measurement, dict[str, str]]:
    return dataplane_report.load(json.loads((ROOT / "bench" / "dataplane.json").read_text()))


def test_the_shipped_table_is_what_the_benchmark_generated(
    replayed: tuple[dataplane.Measurement, dict[str, str]],
) -> None:
    measurement, meta = replayed
    shipped = json.loads((ROOT / "gateway" / "domain" / "export_cost.json").read_text())
    assert shipped == json.loads(json.dumps(dataplane_report.cost_table(measurement, meta)))


def test_the_readme_and_results_say_what_the_benchmark_generated(
    replayed: tuple[dataplane.Measurement, dict[str, str]],
) -> None:
    measurement, meta = replayed
    assert dataplane_report.readme_block(measurement, meta) in (ROOT / "README.md").read_text()
    begin, end = _marker("dataplane")
    results = (ROOT / "bench" / "RESULTS.md").read_text()
    found = re.search(re.escape(begin) + "\n(.*?)" + re.escape(end), results, re.S)
    assert found is not None, "bench/RESULTS.md has no dataplane section"
    assert found.group(1).rstrip() == dataplane_report.section(measurement, meta).rstrip()


def test_the_measurement_behind_it_is_a_full_run(replayed: tuple[dataplane.Measurement, dict[str, str]]) -> None:
    measurement, meta = replayed
    assert measurement.plan == dataplane.FULL
    assert meta["command"].startswith("python -m bench") and "--quick" not in meta["command"]
    assert not meta["commit"].endswith("-dirty"), "publish figures measured on committed code"


def test_every_setting_is_measured_at_every_rate() -> None:
    table = export_cost.load()
    assert table.rates == dataplane.FULL.rates
    wanted = [(s.type, s.sampling) for s in dataplane.FULL.settings]
    assert table.settings() == wanted
    for flow_type, sampling in wanted:
        for rate in table.rates:
            cost = table.find(flow_type, sampling, rate)
            assert cost is not None and cost.cpu_percent_of_core >= 0 and cost.export_bytes_per_second > 0
    defaults = {(e.type, e.sampling) for e in table.estimates if e.is_default}
    assert defaults == {(FlowType.IPFIX, 400), (FlowType.SFLOW, 400)}


def test_nearest_measured_sampling() -> None:
    table = export_cost.load()
    assert table.nearest_sampling(FlowType.IPFIX, None) == 400
    assert table.nearest_sampling(FlowType.SFLOW, None) == 400
    assert table.nearest_sampling(FlowType.IPFIX, 100) == 64
    assert table.nearest_sampling(FlowType.IPFIX, 300) == 400
    assert table.nearest_sampling(FlowType.SFLOW, 2) == 1
    assert table.nearest_sampling(FlowType.NETFLOW, 64) is None


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d.pop("estimates"), "KeyError"),
        (lambda d: d["estimates"][0].update(type="Bogus"), "unknown flow type"),
        (lambda d: d["estimates"].clear(), "has no figures"),
    ],
)
def test_a_broken_table_is_refused_with_a_sentence(change: Any, words: str) -> None:
    data = json.loads((ROOT / "gateway" / "domain" / "export_cost.json").read_text())
    change(data)
    with pytest.raises(export_cost.ExportCostError) as caught:
        export_cost.parse(data)
    assert words in caught.value.message and "python -m bench" in caught.value.message


def test_formats() -> None:
    assert export_cost.format_rate(640) == "0.6 kB/s"
    assert export_cost.format_rate(310_400) == "310 kB/s"
    assert export_cost.format_rate(14_200_000) == "14.2 MB/s"
    assert export_cost.format_cpu(61.94) == "61.9 %"
    assert export_cost.format_cpu(1.24, 0.81) == "1.2±0.8 %"


def _help(command: str) -> str:
    parser = build_parser("kubectl flows")
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]  # type: ignore[union-attr]
    return str(sub.format_help())


def test_start_help_shows_the_price_of_each_setting() -> None:
    table = export_cost.load()
    text = _help("start")
    header = next(line for line in text.splitlines() if line.strip().startswith("SETTING"))
    for rate in table.rates:
        assert f"AT {rate:,} PACKETS/S" in header
    for flow_type, sampling in table.settings():
        costs = [table.find(flow_type, sampling, rate) for rate in table.rates]
        assert all(costs)
        name = costs[0].setting if costs[0] else ""
        line = next(line for line in text.splitlines() if re.match(rf"  {re.escape(name)}( \*)? ", line))
        at = 0
        for cost in costs:
            assert cost is not None
            cpu = export_cost.format_cpu(cost.cpu_percent_of_core, cost.cpu_spread)
            cell = f"{cpu}, {export_cost.format_rate(cost.export_bytes_per_second)}"
            if cost.memory_mib >= 1:
                cell += f", +{cost.memory_mib:.0f} MiB"
            at = line.index(cell, at) + len(cell)  # the cells in rate order
    assert "ipfix 1/400 *" in text and "the default sampling" in text
    assert f"Measured {table.measured} with {table.open_vswitch}" in " ".join(text.split())
    assert "exit codes:" in text  # the common epilog follows
    assert "SETTING" not in _help("stop")


async def test_graphql_export_costs_answers_the_shipped_table() -> None:
    cluster = Cluster()
    cluster.sync()
    query = "{ exportCosts { measured openVSwitch rates estimates { type sampling isDefault packetsPerSecond cpuPercentOfCore exportBytesPerSecond memoryMib } } }"
    result = await schema.execute(query, context_value=Context(services=services(cluster.hub)))
    assert result.errors is None, result.errors
    assert result.data is not None
    table = export_cost.load()
    answer = result.data["exportCosts"]
    assert answer["measured"] == table.measured and answer["rates"] == list(table.rates)
    assert len(answer["estimates"]) == len(table.estimates)
    first = table.estimates[0]
    assert answer["estimates"][0] == {
        "type": first.type.name,
        "sampling": first.sampling,
        "isDefault": first.is_default,
        "packetsPerSecond": first.packets_per_second,
        "cpuPercentOfCore": first.cpu_percent_of_core,
        "exportBytesPerSecond": first.export_bytes_per_second,
        "memoryMib": first.memory_mib,
    }
