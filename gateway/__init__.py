"""flowgate: switch network-flow export on OVN-Kubernetes clusters and watch every node's export state."""

__version__ = "0.1.0"
