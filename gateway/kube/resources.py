"""The Kubernetes resource kinds flowgate reads and writes."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.domain import model


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, name: str | None = None, namespace: str | None = None, subresource: str | None = None) -> str:
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        parts = [prefix]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name:
            parts.append(name)
            if subresource:
                parts.append(subresource)
        return "/".join(parts)

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


FLOW_EXPORTS = Resource(model.GROUP, model.VERSION, model.FLOW_EXPORT_PLURAL, model.FLOW_EXPORT_KIND)
FLOWS = Resource(model.GROUP, model.VERSION, model.FLOW_PLURAL, model.FLOW_KIND)
NODES = Resource("", "v1", "nodes", "Node")
SERVICES = Resource("", "v1", "services", "Service", namespaced=True)
ENDPOINT_SLICES = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", namespaced=True)
CONFIG_NETWORKS = Resource("config.openshift.io", "v1", "networks", "Network")
# OpenShift's Cluster Network Operator configuration: spec.exportNetworkFlows means it configures
# flow export on br-int itself.
OPERATOR_NETWORKS = Resource("operator.openshift.io", "v1", "networks", "Network")
EVENTS = Resource("events.k8s.io", "v1", "events", "Event", namespaced=True)
