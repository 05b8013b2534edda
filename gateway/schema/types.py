"""The GraphQL object types: thin views of the domain's dataclasses, converted at the edge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import strawberry

from gateway.access import SwitchAccess
from gateway.domain import cost_projection, export_cost, model
from gateway.domain.audit import AuditEntry
from gateway.domain.model import NodeFlowState
from gateway.domain.validation import StartRequest
from gateway.service.hub import TableUpdate

# The domain enums are the GraphQL enums: their member names (NETFLOW, EMITTING) are the wire values.
FlowType = strawberry.enum(model.FlowType, name="FlowType")
NodeFlowStateType = strawberry.enum(NodeFlowState, name="NodeFlowState")
DeliveryType = strawberry.enum(
    model.Delivery,
    name="FlowDelivery",
    description="Whether a node's collector receives its flow records.",
)
TrafficRangeType = strawberry.enum(
    model.TrafficRange,
    name="TrafficRange",
    description="Where a node's packet rate lies against the rates the cost table measured.",
)


@strawberry.type
class Label:
    key: str
    value: str


@strawberry.input
class LabelInput:
    key: str
    value: str


@strawberry.type(description="Where a node sends its flow records: exactly one of nodePort, selector or targets.")
class CollectorTarget:
    mode: str = strawberry.field(description="nodePort | selector | targets")
    node_port: int | None = strawberry.field(description="Each node's own InternalIP at this port.")
    selector: list[Label] | None = strawberry.field(
        description="Labels of the NodePort Service to send to, on each node's own InternalIP."
    )
    targets: list[str] | None = strawberry.field(
        description="Static ip:port collector addresses, the same for every node."
    )
    metrics_port: int | None = strawberry.field(
        description="nodePort and selector: the collector's Prometheus metrics on each node's own InternalIP at "
        "this port. Unset: the collector Service's port named `metrics`."
    )
    metrics_target: str | None = strawberry.field(
        description="Static targets: the collector's Prometheus metrics at this ip:port."
    )
    description: str = strawberry.field(description="Human-readable form, e.g. `selector role=flows-collector`.")

    @staticmethod
    def from_domain(target: model.CollectorTarget) -> CollectorTarget:
        return CollectorTarget(
            mode=target.mode,
            node_port=target.node_port,
            selector=None if target.selector is None else [Label(key=k, value=v) for k, v in target.selector],
            targets=None if target.targets is None else list(target.targets),
            metrics_port=target.metrics_port,
            metrics_target=target.metrics_target,
            description=target.describe(),
        )


@strawberry.input(
    description="Choose the collector: give at most one field; none means the Service labelled role=flows-collector."
)
class CollectorInput:
    node_port: int | None = None
    selector: list[LabelInput] | None = None
    targets: list[str] | None = None
    metrics_port: int | None = strawberry.field(
        default=None,
        description="With nodePort or a selector: where each node reads its collector's Prometheus metrics (the "
        "node's own InternalIP at this port), when the collector Service has no port named `metrics`.",
    )
    metrics_target: str | None = strawberry.field(
        default=None, description="With targets: the ip:port of the collector's Prometheus metrics."
    )

    def start_request(
        self,
        flow_type: model.FlowType,
        sampling: int | None,
        active_timeout_seconds: int | None,
        cache_max_flows: int | None,
        choice: NodeChoiceArguments | None = None,
    ) -> StartRequest:
        return StartRequest(
            type=flow_type,
            node_port=self.node_port,
            selector=None if self.selector is None else [(label.key, label.value) for label in self.selector],
            targets=self.targets,
            metrics_port=self.metrics_port,
            metrics_target=self.metrics_target,
            sampling=sampling,
            active_timeout_seconds=active_timeout_seconds,
            cache_max_flows=cache_max_flows,
            **(choice or NodeChoiceArguments()).request_fields(),
        )


@dataclass(frozen=True)
class NodeChoiceArguments:
    """startFlows' arguments about where and for how long, as given."""

    duration_seconds: int | None = None
    nodes: list[str] | None = None
    node_selector: list[LabelInput] | None = None
    ignore_unknown_nodes: bool = False

    def request_fields(self) -> dict[str, Any]:
        return {
            "duration_seconds": self.duration_seconds,
            "nodes": self.nodes,
            "node_selector": None
            if self.node_selector is None
            else [(label.key, label.value) for label in self.node_selector],
            "ignore_unknown_nodes": self.ignore_unknown_nodes,
        }


