"""`flowgate agent`: the node agent process (one per node, as a DaemonSet beside ovnkube-node)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import signal
import sys
from typing import Any

from gateway.agent.agent import NodeAgent
from gateway.agent.ovs import DEFAULT_BRIDGE, DEFAULT_SFLOW_AGENT, OvsBridge
from gateway.kube.client import KubeClient
from gateway.kube.config import KubeConfigError, load_credentials

log = logging.getLogger("flowgate.agent")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """`30s`, `2m`, `500ms` or plain seconds."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration; write it like 30s, 2m or 500ms")
    return float(match.group(1)) * _UNITS[match.group(2)]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "agent",
        help="run the node agent: drive OVS flow export on this node and report it in Flow/<node>",
        description=(
            "Watch FlowExport/cluster, discover this node's collector, configure OVS the way "
            "OVN-Kubernetes does and report the node's export state in Flow/<node>."
        ),
    )
    parser.add_argument("--node", required=True, help="this node's name (the Node object and Flow/<node>)")
    parser.add_argument("--kubeconfig", help="kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
    parser.add_argument("--bridge", default=DEFAULT_BRIDGE, help="OVS bridge to configure (default: %(default)s)")
    parser.add_argument(
        "--ovs-rundir",
        help="directory holding OVS's db.sock (default: $OVS_RUNDIR, else /var/run/openvswitch)",
    )
    parser.add_argument(
        "--sflow-agent",
        default=DEFAULT_SFLOW_AGENT,
        help="interface whose address sFlow reports as its agent (default: %(default)s)",
    )
    parser.add_argument(
        "--resync",
        type=parse_duration,
        default=30.0,
        help="reconcile at least this often, repairing OVS drift (default: 30s)",
    )
    parser.add_argument(
        "--ovs-timeout",
        type=parse_duration,
        default=10.0,
        help="how long one ovs-vsctl run may take (default: 10s)",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level,
        format=f"%(asctime)s %(levelname)s agent[{args.node}] %(message)s",
        stream=sys.stderr,
    )
    try:
        credentials = load_credentials(args.kubeconfig)
    except KubeConfigError as exc:
        log.error("%s", exc)
        return 2
    bridge = OvsBridge(args.bridge, args.ovs_rundir, timeout=args.ovs_timeout)
    return asyncio.run(_serve(args, credentials, bridge))


async def _serve(args: argparse.Namespace, credentials: Any, bridge: OvsBridge) -> int:
    task = asyncio.current_task()
    assert task is not None
    stopping = asyncio.Event()

    def stop(signum: int) -> None:
        # OVS is left exactly as it is: export keeps running while the agent is replaced.
        log.info("received %s; stopping and leaving OVS as it is", signal.Signals(signum).name)
        stopping.set()
        task.cancel()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
    async with KubeClient(credentials) as client:
        agent = NodeAgent(client, args.node, bridge, sflow_agent=args.sflow_agent, resync=args.resync)
        try:
            await agent.run()
        except asyncio.CancelledError:
            if not stopping.is_set():
                raise
    return 0
