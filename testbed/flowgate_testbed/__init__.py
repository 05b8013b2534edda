"""A real local cluster to build and test flowgate on: etcd + kube-apiserver with flowgate's and
OpenShift's CRDs, seeded nodes, and (optionally) one real Open vSwitch data plane per node with a
goflow2 collector. `Testbed` is the Python API; `flowgate-testbed up|down|demo` wrap it."""

from flowgate_testbed.errors import TestbedError
from flowgate_testbed.testbed import NETWORK_TYPES, USERS, Testbed

__all__ = ["NETWORK_TYPES", "USERS", "Testbed", "TestbedError"]