@strawberry.type(description="Which nodes export: every node, the nodes named, or the nodes carrying labels.")
class NodeChoice:
    mode: str = strawberry.field(description="all | names | selector")
    names: list[str] | None = strawberry.field(description="The nodes named (mode names).")
    selector: list[Label] | None = strawberry.field(
        description="The labels a node must carry, as it carries them now (mode selector)."
    )
    description: str = strawberry.field(description="Human-readable form, e.g. `nodes labelled zone=a`.")

    @staticmethod
    def from_domain(choice: model.NodeChoice) -> NodeChoice:
        return NodeChoice(
            mode=choice.mode,
            names=None if choice.names is None else list(choice.names),
            selector=None if choice.labels is None else [Label(key=k, value=v) for k, v in choice.labels],
            description=choice.describe(),
        )


@strawberry.type(description="One node's flow export state.")
class NodeFlowStatus:
    node: str
    state: NodeFlowState
    type: model.FlowType | None
    endpoint: str | None
    message: str | None
    updated_at: str | None = strawberry.field(description="When the node's state last changed (RFC 3339).")
    observed_generation: int | None
    delivery: model.Delivery = strawberry.field(
        description="Whether the collector receives this node's records, from the collector's own counters for the "
        "node's address: CONFIRMED (records counted since the current settings), WAITING (none yet, within the "
        "time the active timeout and sampling allow for a first record), NOT_RECEIVED (none for longer: see "
        "deliveryMessage), UNKNOWN (no collector metrics to read, or the node is not emitting)."
    )
    records_per_second: float | None = strawberry.field(
        description="Records a second the collector counted from this node, averaged over ten scrapes or four "
        "active timeouts (NetFlow, IPFIX), the longer. Refreshed when it moves by half, and every 5 minutes."
    )
    last_record_at: str | None = strawberry.field(
        description="When the agent last saw the collector's count for this node grow (RFC 3339; within one "
        "scrape interval of the record, refreshed at least every 5 minutes while records arrive)."
    )
    delivery_since: str | None = strawberry.field(description="When `delivery` last changed (RFC 3339).")
    delivery_message: str | None = strawberry.field(
        description="Why delivery is WAITING, NOT_RECEIVED (with the likely causes) or UNKNOWN, as a sentence."
    )
    packets_per_second: float | None = strawberry.field(
        description="Packets a second entering the node's OVS bridge br-int, as its agent measures them whether "
        "export is on or off (its ports' received packets over a minute): the traffic export's cost follows. "
        "Rewritten when it moves by half, at most once a minute; null until the agent has measured it."
    )
    traffic_measured_at: str | None = strawberry.field(description="When packetsPerSecond was measured (RFC 3339).")
    projected_records_per_second: float | None = strawberry.field(
        description="While export is on: the records a second the running setting is projected to send from this "
        "node at packetsPerSecond (exportProjection tells how), beside what its collector counts (recordsPerSecond)."
    )
    projected_export_bytes_per_second: float | None = strawberry.field(
        description="While export is on: the export bytes a second projected the same way."
    )
    projection_range: model.TrafficRange | None = strawberry.field(
        description="While export is on: where packetsPerSecond lies against the measured rates (UNKNOWN: no "
        "traffic reported, no projection)."
    )
    selected: bool = strawberry.field(
        description="Whether the running export chose this node (by name or by its labels now); every node when it "
        "chose none. Unselected nodes are DISABLED, their message saying why."
    )

    @staticmethod
    def from_domain(status: model.NodeFlowStatus) -> NodeFlowStatus:
        return NodeFlowStatus(
            node=status.node,
            state=status.state,
            type=status.type,
            endpoint=status.endpoint,
            message=status.message,
            updated_at=status.updated_at,
            observed_generation=status.observed_generation,
            delivery=status.delivery,
            records_per_second=status.records_per_second,
            last_record_at=status.last_record_at,
            delivery_since=status.delivery_since,
            delivery_message=status.delivery_message,
            packets_per_second=status.packets_per_second,
            traffic_measured_at=status.traffic_measured_at,
            projected_records_per_second=status.projected_records_per_second,
            projected_export_bytes_per_second=status.projected_export_bytes_per_second,
            projection_range=status.projection_range,
            selected=status.selected,
        )


@strawberry.type(description="One exporter the Cluster Network Operator configures.")
class OperatorExporter:
    type: model.FlowType
    collectors: list[str] = strawberry.field(description="ip:port addresses, as spec.exportNetworkFlows lists them.")


