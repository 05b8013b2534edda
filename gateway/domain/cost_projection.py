"""What an export setting would cost each node, and all of them, at the traffic each node carries
now: ovs-vswitchd CPU (% of a core, with the measured spread), memory, and the export traffic its
collector would receive, interpolated in the cost table the data-plane benchmark measured
(export_cost.json) at the node's own packet rate into br-int (Flow status.traffic; see
traffic.py for why that is the rate export's cost follows).

How the table is read:
- Between two measured packet rates, linearly. Outside them the figures are scaled in proportion
  to the rate from the nearest measured one (no packets, nothing sampled or exported; sampled
  export grows with the packets), and the node's projection says so: BELOW or ABOVE the
  measured range, never silently.
- Sampling (IPFIX, sFlow): sampled packets, records and bytes are proportional to 1/sampling, so
  a sampling between two measured ones is interpolated linearly in 1/sampling, and one sparser
  than any measured is scaled down from the sparsest by the ratio; the projection's notes say
  when the sampling asked for was not itself measured.
- Active timeout: the table's traffic is short flows, which OVS exports once each when they end
  whatever the timeout; IPFIX as flowgate configures it exports every sample as its own record and
  sFlow has no timeout. So the figures hold for any timeout; for NetFlow a note says what
  long-lived flows add (one record per flow per timeout).
- Totals add the nodes' figures, spreads included (every node's figure comes from the same
  measurements, so their errors do not cancel).

Every projection names its basis: the table's date, the Open vSwitch version and the userspace
datapath it was measured on. Pure: the hub hands in every node's status."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, replace

from gateway.domain import export_cost
from gateway.domain.export_cost import DEFAULT_SFLOW_SAMPLING, ExportCostTable
from gateway.domain.model import (
    DEFAULT_ACTIVE_TIMEOUT_SECONDS,
    DEFAULT_IPFIX_SAMPLING,
    FlowExportSpec,
    FlowType,
    NodeFlowStatus,
    TrafficRange,
)

DATAPATH = "userspace datapath (datapath_type=netdev)"  # what the benchmark ran; see bench/dataplane.py

# Above any of these, a switch in the console asks for confirmation with the totals: a core's worth
# of ovs-vswitchd CPU over the cluster, a quarter of a core on one node, or 10 MB/s of export.
CONFIRM_TOTAL_CPU_PERCENT = 100.0
CONFIRM_NODE_CPU_PERCENT = 25.0
CONFIRM_TOTAL_EXPORT_BYTES_PER_SECOND = 10_000_000.0


@dataclass(frozen=True)
class CostFigures:
    """What export costs one node (or the sum over nodes), over export disabled."""

    cpu_percent_of_core: float = 0.0  # ovs-vswitchd
    cpu_spread: float = 0.0  # ± as the benchmark's windows spread
    memory_mib: float = 0.0  # ovs-vswitchd resident memory
    export_bytes_per_second: float = 0.0  # flow-export payload arriving at the collector
    records_per_second: float = 0.0  # flow records (sFlow: flow samples) arriving at the collector

    def scaled(self, factor: float) -> CostFigures:
        return CostFigures(
            self.cpu_percent_of_core * factor,
            self.cpu_spread * factor,
            self.memory_mib * factor,
            self.export_bytes_per_second * factor,
            self.records_per_second * factor,
        )

    def toward(self, other: CostFigures, fraction: float) -> CostFigures:
        """The point `fraction` of the way from self to other."""
        return self.scaled(1 - fraction).plus(other.scaled(fraction))

    def plus(self, other: CostFigures) -> CostFigures:
        return CostFigures(
            self.cpu_percent_of_core + other.cpu_percent_of_core,
            self.cpu_spread + other.cpu_spread,
            self.memory_mib + other.memory_mib,
            self.export_bytes_per_second + other.export_bytes_per_second,
            self.records_per_second + other.records_per_second,
        )

    @staticmethod
    def of(estimate: export_cost.ExportCost) -> CostFigures:
        return CostFigures(
            estimate.cpu_percent_of_core,
            estimate.cpu_spread,
            estimate.memory_mib,
            estimate.export_bytes_per_second,
            estimate.records_per_second,
        )


@dataclass(frozen=True)
class CostCurve:
    """One setting's figures against the packet rate, at the measured rates (ascending)."""

    points: tuple[tuple[int, CostFigures], ...]

    def at(self, rate: float) -> tuple[CostFigures, TrafficRange]:
        (low_rate, low), (high_rate, high) = self.points[0], self.points[-1]
        if rate < low_rate:
            return low.scaled(max(0.0, rate) / low_rate), TrafficRange.BELOW
        if rate > high_rate:
            return high.scaled(rate / high_rate), TrafficRange.ABOVE
        for (r0, f0), (r1, f1) in zip(self.points, self.points[1:], strict=False):
            if r0 <= rate <= r1:
                return f0.toward(f1, (rate - r0) / (r1 - r0)), TrafficRange.MEASURED
        return low, TrafficRange.MEASURED  # one measured rate only, and this is it


