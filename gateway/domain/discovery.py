"""Find the collector a node should send to. nodePort and selector targets resolve to the node's
own InternalIP, and only when a ready collector endpoint runs on that very node: flow records
then never cross the network (the seed's node-local rule). The collector's own counters are found
the same node-local way: the Service's port named `metrics`, on the node's InternalIP."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.domain.model import CollectorTarget, NodeInfo

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
METRICS_PORT_NAME = "metrics"  # the collector Service's port serving its Prometheus metrics


# Collector Services publish node ports (NodePort or LoadBalancer): the API server leaves out the
# ClusterIP Services, most of any cluster's.
COLLECTOR_SERVICE_FIELDS = "spec.type!=ClusterIP"


@dataclass(frozen=True)
class WatchScope:
    """What of one kind a node agent needs the API server to send it: the selectors of its watch."""

    label_selector: str | None = None
    field_selector: str | None = None


@dataclass(frozen=True)
class CollectorResolution:
    """Either the endpoints to configure, or the sentence explaining why there are none."""

    endpoints: tuple[str, ...] = ()
    error: str | None = None
    metrics: str | None = None  # host:port of the collector's Prometheus metrics, when known


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def _node_ports(service: Mapping[str, Any]) -> list[int]:
    """The Service's node ports for flow records, UDP ones first: flow records travel over UDP,
    and a collector Service may also publish a TCP port (its metrics, named `metrics`)."""
    spec = service.get("spec") or {}
    if spec.get("type") not in ("NodePort", "LoadBalancer"):
        return []
    ports = [p for p in spec.get("ports") or [] if p.get("nodePort") and p.get("name") != METRICS_PORT_NAME]
    ports.sort(key=lambda p: (p.get("protocol") or "TCP") != "UDP")
    return [int(p["nodePort"]) for p in ports]


def _metrics_node_port(service: Mapping[str, Any]) -> int | None:
    for port in (service.get("spec") or {}).get("ports") or []:
        if port.get("name") == METRICS_PORT_NAME and port.get("nodePort"):
            return int(port["nodePort"])
    return None


def _metrics(collector: CollectorTarget, host: str, service: Mapping[str, Any]) -> str | None:
    """Where the node-local collector's counters are: an explicit metricsPort, else the Service's
    `metrics` node port, both on the node's own address."""
    port = collector.metrics_port if collector.metrics_port is not None else _metrics_node_port(service)
    return f"{host}:{port}" if port is not None else None


def _has_local_endpoint(service: Mapping[str, Any], node: str, slices: Iterable[Mapping[str, Any]]) -> bool:
    meta = service.get("metadata") or {}
    for endpoint_slice in slices:
        slice_meta = endpoint_slice.get("metadata") or {}
        if slice_meta.get("namespace") != meta.get("namespace"):
            continue
        if (slice_meta.get("labels") or {}).get(SERVICE_NAME_LABEL) != meta.get("name"):
            continue
        for endpoint in endpoint_slice.get("endpoints") or []:
            ready = (endpoint.get("conditions") or {}).get("ready")
            if endpoint.get("nodeName") == node and ready is not False:
                return True
    return False


def _sort_key(service: Mapping[str, Any]) -> tuple[str, str]:
    meta = service.get("metadata") or {}
    return (str(meta.get("namespace", "")), str(meta.get("name", "")))


def service_scope(collector: CollectorTarget) -> WatchScope | None:
    """The Services that can be this collector: those carrying its selector's labels, or for a
    node port any that publish node ports; none for static targets."""
    if collector.targets is not None:
        return None
    labels = collector.selector_text if collector.node_port is None else ""
    return WatchScope(label_selector=labels or None, field_selector=COLLECTOR_SERVICE_FIELDS)


def candidate_services(collector: CollectorTarget, services: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The Services that can carry the collector's records, by namespace and name."""
    services = sorted(services, key=_sort_key)
    if collector.targets is not None:
        return []
    if collector.node_port is not None:
        return [s for s in services if collector.node_port in _node_ports(s)]
    wanted = dict(collector.selector or ())
    return [
        s
        for s in services
        if wanted.items() <= ((s.get("metadata") or {}).get("labels") or {}).items() and _node_ports(s)
    ]


def endpoint_slice_scope(collector: CollectorTarget, services: Iterable[Mapping[str, Any]]) -> WatchScope | None:
    """The EndpointSlices that say where those Services' collectors run; none without a candidate."""
    names = sorted({str((s.get("metadata") or {}).get("name")) for s in candidate_services(collector, services)})
    if not names:
        return None
    return WatchScope(label_selector=f"{SERVICE_NAME_LABEL} in ({','.join(names)})")


def resolve_collector(
    collector: CollectorTarget,
    node: NodeInfo,
    services: Iterable[Mapping[str, Any]],
    endpoint_slices: Iterable[Mapping[str, Any]],
) -> CollectorResolution:
    if collector.targets is not None:
        return CollectorResolution(endpoints=collector.targets, metrics=collector.metrics_target)
    if not node.internal_ip:
        return CollectorResolution(error=f"node {node.name} has no InternalIP address to reach its collector on")
    host = _host(node.internal_ip)
    slices = list(endpoint_slices)
    if collector.node_port is not None:
        port = collector.node_port
        exposing = candidate_services(collector, services)
        if not exposing:
            return CollectorResolution(error=f"no Service exposes nodePort {port}")
        local = [s for s in exposing if _has_local_endpoint(s, node.name, slices)]
        if not local:
            return CollectorResolution(error=f"no flows collector on {node.name} behind nodePort {port}")
        return CollectorResolution(endpoints=(f"{host}:{port}",), metrics=_metrics(collector, host, local[0]))
    matching = candidate_services(collector, services)
    if not matching:
        return CollectorResolution(error=f"no Service matches selector {collector.selector_text}")
    for service in matching:
        if _has_local_endpoint(service, node.name, slices):
            port = _node_ports(service)[0]
            return CollectorResolution(endpoints=(f"{host}:{port}",), metrics=_metrics(collector, host, service))
    name = "/".join(_sort_key(matching[0]))
    return CollectorResolution(
        error=f"no flows collector on {node.name} behind Service {name} (selector {collector.selector_text})"
    )