@strawberry.type(
    description="Flow export managed by OpenShift's Cluster Network Operator (networks.operator.openshift.io/"
    "cluster spec.exportNetworkFlows): ovnkube-node configures br-int from it, and flowgate leaves it alone."
)
class OperatorExport:
    manager: str = strawberry.field(description="Cluster Network Operator.")
    field: str = strawberry.field(description="The field that decides it: spec.exportNetworkFlows.")
    exporters: list[OperatorExporter]
    message: str = strawberry.field(description="The sentence a start fails with while it is set.")

    @staticmethod
    def from_domain(export: model.OperatorExport) -> OperatorExport:
        return OperatorExport(
            manager=model.OPERATOR,
            field=model.OPERATOR_FIELD,
            exporters=[OperatorExporter(type=t, collectors=list(c)) for t, c in export.exporters],
            message=export.reason,
        )


@strawberry.type
class FlowsSummary:
    total: int
    disabled: int
    pending: int
    emitting: int
    error: int
    selected: int = strawberry.field(description="Nodes the export chose (every node when it chose none).")


@strawberry.type(
    description="The cluster's flow export: what was asked, whether the network supports it, and every node."
)
class FlowsState:
    enabled: bool = strawberry.field(description="Export runs now: started, and its deadline (if any) not reached.")
    type: model.FlowType | None
    collector: CollectorTarget | None
    network_type: str | None
    supported: bool
    unsupported_reason: str | None = strawberry.field(
        description="Why flow export cannot be started on this cluster, as the sentence a start fails with; "
        "null when it can."
    )
    generation: int = strawberry.field(
        description="FlowExport generation; nodes that have not observed it are PENDING."
    )
    summary: FlowsSummary
    operator_export: OperatorExport | None = strawberry.field(
        description="Set when the Cluster Network Operator manages flow export (startFlows then fails with "
        "CONFLICT); null when flowgate does."
    )
    deadline: str | None = strawberry.field(
        description="When every node stops exporting by itself (RFC 3339, the API server's clock), also after it "
        "passed (see `ended`); null when export runs until stopped, or is stopped."
    )
    ended: bool = strawberry.field(
        description="The deadline has passed: each node stopped by itself. `type`, `collector` and `deadline` still "
        "say what ran, `enabled` is false."
    )
    node_choice: NodeChoice | None = strawberry.field(description="Which nodes export (null when export is stopped).")
    domain_nodes: strawberry.Private[tuple[model.NodeFlowStatus, ...]]

    @strawberry.field(description="Every node, sorted by name.")
    def nodes(self) -> list[NodeFlowStatus]:
        # Converted only when asked for: the table subscription's messages carry the cluster's
        # state, and most readers select its summary without the rows.
        return [NodeFlowStatus.from_domain(n) for n in self.domain_nodes]

    @staticmethod
    def from_domain(state: model.FlowsState) -> FlowsState:
        s = state.summary
        return FlowsState(
            enabled=state.enabled,
            type=state.type,
            collector=None if state.collector is None else CollectorTarget.from_domain(state.collector),
            network_type=state.network_type,
            supported=state.supported,
            unsupported_reason=state.unsupported_reason,
            generation=state.generation,
            summary=FlowsSummary(
                total=s.total,
                disabled=s.disabled,
                pending=s.pending,
                emitting=s.emitting,
                error=s.error,
                selected=s.selected,
            ),
            operator_export=None
            if state.operator_export is None
            else OperatorExport.from_domain(state.operator_export),
            deadline=None if state.deadline is None else model.format_time(state.deadline),
            ended=state.ended,
            node_choice=None if state.node_choice is None else NodeChoice.from_domain(state.node_choice),
            domain_nodes=state.nodes,
        )


@strawberry.type(
    description="An Event about flow export: a start, switch or stop (on FlowExport/cluster, naming who made "
    "it) or a node turning to Error (on its Flow)."
)
class FlowEvent:
    time: str = strawberry.field(description="When it last happened (RFC 3339).")
    type: str = strawberry.field(description="Normal or Warning.")
    reason: str = strawberry.field(description="FlowExportStarted, FlowExportSwitched, …, ExportFailed.")
    regarding: str = strawberry.field(description="What it is about: FlowExport/cluster or Flow/<node>.")
    note: str = strawberry.field(description="What happened, as a sentence.")
    count: int = strawberry.field(description="How often it happened (a repeating error is one Event).")
    user: str | None = strawberry.field(
        description="Who made the change, as the API server knows them (starts, switches and stops)."
    )

    @staticmethod
    def from_domain(entry: AuditEntry) -> FlowEvent:
        return FlowEvent(
            time=entry.time,
            type=entry.type,
            reason=entry.reason,
            regarding=entry.regarding,
            note=entry.note,
            count=entry.count,
            user=entry.user,
        )