@dataclass(frozen=True)
class ProjectionBasis:
    """What a projection stands on: the measured table, when and where it was measured."""

    measured: str
    open_vswitch: str
    datapath: str
    machine: str
    traffic: str
    rates: tuple[int, ...]

    def describe(self) -> str:
        return f"the cost table measured {self.measured} with {self.open_vswitch}, {self.datapath}"

    @staticmethod
    def of(table: ExportCostTable) -> ProjectionBasis:
        return ProjectionBasis(table.measured, table.open_vswitch, DATAPATH, table.machine, table.traffic, table.rates)


@dataclass(frozen=True)
class NodeProjection:
    node: str
    packets_per_second: float | None  # as the node's agent last reported it
    traffic_measured_at: str | None
    range: TrafficRange
    cost: CostFigures | None  # None when the node's traffic is unknown


@dataclass(frozen=True)
class ExportProjection:
    """A setting's projected cost on every node and in total (over the nodes whose traffic is
    known), with the sentences that qualify it and the basis it stands on."""

    type: FlowType
    sampling: int | None  # as OVS would run it (the type's default filled in); None for NetFlow
    active_timeout_seconds: int | None  # as OVS would run it; None for sFlow, which has none
    cache_max_flows: int | None
    nodes: tuple[NodeProjection, ...]
    total: CostFigures
    notes: tuple[str, ...]
    basis: ProjectionBasis
    confirmation: str | None  # why a switch should be confirmed (a threshold passed); None: it need not

    @property
    def unknown_nodes(self) -> int:
        return sum(n.range is TrafficRange.UNKNOWN for n in self.nodes)

    def describe_setting(self) -> str:
        """`ipfix 1/64, active timeout 60 s`: the setting in the CLI's words."""
        text = self.type.cli_name + (f" 1/{self.sampling}" if self.sampling is not None else "")
        if self.active_timeout_seconds is not None:
            text += f", active timeout {self.active_timeout_seconds} s"
        if self.cache_max_flows is not None:
            text += f", cache {self.cache_max_flows} flows"
        return text


def effective_sampling(flow_type: FlowType, sampling: int | None) -> int | None:
    """The sampling OVS runs: IPFIX 400 (OVN-Kubernetes' default) and sFlow 400 (OVS's) unless set."""
    if flow_type is FlowType.NETFLOW:
        return None
    if sampling is not None:
        return sampling
    return DEFAULT_IPFIX_SAMPLING if flow_type is FlowType.IPFIX else DEFAULT_SFLOW_SAMPLING


def _rate(rate: int) -> str:
    return f"{rate:,} packets/s"


