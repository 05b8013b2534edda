"""Derive what users see (NodeFlowStatus, FlowsState) from desired and observed state."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from gateway.domain.cost_projection import CostFigures, node_cost
from gateway.domain.export_cost import ExportCostError
from gateway.domain.model import (
    Delivery,
    FlowExport,
    FlowReport,
    FlowsState,
    FlowsSummary,
    NodeFlowState,
    NodeFlowStatus,
    OperatorExport,
    TrafficRange,
)
from gateway.domain.network import NetworkSupport

WAITING_FOR_AGENT = "waiting for the node agent to apply generation {generation}"
STOP_NOT_CONFIRMED = "stopped; the node agent has not yet confirmed generation {generation}"


def node_flow_status(node: str, export: FlowExport | None, report: FlowReport | None) -> NodeFlowStatus:
    """A node is PENDING while export is enabled and its agent has not observed the current
    generation (no Flow yet, or an older observedGeneration); once it has, the agent's own
    report is the truth. When export is stopped every node is DISABLED, with a note while the
    agent has not yet confirmed."""
    # The node's traffic is shown in every state: it is what a start would cost.
    traffic = report.traffic if report is not None else None
    rate = traffic.packets_per_second if traffic else None
    measured_at = traffic.measured_at if traffic else None
    if export is None or not export.spec.enabled:
        generation = export.generation if export else 0
        unconfirmed = (
            report is not None
            and report.state is not NodeFlowState.DISABLED
            and report.observed_generation < generation
        )
        return NodeFlowStatus(
            node=node,
            state=NodeFlowState.DISABLED,
            message=STOP_NOT_CONFIRMED.format(generation=generation) if unconfirmed else None,
            updated_at=report.last_transition_time if report else None,
            observed_generation=report.observed_generation if report else None,
            packets_per_second=rate,
            traffic_measured_at=measured_at,
        )
    # What the running setting is projected to cost this node, beside what its collector counts.
    cost, where = _projected(export, rate)
    projected_records = cost.records_per_second if cost else None
    projected_bytes = cost.export_bytes_per_second if cost else None
    if report is None or report.observed_generation < export.generation:
        return NodeFlowStatus(
            node=node,
            state=NodeFlowState.PENDING,
            type=export.spec.type,
            message=WAITING_FOR_AGENT.format(generation=export.generation),
            updated_at=report.last_transition_time if report else None,
            observed_generation=report.observed_generation if report else None,
            packets_per_second=rate,
            traffic_measured_at=measured_at,
            projected_records_per_second=projected_records,
            projected_export_bytes_per_second=projected_bytes,
            projection_range=where,
        )
    # Delivery is judged only while the node emits: an error or a stop has its own message.
    delivery = report.delivery if report.state is NodeFlowState.EMITTING else None
    return NodeFlowStatus(
        node=node,
        state=report.state,
        type=report.type or export.spec.type,
        endpoint=report.endpoint,
        message=report.message,
        updated_at=report.last_transition_time,
        observed_generation=report.observed_generation,
        delivery=delivery.state if delivery else Delivery.UNKNOWN,
        records_per_second=delivery.records_per_second if delivery else None,
        last_record_at=delivery.last_record_time if delivery else None,
        delivery_since=delivery.last_transition_time if delivery else None,
        delivery_message=delivery.message if delivery else None,
        packets_per_second=rate,
        traffic_measured_at=measured_at,
        projected_records_per_second=projected_records,
        projected_export_bytes_per_second=projected_bytes,
        projection_range=where,
    )


def _projected(export: FlowExport, rate: float | None) -> tuple[CostFigures | None, TrafficRange]:
    """The running setting's projected cost at this rate; none, rather than no status, when the
    shipped table cannot be read (the dry run says why)."""
    try:
        return node_cost(export.spec, rate)
    except ExportCostError:
        return None, TrafficRange.UNKNOWN


def summarize(statuses: Iterable[NodeFlowStatus]) -> FlowsSummary:
    return summary_of(Counter(s.state for s in statuses))


def summary_of(counts: Mapping[NodeFlowState, int]) -> FlowsSummary:
    """The summary from counts of nodes per state (a hub keeps these as nodes change)."""
    return FlowsSummary(
        total=sum(counts.values()),
        disabled=counts[NodeFlowState.DISABLED],
        pending=counts[NodeFlowState.PENDING],
        emitting=counts[NodeFlowState.EMITTING],
        error=counts[NodeFlowState.ERROR],
    )


def flows_state(
    export: FlowExport | None,
    node_names: Iterable[str],
    reports: Mapping[str, FlowReport],
    network: NetworkSupport,
    operator: OperatorExport | None = None,
) -> FlowsState:
    """The whole cluster, one row per Node (sorted by name)."""
    nodes = tuple(node_flow_status(n, export, reports.get(n)) for n in sorted(node_names))
    return cluster_state(export, nodes, network, summarize(nodes), operator)


def cluster_state(
    export: FlowExport | None,
    nodes: tuple[NodeFlowStatus, ...],
    network: NetworkSupport,
    summary: FlowsSummary,
    operator: OperatorExport | None = None,
) -> FlowsState:
    """The cluster-level answer around rows already derived."""
    enabled = export is not None and export.spec.enabled
    return FlowsState(
        enabled=enabled,
        type=export.spec.type if export else None,
        collector=export.spec.collector if export and enabled else None,
        network_type=network.network_type,
        supported=network.supported,
        unsupported_reason=network.reason,
        generation=export.generation if export else 0,
        summary=summary,
        nodes=nodes,
        operator_export=operator,
    )