@strawberry.type(description="Who is asking, and whether they may switch flow export.")
class Viewer:
    user: str | None = strawberry.field(
        description="The caller as the API server knows them; null when the gateway runs without authentication."
    )
    can_switch: bool = strawberry.field(description="Whether the caller may start, switch and stop flow export.")
    reason: str | None = strawberry.field(description="Why not, as a sentence, when canSwitch is false.")

    @staticmethod
    def from_domain(access: SwitchAccess) -> Viewer:
        return Viewer(user=access.user, can_switch=access.can_switch, reason=access.reason)


@strawberry.type(
    description="One message of the flowsTable subscription: the first holds every node, later ones what "
    "changed since the one before."
)
class FlowsTableUpdate:
    snapshot: bool = strawberry.field(
        description="True on the first message: `changed` then holds every node and replaces the table."
    )
    state: FlowsState = strawberry.field(
        description="The cluster as of this message (select it without `nodes`: the rows are in `changed`)."
    )
    changed: list[NodeFlowStatus] = strawberry.field(description="Nodes added or changed since the last message.")
    removed: list[str] = strawberry.field(description="Names of nodes that no longer exist.")

    @staticmethod
    def from_domain(update: TableUpdate) -> FlowsTableUpdate:
        return FlowsTableUpdate(
            snapshot=update.snapshot,
            state=FlowsState.from_domain(update.state),
            changed=[NodeFlowStatus.from_domain(n) for n in update.changed],
            removed=list(update.removed),
        )


@strawberry.type(
    description="What one export setting costs a node at one packet rate, as the benchmark measured it on "
    "Open vSwitch (the traffic is described by ExportCostTable.traffic)."
)
class ExportCost:
    type: model.FlowType
    sampling: int | None = strawberry.field(description="1 in N packets; null for NetFlow, which OVS cannot sample.")
    is_default: bool = strawberry.field(description="The sampling a start without one gets.")
    packets_per_second: int = strawberry.field(description="Packets per second the node forwarded between pods.")
    cpu_percent_of_core: float = strawberry.field(
        description="ovs-vswitchd CPU over export disabled, % of one core (0 when within the spread)."
    )
    cpu_spread: float = strawberry.field(description="The standard deviation of cpuPercentOfCore over the windows.")
    memory_mib: float = strawberry.field(description="ovs-vswitchd resident memory over export disabled, MiB.")
    export_bytes_per_second: float = strawberry.field(description="Flow-export payload arriving at the collector.")
    export_datagrams_per_second: float
    records_per_second: float = strawberry.field(description="Flow records (samples, for sFlow) per second.")
    forwarding_change_percent: float = strawberry.field(
        description="The pods' forwarding rate against export disabled, in %."
    )

    @staticmethod
    def from_domain(cost: export_cost.ExportCost) -> ExportCost:
        return ExportCost(
            type=cost.type,
            sampling=cost.sampling,
            is_default=cost.is_default,
            packets_per_second=cost.packets_per_second,
            cpu_percent_of_core=cost.cpu_percent_of_core,
            cpu_spread=cost.cpu_spread,
            memory_mib=cost.memory_mib,
            export_bytes_per_second=cost.export_bytes_per_second,
            export_datagrams_per_second=cost.export_datagrams_per_second,
            records_per_second=cost.records_per_second,
            forwarding_change_percent=cost.forwarding_change_percent,
        )


@strawberry.type(description="The measured cost of flow export per node, shipped with this version of flowgate.")
class ExportCostTable:
    measured: str = strawberry.field(description="When the benchmark ran, e.g. `2026-11-29 14:02 UTC`.")
    commit: str
    machine: str
    open_vswitch: str = strawberry.field(name="openVSwitch")
    active_timeout_seconds: int
    traffic: str = strawberry.field(description="What the node forwarded while measured, in a sentence.")
    rates: list[int] = strawberry.field(description="The packet rates measured, ascending.")
    estimates: list[ExportCost]

    @staticmethod
    def from_domain(table: export_cost.ExportCostTable) -> ExportCostTable:
        return ExportCostTable(
            measured=table.measured,
            commit=table.commit,
            machine=table.machine,
            open_vswitch=table.open_vswitch,
            active_timeout_seconds=table.active_timeout_seconds,
            traffic=table.traffic,
            rates=list(table.rates),
            estimates=[ExportCost.from_domain(e) for e in table.estimates],
        )


