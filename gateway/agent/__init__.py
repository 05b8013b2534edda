"""The node agent: one per node, beside OVN-Kubernetes. It discovers the node-local collector,
drives OVS br-int the way OVN-Kubernetes does, and reports what it observed in Flow/<node>."""
