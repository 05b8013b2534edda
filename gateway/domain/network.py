"""Is this cluster's network OVN-Kubernetes (flow export is an OVN-K feature, on OVS br-int), and is
flow export already managed by OpenShift's Cluster Network Operator?"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.domain.errors import UnsupportedNetwork
from gateway.domain.model import OVN_KUBERNETES, FlowType, NodeInfo, OperatorExport


@dataclass(frozen=True)
class NetworkSupport:
    network_type: str | None
    supported: bool

    @property
    def reason(self) -> str | None:
        """The sentence users see when starting on a network that cannot export flows (None
        where it can): the same one a start fails with, so every screen says it alike."""
        if self.supported:
            return None
        if self.network_type:
            return f"{self.network_type} does not support flows tracing."
        return (
            "This cluster's network type could not be determined (no Network/cluster object and no "
            "OVN-Kubernetes node annotations), so flows tracing cannot be started."
        )

    def require(self) -> None:
        if self.reason is not None:
            raise UnsupportedNetwork(self.reason)


def network_support(config_network: Mapping[str, Any] | None, nodes: Iterable[NodeInfo]) -> NetworkSupport:
    """OpenShift states the type in networks.config.openshift.io/cluster (status first, spec as
    fallback); on plain Kubernetes OVN-K is recognised by its k8s.ovn.org/ node annotations."""
    if config_network:
        network_type = (config_network.get("status") or {}).get("networkType") or (
            config_network.get("spec") or {}
        ).get("networkType")
        if network_type:
            return NetworkSupport(str(network_type), network_type == OVN_KUBERNETES)
    if any(node.ovn_kubernetes for node in nodes):
        return NetworkSupport(OVN_KUBERNETES, True)
    return NetworkSupport(None, False)


_OPERATOR_TYPES = (("netFlow", FlowType.NETFLOW), ("ipfix", FlowType.IPFIX), ("sFlow", FlowType.SFLOW))


def operator_export(operator_network: Mapping[str, Any] | None) -> OperatorExport | None:
    """The Cluster Network Operator's flow export from networks.operator.openshift.io/cluster, or
    None when its spec.exportNetworkFlows is unset (or the kind does not exist: not OpenShift).
    Any value, even one naming no exporter, means ovnkube-node owns br-int's exporters."""
    if not operator_network:
        return None
    flows = (operator_network.get("spec") or {}).get("exportNetworkFlows")
    if flows is None:
        return None
    exporters = []
    for key, flow_type in _OPERATOR_TYPES:
        entry = flows.get(key) if isinstance(flows, Mapping) else None
        if entry is not None:
            collectors = tuple(str(c) for c in (entry.get("collectors") or []) if c)
            exporters.append((flow_type, collectors))
    return OperatorExport(tuple(exporters))