@strawberry.type(description="What export costs one node, or all of them, over export disabled.")
class CostFigures:
    cpu_percent_of_core: float = strawberry.field(description="ovs-vswitchd CPU, % of one core.")
    cpu_spread: float = strawberry.field(description="± cpuPercentOfCore, as the measurements spread.")
    memory_mib: float = strawberry.field(description="ovs-vswitchd resident memory, MiB.")
    export_bytes_per_second: float = strawberry.field(description="Flow-export payload arriving at the collector.")
    records_per_second: float = strawberry.field(
        description="Flow records (sFlow: flow samples) arriving at the collector; the delivery figures count the same."
    )

    @staticmethod
    def from_domain(figures: cost_projection.CostFigures) -> CostFigures:
        return CostFigures(
            cpu_percent_of_core=figures.cpu_percent_of_core,
            cpu_spread=figures.cpu_spread,
            memory_mib=figures.memory_mib,
            export_bytes_per_second=figures.export_bytes_per_second,
            records_per_second=figures.records_per_second,
        )


@strawberry.type(description="One node's projected cost, at the traffic it carries now.")
class NodeCostProjection:
    node: str
    packets_per_second: float | None = strawberry.field(
        description="Packets a second entering the node's br-int, as its agent last reported them."
    )
    traffic_measured_at: str | None = strawberry.field(description="When that rate was measured (RFC 3339).")
    range: model.TrafficRange = strawberry.field(
        description="MEASURED: interpolated between measured rates; BELOW or ABOVE the measured rates: scaled in "
        "proportion to the rate from the nearest measured one; UNKNOWN: no traffic reported, no projection."
    )
    cost: CostFigures | None = strawberry.field(description="Null when the node's traffic is unknown.")

    @staticmethod
    def from_domain(node: cost_projection.NodeProjection) -> NodeCostProjection:
        return NodeCostProjection(
            node=node.node,
            packets_per_second=node.packets_per_second,
            traffic_measured_at=node.traffic_measured_at,
            range=node.range,
            cost=None if node.cost is None else CostFigures.from_domain(node.cost),
        )


@strawberry.type(description="What a projection stands on: the cost table flowgate ships, and where it was measured.")
class ProjectionBasis:
    measured: str = strawberry.field(description="When the benchmark measured the table, e.g. `2026-11-29 12:53 UTC`.")
    open_vswitch: str = strawberry.field(name="openVSwitch", description="The Open vSwitch version measured.")
    datapath: str = strawberry.field(description="The datapath measured: Open vSwitch's userspace datapath.")
    machine: str
    traffic: str = strawberry.field(description="What the node forwarded while measured, in a sentence.")
    rates: list[int] = strawberry.field(description="The packet rates measured, ascending.")
    description: str = strawberry.field(description="All of it in a phrase, to show beside any projected figure.")

    @staticmethod
    def from_domain(basis: cost_projection.ProjectionBasis) -> ProjectionBasis:
        return ProjectionBasis(
            measured=basis.measured,
            open_vswitch=basis.open_vswitch,
            datapath=basis.datapath,
            machine=basis.machine,
            traffic=basis.traffic,
            rates=list(basis.rates),
            description=basis.describe(),
        )


@strawberry.type(
    description="What starting (or switching to) an export setting would cost each node at the traffic it carries "
    "now, and all of them together; nothing is changed by asking."
)
class ExportProjection:
    type: model.FlowType
    sampling: int | None = strawberry.field(description="1 in N, as OVS would run it (defaults filled in).")
    active_timeout_seconds: int | None = strawberry.field(description="As OVS would run it; null for sFlow.")
    cache_max_flows: int | None
    nodes: list[NodeCostProjection] = strawberry.field(description="Every node, sorted by name.")
    total: CostFigures = strawberry.field(description="The sum over the nodes whose traffic is known.")
    unknown_nodes: int = strawberry.field(description="Nodes left out of the total: no traffic reported.")
    notes: list[str] = strawberry.field(
        description="Sentences qualifying the figures: nodes outside the measured rates, a sampling not measured, "
        "what NetFlow's cost follows."
    )
    basis: ProjectionBasis
    confirmation: str | None = strawberry.field(
        description="Why switching to this setting should be confirmed (a projected total passes a threshold), as a "
        "sentence with the totals; null when it need not be."
    )

    @staticmethod
    def from_domain(projection: cost_projection.ExportProjection) -> ExportProjection:
        return ExportProjection(
            type=projection.type,
            sampling=projection.sampling,
            active_timeout_seconds=projection.active_timeout_seconds,
            cache_max_flows=projection.cache_max_flows,
            nodes=[NodeCostProjection.from_domain(n) for n in projection.nodes],
            total=CostFigures.from_domain(projection.total),
            unknown_nodes=projection.unknown_nodes,
            notes=list(projection.notes),
            basis=ProjectionBasis.from_domain(projection.basis),
            confirmation=projection.confirmation,
        )
