"""Domain state in the API's own spelling (the GraphQL field names and enum names of
schema.graphql), so `-o json` prints the same document whether `kubectl flows` read the API
server itself or asked a gateway."""

from __future__ import annotations

from typing import Any

from gateway.domain.cost_projection import CostFigures, ExportProjection
from gateway.domain.model import (
    OPERATOR,
    OPERATOR_FIELD,
    CollectorTarget,
    FlowsState,
    NodeChoice,
    NodeFlowStatus,
    OperatorExport,
    format_time,
)

JSON = dict[str, Any]


def node_json(status: NodeFlowStatus) -> JSON:
    return {
        "node": status.node,
        "state": status.state.name,
        "type": status.type.name if status.type else None,
        "endpoint": status.endpoint,
        "message": status.message,
        "updatedAt": status.updated_at,
        "observedGeneration": status.observed_generation,
        "delivery": status.delivery.name,
        "recordsPerSecond": status.records_per_second,
        "lastRecordAt": status.last_record_at,
        "deliverySince": status.delivery_since,
        "deliveryMessage": status.delivery_message,
        "packetsPerSecond": status.packets_per_second,
        "trafficMeasuredAt": status.traffic_measured_at,
        "projectedRecordsPerSecond": status.projected_records_per_second,
        "projectedExportBytesPerSecond": status.projected_export_bytes_per_second,
        "projectionRange": status.projection_range.name if status.projection_range else None,
        "selected": status.selected,
    }


def collector_json(collector: CollectorTarget) -> JSON:
    return {
        "mode": collector.mode,
        "nodePort": collector.node_port,
        "selector": None if collector.selector is None else [{"key": k, "value": v} for k, v in collector.selector],
        "targets": None if collector.targets is None else list(collector.targets),
        "metricsPort": collector.metrics_port,
        "metricsTarget": collector.metrics_target,
        "description": collector.describe(),
    }


def node_choice_json(choice: NodeChoice) -> JSON:
    return {
        "mode": choice.mode,
        "names": None if choice.names is None else list(choice.names),
        "selector": None if choice.labels is None else [{"key": k, "value": v} for k, v in choice.labels],
        "description": choice.describe(),
    }


def operator_json(export: OperatorExport) -> JSON:
    return {
        "manager": OPERATOR,
        "field": OPERATOR_FIELD,
        "exporters": [{"type": t.name, "collectors": list(c)} for t, c in export.exporters],
        "message": export.reason,
    }


def state_json(state: FlowsState) -> JSON:
    s = state.summary
    return {
        "enabled": state.enabled,
        "type": state.type.name if state.type else None,
        "collector": None if state.collector is None else collector_json(state.collector),
        "networkType": state.network_type,
        "supported": state.supported,
        "unsupportedReason": state.unsupported_reason,
        "generation": state.generation,
        "summary": {
            "total": s.total,
            "disabled": s.disabled,
            "pending": s.pending,
            "emitting": s.emitting,
            "error": s.error,
            "selected": s.selected,
        },
        "operatorExport": None if state.operator_export is None else operator_json(state.operator_export),
        "deadline": None if state.deadline is None else format_time(state.deadline),
        "ended": state.ended,
        "nodeChoice": None if state.node_choice is None else node_choice_json(state.node_choice),
        "nodes": [node_json(n) for n in state.nodes],
    }


def cost_json(figures: CostFigures) -> JSON:
    return {
        "cpuPercentOfCore": figures.cpu_percent_of_core,
        "cpuSpread": figures.cpu_spread,
        "memoryMib": figures.memory_mib,
        "exportBytesPerSecond": figures.export_bytes_per_second,
        "recordsPerSecond": figures.records_per_second,
    }


def projection_json(projection: ExportProjection) -> JSON:
    basis = projection.basis
    return {
        "type": projection.type.name,
        "sampling": projection.sampling,
        "activeTimeoutSeconds": projection.active_timeout_seconds,
        "cacheMaxFlows": projection.cache_max_flows,
        "nodes": [
            {
                "node": n.node,
                "packetsPerSecond": n.packets_per_second,
                "trafficMeasuredAt": n.traffic_measured_at,
                "range": n.range.name,
                "cost": None if n.cost is None else cost_json(n.cost),
            }
            for n in projection.nodes
        ],
        "total": cost_json(projection.total),
        "unknownNodes": projection.unknown_nodes,
        "notes": list(projection.notes),
        "basis": {
            "measured": basis.measured,
            "openVSwitch": basis.open_vswitch,
            "datapath": basis.datapath,
            "machine": basis.machine,
            "traffic": basis.traffic,
            "rates": list(basis.rates),
            "description": basis.describe(),
        },
        "confirmation": projection.confirmation,
    }
