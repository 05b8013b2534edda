"""`flowgate agent`: the node agent process (one per node, as a DaemonSet beside ovnkube-node)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from gateway import logs
from gateway.agent.agent import NodeAgent
from gateway.agent.metrics import parse_address, serve
from gateway.agent.ovs import OvsBridge
from gateway.agent.settings import AgentSettings
from gateway.kube.api import KubeApi
from gateway.kube.config import KubeConfigError, load_access
from gateway.kube.http import small_tls_buffers
from gateway.settings import SettingsError, add_arguments, from_arguments

log = logging.getLogger("flowgate.agent")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "agent",
        help="run the node agent: drive OVS flow export on this node and report it in Flow/<node>",
        description=(
            "Watch FlowExport/cluster, discover this node's collector, configure OVS the way "
            "OVN-Kubernetes does and report the node's export state in Flow/<node>."
        ),
    )
    add_arguments(parser, AgentSettings)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = from_arguments(AgentSettings, args)
    try:
        node = settings.node_name
    except SettingsError as exc:
        print(f"flowgate agent: {exc}", file=sys.stderr)
        return 2
    if settings.metrics_address is not None:
        try:
            parse_address(settings.metrics_address)
        except ValueError as exc:
            print(f"flowgate agent: --metrics-address: {exc}.", file=sys.stderr)
            return 2
    logs.configure(settings.log_level, f"%(asctime)s %(levelname)s agent[{node}] %(message)s")
    bridge = OvsBridge(settings.bridge, settings.ovs_rundir, timeout=settings.ovs_timeout)
    small_tls_buffers()
    return asyncio.run(_serve(settings, node, bridge))


async def _serve(settings: AgentSettings, node: str, bridge: OvsBridge) -> int:
    try:
        access = await load_access(settings.kubeconfig)
    except KubeConfigError as exc:
        log.error("%s", exc)
        return 2
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
    # Plain HTTP/1.1 streams, not aiohttp: an agent runs on every node (gateway/kube/http.py).
    async with KubeApi(access, streams=True) as api:
        agent = NodeAgent(
            api,
            node,
            bridge,
            sflow_agent=settings.sflow_agent,
            resync=settings.resync,
            scrape_interval=settings.scrape_interval,
            traffic_interval=settings.traffic_interval,
        )
        server: asyncio.Server | None = None
        if settings.metrics_address is not None:
            try:
                server = await serve(agent, settings.metrics_address)
            except OSError as exc:
                log.error("cannot serve metrics on %s: %s", settings.metrics_address, exc.strerror or exc)
                return 2
            log.info("serving the agent's metrics on http://%s/metrics", settings.metrics_address)
        try:
            await agent.run()
        except asyncio.CancelledError:
            if not stopping.is_set():
                raise
        finally:
            if server is not None:
                server.close()
    return 0
