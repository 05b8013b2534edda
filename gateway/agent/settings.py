"""Everything `flowgate agent` can be told, each field documented once (the flags come from here)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from gateway.agent.ovs import DEFAULT_BRIDGE, DEFAULT_OVS_RUNDIR, DEFAULT_SFLOW_AGENT
from gateway.settings import SettingsError, duration, setting

NODE_ENV = "NODE_NAME"  # set from the downward API (spec.nodeName) in the DaemonSet


@dataclass(frozen=True)
class AgentSettings:
    node: str | None = setting(
        f"this node's name: the Node object and Flow/<node> (default: ${NODE_ENV})", default=None
    )
    kubeconfig: str | None = setting(
        "kubeconfig to use; without one, as kubectl: $KUBECONFIG, ~/.kube/config, then the pod's service account",
        default=None,
        metavar="PATH",
    )
    bridge: str = setting("OVS bridge to configure", default=DEFAULT_BRIDGE)
    ovs_rundir: str | None = setting(
        f"directory holding OVS's db.sock (default: $OVS_RUNDIR, else {DEFAULT_OVS_RUNDIR})",
        default=None,
        metavar="DIR",
    )
    sflow_agent: str = setting("interface whose address sFlow reports as its agent", default=DEFAULT_SFLOW_AGENT)
    resync: float = setting(
        "reconcile at least this often, repairing OVS drift the OVSDB monitor missed",
        default=30.0,
        parse=duration,
        metavar="DURATION",
    )
    ovs_timeout: float = setting(
        "how long one ovs-vsctl run may take", default=10.0, parse=duration, metavar="DURATION"
    )
    scrape_interval: float = setting(
        "read the collector's counters (and OVS's IPFIX counters) this often, to confirm the node's records arrive",
        default=10.0,
        parse=duration,
        metavar="DURATION",
    )
    traffic_interval: float = setting(
        "read br-int's packet counters this often (export on or off): the node's traffic, from which the cost of "
        "export is projected",
        default=10.0,
        parse=duration,
        metavar="DURATION",
    )
    metrics_address: str | None = setting(
        "serve the agent's own Prometheus metrics (reconciles, repairs, OVS errors, scrapes, the delivery verdict) "
        "on HOST:PORT, :PORT or [IPv6]:PORT; off unless set",
        default=None,
        metavar="ADDRESS",
    )
    log_level: str = setting("how much to log", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))

    @property
    def node_name(self) -> str:
        name = self.node or os.environ.get(NODE_ENV)
        if not name:
            raise SettingsError(f"--node is required (or ${NODE_ENV}): the name of the node this agent runs on.")
        return name
