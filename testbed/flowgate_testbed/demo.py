"""`flowgate-testbed demo`: a foreground local cluster with three OVS nodes, one node agent per node and the
gateway on http://127.0.0.1:8080; it prints the Network Flows page's URL first, then the tokens to sign in
with and the commands to try. Ctrl-C (or SIGTERM) tears it all down."""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any

from flowgate_testbed.cluster_api import ClusterApiError
from flowgate_testbed.errors import TestbedError
from flowgate_testbed.testbed import Testbed, flowgate_command

GATEWAY_HOST = "127.0.0.1"
GATEWAY_PORT = 8080


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run a local demo cluster (3 OVS nodes, node agents, gateway on :8080) until Ctrl-C",
        description="A local cluster with three simulated OVN-Kubernetes nodes running real Open vSwitch, "
        "one flowgate agent per node and the gateway; Ctrl-C stops everything.",
    )
    parser.add_argument("--dir", required=True, help="directory for the demo's state, logs and kubeconfigs")
    parser.add_argument(
        "--port", type=int, default=GATEWAY_PORT, help=f"the gateway's port on {GATEWAY_HOST} (default {GATEWAY_PORT})"
    )
    parser.set_defaults(run=run_demo)


class _Stop(BaseException):
    pass


def _on_signal(_signum: int, _frame: FrameType | None) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    raise _Stop


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _wait_for_ready(url: str, timeout: float) -> bool:
    """Until the gateway's caches are synced (/readyz), so the page shows every node at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def run_demo(args: argparse.Namespace) -> int:
    directory = Path(args.dir).resolve()
    port: int = args.port
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    testbed: Testbed | None = None
    try:
        if not _port_free(GATEWAY_HOST, port):
            raise TestbedError(
                f"port {port} on {GATEWAY_HOST} is in use; stop what listens there, or choose another with --port."
            )
        testbed = Testbed(directory, nodes=3, ovs=True)
        testbed.start()
        testbed.start_agents()
        gateway_url = f"http://{GATEWAY_HOST}:{port}"
        # The gateway runs as itself (watches, token reviews) and acts as each caller, so the
        # demo shows RBAC as a cluster would: the viewer may look but not start.
        gateway = testbed.start_process(
            "gateway",
            [
                *flowgate_command(),
                "serve",
                "--kubeconfig",
                str(testbed.kubeconfig("gateway")),
                "--host",
                GATEWAY_HOST,
                "--port",
                str(port),
            ],
            directory / "logs" / "gateway.log",
        )
        if not _wait_for_ready(gateway_url, 30):
            gateway.check_running()
            raise TestbedError(f"the gateway was not ready on port {port} within 30 s; see {gateway.log}.")
        print(_instructions(testbed, gateway_url), flush=True)
        while True:
            signal.pause()
    except _Stop:
        print("\nflowgate-testbed demo: stopping ...", file=sys.stderr, flush=True)
    except TestbedError as exc:
        print(f"flowgate-testbed demo: {exc}", file=sys.stderr)
        return 1
    except (ClusterApiError, OSError) as exc:
        # Not one of the testbed's own sentences: say what failed, then tear down as usual.
        print(
            f"flowgate-testbed demo: starting the demo cluster failed ({exc}); see the logs in {directory}.",
            file=sys.stderr,
        )
        return 1
    finally:
        if testbed is not None:
            testbed.stop()
            print("flowgate-testbed demo: everything stopped and removed.", file=sys.stderr)
    return 0


def _instructions(testbed: Testbed, gateway_url: str) -> str:
    logs = " ".join(str(testbed.flows_log(node)) for node in testbed.node_names)
    graphql_url = f"{gateway_url}/graphql"
    lines = [
        f"Network Flows page: {gateway_url}/",
        "",
        f"flowgate demo is running: {len(testbed.node_names)} nodes with Open vSwitch, node agents, "
        f"gateway at {gateway_url}",
        "",
        "The page asks for a token. As a cluster admin (switches flow export):",
        f"  {testbed.token('admin')}",
        "As a viewer (may only look):",
        f"  {testbed.token('viewer')}",
        "",
        "In another shell:",
        f"  export KUBECONFIG={testbed.kubeconfig()}",
        f"  export FLOWGATE_GATEWAY={graphql_url}",
        # kubectl from the testbed, the kubectl-flows plugin from this installation
        f"  export PATH={testbed.dir / 'bin'}:{Path(sys.executable).parent}:$PATH",
        "  kubectl flows start netflow",
        "  kubectl flows status --watch      # live; Ctrl-C to leave",
        "  kubectl get flows",
        f"  KUBECONFIG={testbed.kubeconfig('viewer')} kubectl flows stop   # refused: the viewer may only look",
        f"  tail -f {logs}",
        "  kubectl flows stop",
        "",
        f"GraphiQL: {graphql_url} (send a token as the header `Authorization: Bearer ...`).",
        "",
        "Press Ctrl-C to stop and remove everything.",
    ]
    return "\n".join(lines)
