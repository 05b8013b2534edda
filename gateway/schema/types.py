"""The GraphQL object types: thin views of the domain's dataclasses, converted at the edge."""

from __future__ import annotations

import strawberry

from gateway.access import SwitchAccess
from gateway.domain import export_cost, model
from gateway.domain.model import NodeFlowState
from gateway.domain.validation import StartRequest
from gateway.service.hub import TableUpdate

# The domain enums are the GraphQL enums: their member names (NETFLOW, EMITTING) are the wire values.
FlowType = strawberry.enum(model.FlowType, name="FlowType")
NodeFlowStateType = strawberry.enum(NodeFlowState, name="NodeFlowState")


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
    description: str = strawberry.field(description="Human-readable form, e.g. `selector role=flows-collector`.")

    @staticmethod
    def from_domain(target: model.CollectorTarget) -> CollectorTarget:
        return CollectorTarget(
            mode=target.mode,
            node_port=target.node_port,
            selector=None if target.selector is None else [Label(key=k, value=v) for k, v in target.selector],
            targets=None if target.targets is None else list(target.targets),
            description=target.describe(),
        )


@strawberry.input(
    description="Choose the collector: give at most one field; none means the Service labelled role=flows-collector."
)
class CollectorInput:
    node_port: int | None = None
    selector: list[LabelInput] | None = None
    targets: list[str] | None = None

    def start_request(
        self,
        flow_type: model.FlowType,
        sampling: int | None,
        active_timeout_seconds: int | None,
        cache_max_flows: int | None,
    ) -> StartRequest:
        return StartRequest(
            type=flow_type,
            node_port=self.node_port,
            selector=None if self.selector is None else [(label.key, label.value) for label in self.selector],
            targets=self.targets,
            sampling=sampling,
            active_timeout_seconds=active_timeout_seconds,
            cache_max_flows=cache_max_flows,
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
        )


@strawberry.type
class FlowsSummary:
    total: int
    disabled: int
    pending: int
    emitting: int
    error: int


@strawberry.type(
    description="The cluster's flow export: what was asked, whether the network supports it, and every node."
)
class FlowsState:
    enabled: bool
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
                total=s.total, disabled=s.disabled, pending=s.pending, emitting=s.emitting, error=s.error
            ),
            domain_nodes=state.nodes,
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