def cost_curve(table: ExportCostTable, flow_type: FlowType, sampling: int | None) -> tuple[CostCurve, str | None]:
    """The figures of (type, sampling) against the packet rate, read from the table as the module
    says, with a sentence when the sampling was not itself measured."""
    if flow_type is FlowType.NETFLOW:
        sampling = None
    if sampling is not None and sampling < 1:
        raise ValueError(f"sampling must be 1 or more, not {sampling}")
    measured = sorted(s for t, s in table.settings() if t is flow_type and s is not None)

    def figures(measured_sampling: int | None, rate: int) -> CostFigures:
        estimate = table.find(flow_type, measured_sampling, rate)
        if estimate is None:
            raise export_cost.ExportCostError(
                f"the export cost table has no {flow_type.value} figure at {_rate(rate)}; regenerate it with "
                "`python -m bench`."
            )
        return CostFigures.of(estimate)

    if sampling is None or sampling in measured:
        return CostCurve(tuple((r, figures(sampling, r)) for r in table.rates)), None
    if not measured:
        raise export_cost.ExportCostError(f"the export cost table has no {flow_type.value} figures.")
    sparsest = measured[-1]
    if sampling > sparsest:
        factor = sparsest / sampling
        points = tuple((r, figures(sparsest, r).scaled(factor)) for r in table.rates)
        note = (
            f"Sampling 1 in {sampling:,} is sparser than any measured: the figures of 1 in {sparsest:,} are scaled by "
            f"{sparsest:,}/{sampling:,} (sampled packets and their export are proportional to 1/sampling)."
        )
        return CostCurve(points), note
    denser = max(s for s in measured if s < sampling)
    sparser = min(s for s in measured if s > sampling)
    # Linear in 1/sampling, the fraction of packets sampled.
    fraction = (1 / denser - 1 / sampling) / (1 / denser - 1 / sparser)
    points = tuple((r, figures(denser, r).toward(figures(sparser, r), fraction)) for r in table.rates)
    note = (
        f"Sampling 1 in {sampling:,} was not measured: the figures are interpolated between 1 in {denser:,} and "
        f"1 in {sparser:,} in proportion to 1/sampling."
    )
    return CostCurve(points), note


@functools.cache
def _shipped_curve(flow_type: FlowType, sampling: int | None) -> CostCurve:
    """The shipped table's curve, read once per setting: the hub projects every node's row with it."""
    return cost_curve(export_cost.load(), flow_type, sampling)[0]


def node_cost(
    spec: FlowExportSpec, packets_per_second: float | None, table: ExportCostTable | None = None
) -> tuple[CostFigures | None, TrafficRange]:
    """One node's projected cost of `spec` at its packet rate (None: unknown traffic)."""
    if spec.type is None or packets_per_second is None:
        return None, TrafficRange.UNKNOWN
    sampling = effective_sampling(spec.type, spec.sampling)
    curve = _shipped_curve(spec.type, sampling) if table is None else cost_curve(table, spec.type, sampling)[0]
    return curve.at(packets_per_second)


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def project(
    spec: FlowExportSpec, nodes: Iterable[NodeFlowStatus], table: ExportCostTable | None = None
) -> ExportProjection:
    """What `spec` would cost on each of `nodes`, at the traffic each reports, and in total."""
    if spec.type is None:
        raise ValueError("a projection needs an export type")
    table = table or export_cost.load()
    sampling = effective_sampling(spec.type, spec.sampling)
    curve, sampling_note = cost_curve(table, spec.type, sampling)
    projected: list[NodeProjection] = []
    total = CostFigures()
    for status in nodes:
        rate = status.packets_per_second
        if rate is None:
            projected.append(NodeProjection(status.node, None, None, TrafficRange.UNKNOWN, None))
            continue
        cost, where = curve.at(rate)
        projected.append(NodeProjection(status.node, rate, status.traffic_measured_at, where, cost))
        total = total.plus(cost)
    timeout = None if spec.type is FlowType.SFLOW else spec.active_timeout_seconds or DEFAULT_ACTIVE_TIMEOUT_SECONDS
    notes = _notes(spec, table, projected, sampling_note, timeout)
    projection = ExportProjection(
        type=spec.type,
        sampling=sampling,
        active_timeout_seconds=timeout,
        cache_max_flows=spec.cache_max_flows,
        nodes=tuple(projected),
        total=total,
        notes=notes,
        basis=ProjectionBasis.of(table),
        confirmation=None,
    )
    return _with_confirmation(projection)


