"""Derive what users see (NodeFlowStatus, FlowsState) from desired and observed state."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace

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
    NodeInfo,
    OperatorExport,
    TrafficRange,
    format_time,
)
from gateway.domain.network import NetworkSupport

WAITING_FOR_AGENT = "waiting for the node agent to apply generation {generation}"
STOP_NOT_CONFIRMED = "stopped; the node agent has not yet confirmed generation {generation}"
WAITING_FOR_LABELS = "waiting for the node agent to act on the node's labels: it now belongs to {choice}"


def ended_message(deadline: float) -> str:
    """What a node reports once export reached its deadline."""
    return f"export ended at its deadline, {format_time(deadline)}"


def not_confirmed(reason: str) -> str:
    return f"{reason}; the node agent has not yet confirmed"


def node_flow_status(
    node: str | NodeInfo, export: FlowExport | None, report: FlowReport | None, *, now: float | None = None
) -> NodeFlowStatus:
    """A node is PENDING while export runs for it and its agent has not observed the current
    generation (no Flow yet, or an older observedGeneration); once it has, the agent's own
    report is the truth. When export is stopped, has reached its deadline or has not chosen this
    node, the node is DISABLED, with a note while its agent has not yet confirmed.

    `now` is the API server's time (the deadline is on its clock); a node given by name only
    is chosen by name alone (no labels known)."""
    # The node's traffic is shown in every state: it is what a start would cost.
    traffic = report.traffic if report is not None else None
    rate = traffic.packets_per_second if traffic else None
    measured_at = traffic.measured_at if traffic else None
    info = node if isinstance(node, NodeInfo) else NodeInfo(node)
    name = info.name
    spec = export.spec if export else None
    generation = export.generation if export else 0
    seen = report is not None and report.observed_generation >= generation
    updated_at = report.last_transition_time if report else None
    observed = report.observed_generation if report else None
    if spec is None or not spec.enabled:
        unconfirmed = report is not None and report.state is not NodeFlowState.DISABLED and not seen
        return NodeFlowStatus(
            node=name,
            state=NodeFlowState.DISABLED,
            message=STOP_NOT_CONFIRMED.format(generation=generation) if unconfirmed else None,
            updated_at=updated_at,
            observed_generation=observed,
            packets_per_second=rate,
            traffic_measured_at=measured_at,
        )
    chosen = spec.nodes.chooses(info)
    now = time.time() if now is None else now
    if spec.ended(now) or not chosen:
        assert spec.deadline is not None or not chosen
        reason = spec.nodes.not_chosen if not chosen else ended_message(spec.deadline or 0)
        confirmed = report is not None and seen and report.state is NodeFlowState.DISABLED
        return NodeFlowStatus(
            node=name,
            state=NodeFlowState.DISABLED,  # and no type: nothing is exported there
            message=(report.message or reason) if confirmed and report else not_confirmed(reason),
            updated_at=updated_at,
            observed_generation=observed,
            selected=chosen,
            packets_per_second=rate,
            traffic_measured_at=measured_at,
        )
    # What the running setting is projected to cost this node, beside what its collector counts.
    assert export is not None
    cost, where = _projected(export, rate)
    if report is None or not seen or report.selected is False:
        # Not seen: the agent has not acted on this generation. Not selected by its own word: a
        # label the node gained since its agent last wrote (labels move no generation).
        waiting = WAITING_FOR_AGENT.format(generation=generation) if not seen else None
        status = NodeFlowStatus(
            node=name,
            state=NodeFlowState.PENDING,
            type=spec.type,
            message=waiting or WAITING_FOR_LABELS.format(choice=spec.nodes.describe()),
            updated_at=updated_at,
            observed_generation=observed,
        )
    else:
        # Delivery is judged only while the node emits: an error or a stop has its own message.
        delivery = report.delivery if report.state is NodeFlowState.EMITTING else None
        status = NodeFlowStatus(
            node=name,
            state=report.state,
            type=report.type or spec.type,
            endpoint=report.endpoint,
            message=report.message,
            updated_at=report.last_transition_time,
            observed_generation=report.observed_generation,
            delivery=delivery.state if delivery else Delivery.UNKNOWN,
            records_per_second=delivery.records_per_second if delivery else None,
            last_record_at=delivery.last_record_time if delivery else None,
            delivery_since=delivery.last_transition_time if delivery else None,
            delivery_message=delivery.message if delivery else None,
        )
    return replace(
        status,
        packets_per_second=rate,
        traffic_measured_at=measured_at,
        projected_records_per_second=cost.records_per_second if cost else None,
        projected_export_bytes_per_second=cost.export_bytes_per_second if cost else None,
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
    statuses = list(statuses)
    return summary_of(Counter(s.state for s in statuses), sum(s.selected for s in statuses))


def summary_of(counts: Mapping[NodeFlowState, int], selected: int) -> FlowsSummary:
    """The summary from counts of nodes per state and of chosen nodes (a hub keeps these as nodes
    change)."""
    return FlowsSummary(
        total=sum(counts.values()),
        disabled=counts[NodeFlowState.DISABLED],
        pending=counts[NodeFlowState.PENDING],
        emitting=counts[NodeFlowState.EMITTING],
        error=counts[NodeFlowState.ERROR],
        selected=selected,
    )


def flows_state(
    export: FlowExport | None,
    nodes: Iterable[NodeInfo | str],
    reports: Mapping[str, FlowReport],
    network: NetworkSupport,
    operator: OperatorExport | None = None,
    *,
    now: float | None = None,
) -> FlowsState:
    """The whole cluster, one row per Node (sorted by name). `now`: the API server's time."""
    now = time.time() if now is None else now
    infos = sorted((n if isinstance(n, NodeInfo) else NodeInfo(n) for n in nodes), key=lambda n: n.name)
    rows = tuple(node_flow_status(n, export, reports.get(n.name), now=now) for n in infos)
    return cluster_state(export, rows, network, summarize(rows), operator, now=now)


def cluster_state(
    export: FlowExport | None,
    nodes: tuple[NodeFlowStatus, ...],
    network: NetworkSupport,
    summary: FlowsSummary,
    operator: OperatorExport | None = None,
    *,
    now: float | None = None,
) -> FlowsState:
    """The cluster-level answer around rows already derived. `enabled` says export runs now: a
    start whose deadline has passed is `ended`, its type and deadline still shown."""
    spec = export.spec if export else None
    asked = spec is not None and spec.enabled
    ended = spec is not None and spec.ended(time.time() if now is None else now)
    return FlowsState(
        enabled=asked and not ended,
        type=spec.type if spec else None,
        collector=spec.collector if spec and asked else None,
        network_type=network.network_type,
        supported=network.supported,
        unsupported_reason=network.reason,
        generation=export.generation if export else 0,
        summary=summary,
        nodes=nodes,
        operator_export=operator,
        deadline=spec.deadline if spec and asked else None,
        ended=ended,
        node_choice=spec.nodes if spec and asked else None,
    )
