"""`flowgate-testbed up|down`: a local cluster that outlives the shell command that started it.

`up` starts a detached supervisor process (the parent of every daemon, since PID 1 may not reap),
prints its progress and exits 0 once everything is ready; `down` signals it and waits until the
teardown is complete."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from flowgate_testbed.errors import TestbedError
from flowgate_testbed.procs import proc_starttime, wait_until
from flowgate_testbed.state import cleanup_leftovers, is_running, owner_pid, read_state
from flowgate_testbed.testbed import MAX_NODES, NETWORK_TYPES, check_config

UP_TIMEOUT = 180.0


def register(subparsers: Any) -> None:
    up = subparsers.add_parser("up", help="start a testbed in DIR and return once it is ready")
    up.add_argument("--dir", required=True, help="directory for the testbed's state, logs and kubeconfigs")
    up.add_argument("--nodes", type=int, default=3, help=f"number of simulated nodes (1-{MAX_NODES}, default 3)")
    up.add_argument("--network-type", default="OVNKubernetes", help=f"one of {', '.join(NETWORK_TYPES)}")
    up.add_argument("--no-ovs", action="store_true", help="API only: no network namespaces, OVS or collectors")
    up.add_argument("--agents", action="store_true", help="also run one flowgate node agent per node")
    up.add_argument(
        "--garbage-collector",
        action="store_true",
        help="also run kube-controller-manager's garbage collector (a deleted Node takes its Flow along)",
    )
    up.set_defaults(run=run_up)
    down = subparsers.add_parser("down", help="stop the testbed in DIR and remove everything it made")
    down.add_argument("--dir", required=True)
    down.set_defaults(run=run_down)


def fail(message: str) -> int:
    print(f"flowgate-testbed: {message}", file=sys.stderr)
    return 1


def run_up(args: argparse.Namespace) -> int:
    directory = Path(args.dir).resolve()
    try:
        check_config(args.nodes, args.network_type, ovs=not args.no_ovs, garbage_collector=args.garbage_collector)
    except TestbedError as exc:
        return fail(str(exc))
    if is_running(directory):
        return fail(
            f"a testbed is already running in {directory}; stop it with `flowgate-testbed down --dir {directory}` first."
        )
    directory.mkdir(parents=True, exist_ok=True)
    read_end, write_end = os.pipe()
    argv = [
        sys.executable,
        "-m",
        "flowgate_testbed.supervisor",
        "--dir",
        str(directory),
        "--nodes",
        str(args.nodes),
        "--network-type",
        args.network_type,
        "--report-fd",
        str(write_end),
    ]
    if args.no_ovs:
        argv.append("--no-ovs")
    if args.agents:
        argv.append("--agents")
    if args.garbage_collector:
        argv.append("--garbage-collector")
    with open(directory / "supervisor.log", "ab") as log:
        # A new session: the supervisor survives this shell command and its Ctrl-C.
        supervisor = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=(write_end,),
            start_new_session=True,
        )
    os.close(write_end)
    outcome: str | None = None
    try:
        with os.fdopen(read_end) as reports:
            for line in reports:
                kind, _, text = line.rstrip("\n").partition(" ")
                if kind == "progress":
                    print(f"flowgate-testbed: {text}", file=sys.stderr, flush=True)
                elif kind in ("ready", "error"):
                    outcome = kind
                    if kind == "error":
                        print(f"flowgate-testbed: {text}", file=sys.stderr)
                    break
    except KeyboardInterrupt:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait()
        print("flowgate-testbed: interrupted; everything that had started was stopped.", file=sys.stderr)
        return 130
    if outcome == "ready":
        state = read_state(directory) or {}
        print(f"export KUBECONFIG={state.get('kubeconfig', directory / 'kubeconfig')}")
        print(f"# testbed ready: {state.get('api_url', '')}; stop it with: flowgate-testbed down --dir {directory}")
        return 0
    supervisor.wait()  # it cleans up before it exits
    if outcome is None:
        cleanup_leftovers(directory)
        return fail(
            f"the testbed supervisor exited unexpectedly (code {supervisor.returncode}); see {directory / 'supervisor.log'}."
        )
    return 1


def run_down(args: argparse.Namespace) -> int:
    directory = Path(args.dir).resolve()
    if is_running(directory):
        pid = owner_pid(directory)
        if pid is None or proc_starttime(pid) is None:
            return fail(f"a process holds {directory / 'testbed.lock'} but its pid is unknown; stop it yourself.")
        print(f"flowgate-testbed: stopping the testbed in {directory} (pid {pid}) ...", file=sys.stderr)
        os.kill(pid, signal.SIGTERM)
        started = time.monotonic()
        # The lock goes away only once the owner has finished tearing down (or died).
        if not wait_until(lambda: not is_running(directory), 120, 0.1):
            return fail(f"the testbed in {directory} did not stop within 120 s; see {directory / 'supervisor.log'}.")
        cleanup_leftovers(directory)
        print(f"flowgate-testbed: stopped in {time.monotonic() - started:.1f} s.", file=sys.stderr)
        return 0
    if read_state(directory) is not None:
        cleaned = cleanup_leftovers(directory)
        print(f"flowgate-testbed: its owner was gone; cleaned up {len(cleaned)} leftovers.", file=sys.stderr)
        return 0
    print(f"flowgate-testbed: no testbed is running in {directory}.", file=sys.stderr)
    return 0