def _notes(
    spec: FlowExportSpec,
    table: ExportCostTable,
    nodes: list[NodeProjection],
    sampling_note: str | None,
    timeout: int | None,
) -> tuple[str, ...]:
    rates = table.rates
    below = sum(n.range is TrafficRange.BELOW for n in nodes)
    above = sum(n.range is TrafficRange.ABOVE for n in nodes)
    unknown = sum(n.range is TrafficRange.UNKNOWN for n in nodes)
    notes: list[str] = []
    if above:
        notes.append(
            f"{_count(above, 'node carries', 'nodes carry')} more than the highest measured rate "
            f"({_rate(rates[-1])}): {'its' if above == 1 else 'their'} figures are scaled up in proportion from it, "
            "beyond what was measured."
        )
    if below:
        notes.append(
            f"{_count(below, 'node carries', 'nodes carry')} less than the lowest measured rate "
            f"({_rate(rates[0])}): {'its' if below == 1 else 'their'} figures are scaled down in proportion, to "
            "nothing at no traffic."
        )
    if unknown:
        notes.append(
            f"{_count(unknown, 'node has', 'nodes have')} not reported {'its' if unknown == 1 else 'their'} traffic "
            "(an agent measures it within a minute of starting): left out of the total."
        )
    if sampling_note:
        notes.append(sampling_note)
    if spec.type is FlowType.NETFLOW:
        notes.append(
            "NetFlow's cost follows connections, not packets: the table's traffic opens a new connection every 10 "
            f"packets; fewer, longer connections cost less, and each long-lived one adds a record every {timeout} s "
            "(the active timeout)."
        )
    if spec.type is FlowType.IPFIX and spec.cache_max_flows is not None:
        notes.append(
            f"With a flow cache (cacheMaxFlows {spec.cache_max_flows:,}) OVS merges the samples of a flow before "
            "exporting them: export is at most what is shown (the cache was not measured)."
        )
    if len([n for n in nodes if n.cost is not None]) > 1:
        notes.append("The total adds the nodes' spreads: every figure comes from the same measurements.")
    return tuple(notes)


def _with_confirmation(projection: ExportProjection) -> ExportProjection:
    total = projection.total
    reasons: list[str] = []
    if total.cpu_percent_of_core >= CONFIRM_TOTAL_CPU_PERCENT:
        reasons.append(
            f"{total.cpu_percent_of_core:,.0f} % of a core of ovs-vswitchd CPU over all nodes "
            f"(confirmation from {CONFIRM_TOTAL_CPU_PERCENT:.0f} %)"
        )
    costs = [(n.cost.cpu_percent_of_core, n.node) for n in projection.nodes if n.cost is not None]
    busiest = max(costs, default=None)
    if busiest is not None and busiest[0] >= CONFIRM_NODE_CPU_PERCENT:
        reasons.append(
            f"{busiest[0]:.0f} % of a core on {busiest[1]} (confirmation from {CONFIRM_NODE_CPU_PERCENT:.0f} % on one node)"
        )
    if total.export_bytes_per_second >= CONFIRM_TOTAL_EXPORT_BYTES_PER_SECOND:
        reasons.append(
            f"{export_cost.format_rate(total.export_bytes_per_second)} of export to the collectors "
            f"(confirmation from {export_cost.format_rate(CONFIRM_TOTAL_EXPORT_BYTES_PER_SECOND)})"
        )
    if not reasons:
        return projection
    sentence = f"{projection.describe_setting()} is projected to cost " + "; ".join(reasons) + "."
    return replace(projection, confirmation=sentence)
