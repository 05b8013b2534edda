"""The agent's decisions, free of I/O: what OVS should hold for the current desired state, what
to do about what OVS actually holds, and what (if anything) to write to Flow/<node>."""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gateway.agent.ovs import ExportSettings, desired_settings, matches
from gateway.domain.delivery import DeliveryConfig
from gateway.domain.discovery import resolve_collector
from gateway.domain.model import FlowExport, FlowReport, NodeFlowState, NodeInfo, OperatorExport, parse_time
from gateway.domain.status import ended_message


@dataclass(frozen=True)
class Plan:
    """What the bridge should hold, the report that is true once it does, and what to watch at
    the collector to confirm the records arrive (None while nothing is exported). `hands_off`:
    the bridge is someone else's (the Cluster Network Operator's) and must not be touched at all."""

    settings: ExportSettings | None
    report: FlowReport
    delivery: DeliveryConfig | None = None
    hands_off: bool = False


def plan(
    export: FlowExport | None,
    node: NodeInfo,
    services: Iterable[Mapping[str, Any]],
    endpoint_slices: Iterable[Mapping[str, Any]],
    sflow_agent: str,
    operator: OperatorExport | None = None,
    *,
    now: float | None = None,
) -> Plan:
    """`now`: the API server's time as this agent knows it (deadlines are on its clock)."""
    generation = export.generation if export else 0
    if operator is not None:
        # ovnkube-node configures br-int from spec.exportNetworkFlows and clears it at every start:
        # flowgate neither applies nor repairs anything while that is so.
        report = FlowReport(
            node.name, NodeFlowState.DISABLED, message=operator.node_message, observed_generation=generation
        )
        return Plan(None, report, hands_off=True)
    if export is None or export.spec.type is None:
        return Plan(None, FlowReport(node.name, NodeFlowState.DISABLED, observed_generation=generation))
    spec = export.spec
    chosen = spec.nodes.chooses(node)
    if not chosen or spec.ended(time.time() if now is None else now):
        message = spec.nodes.not_chosen if not chosen else ended_message(spec.deadline or 0)
        report = FlowReport(
            node.name, NodeFlowState.DISABLED, message=message, observed_generation=generation, selected=chosen
        )
        return Plan(None, report)
    resolution = resolve_collector(spec.collector, node, services, endpoint_slices)
    if resolution.error is not None:
        # Without a local collector OVS is cleared rather than left sending into the void: an
        # IPFIX collector that comes back would otherwise wait up to 600 s for templates, and
        # re-creating the exporter later sends them at once.
        report = FlowReport(
            node.name,
            NodeFlowState.ERROR,
            type=spec.type,
            message=resolution.error,
            observed_generation=generation,
            selected=True,
        )
        return Plan(None, report)
    settings = desired_settings(spec, resolution.endpoints, sflow_agent)
    report = FlowReport(
        node.name,
        NodeFlowState.EMITTING,
        type=spec.type,
        endpoint=",".join(resolution.endpoints),
        observed_generation=generation,
        selected=True,
    )
    # The collector sees this node's records come from its InternalIP: OVS sends from the node's
    # own address, to its own address (node-local) or through its default route (static targets).
    delivery = DeliveryConfig.of(spec, resolution.endpoints, node.internal_ip, resolution.metrics)
    return Plan(settings, report, delivery)


class OvsAction(enum.Enum):
    NONE = "none"  # the bridge already holds what is wanted
    APPLY = "apply"  # the wanted state changed (or is not known to have been applied yet)
    REPAIR = "repair"  # the wanted state was applied, and something changed OVS since


def ovs_action(
    desired: ExportSettings | None,
    observed: Sequence[ExportSettings],
    last_applied: ExportSettings | None,
    applied_once: bool,
) -> OvsAction:
    """Compare the bridge with what is wanted. `applied_once` with `last_applied` says what this
    agent last put there, which separates a new wish from drift done behind its back."""
    if matches(observed, desired):
        return OvsAction.NONE
    same_wish = applied_once and (last_applied.normalized() if last_applied else None) == (
        desired.normalized() if desired else None
    )
    return OvsAction.REPAIR if same_wish else OvsAction.APPLY


def ovs_failure(wanted: FlowReport, message: str) -> FlowReport:
    """The report when OVS could not be driven: an error, whatever the plan hoped for."""
    return FlowReport(
        wanted.node,
        NodeFlowState.ERROR,
        type=wanted.type,
        message=message,
        observed_generation=wanted.observed_generation,
        selected=wanted.selected,
    )


def next_report(previous: FlowReport | None, observed: FlowReport, now: str) -> FlowReport | None:
    """The report to write, or None when Flow/<node> already says the same. The transition time
    moves only when the state does, so `kubectl get flows` ages mean something."""
    if observed.same_observation(previous):
        return None
    if previous is not None and previous.state is observed.state and previous.last_transition_time:
        return replace(observed, last_transition_time=previous.last_transition_time)
    return replace(observed, last_transition_time=now)


def status_patch(report: FlowReport) -> dict[str, Any]:
    """A merge patch for the status subresource; explicit nulls clear fields the new state lacks
    (an old error message must not survive into Emitting, nor a delivery verdict into Error)."""
    status: dict[str, Any] = {
        "type": None,
        "endpoint": None,
        "message": None,
        "delivery": None,
        "traffic": None,
        "selected": None,
    }
    status.update(report.to_status())
    return {"status": status}


def export_on_since(since: float | None, report: FlowReport, reported: FlowReport | None, now: float) -> float | None:
    """Since when FlowExport has had this node export (None while it does not): kept across
    settings changes and errors, reset only when the node turns Disabled. An agent that starts on
    a node already exporting takes the time its Flow last changed state, a lower bound (the
    "export left on" alert fires late rather than never)."""
    if report.state is NodeFlowState.DISABLED:
        return None
    if since is not None:
        return since
    if reported is not None and reported.state is not NodeFlowState.DISABLED:
        carried = parse_time(reported.last_transition_time)
        if carried is not None:
            return min(carried, now)
    return now
