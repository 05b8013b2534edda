"""Domain state in the API's own spelling (the GraphQL field names and enum names of
schema.graphql), so `-o json` prints the same document whether `kubectl flows` read the API
server itself or asked a gateway."""

from __future__ import annotations

from typing import Any

from gateway.domain.model import OPERATOR, OPERATOR_FIELD, CollectorTarget, FlowsState, NodeFlowStatus, OperatorExport

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
        },
        "operatorExport": None if state.operator_export is None else operator_json(state.operator_export),
        "nodes": [node_json(n) for n in state.nodes],
    }
