"""DIR/testbed.json (what a testbed started: pids, ports, node IPs, namespaces) and DIR/testbed.lock
(held by the process owning a running testbed), so `down` and a later `up` can always clean up."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
from functools import partial
from pathlib import Path
from typing import Any

from flowgate_testbed.binaries import find_tool
from flowgate_testbed.dataplane import OVS_EXIT_SECONDS, delete_netns, list_netns
from flowgate_testbed.errors import TestbedError
from flowgate_testbed.procs import same_process_alive, terminate_pid, wait_until

STATE_FILE = "testbed.json"
LOCK_FILE = "testbed.lock"
SUPERVISOR_PID_FILE = "supervisor.pid"


def netns_prefix(directory: Path) -> str:
    """Namespace names unique per DIR, so testbeds in different directories never collide."""
    return "fg" + hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:6] + "-"


def read_state(directory: Path) -> dict[str, Any] | None:
    try:
        value = json.loads((directory / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def write_state(directory: Path, state: dict[str, Any]) -> None:
    tmp = directory / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(directory / STATE_FILE)


class DirLock:
    """An exclusive flock on DIR/testbed.lock; the kernel drops it when the owner dies."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self.fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    @property
    def held(self) -> bool:
        return self.fd is not None

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def is_running(directory: Path) -> bool:
    """Whether some live process holds DIR's testbed lock."""
    if not (directory / LOCK_FILE).exists():
        return False
    probe = DirLock(directory)
    if probe.acquire():
        probe.release()
        return False
    return True


def owner_pid(directory: Path) -> int | None:
    """The supervisor once it is ready, else whoever wrote testbed.json (a starting supervisor or
    a Python owner)."""
    try:
        return int((directory / SUPERVISOR_PID_FILE).read_text().strip())
    except (OSError, ValueError):
        pass
    state = read_state(directory)
    if state and isinstance(state.get("owner_pid"), int):
        return int(state["owner_pid"])
    return None


def _gone(pid: int, starttime: int | None) -> bool:
    return not same_process_alive(pid, starttime)


def cleanup_leftovers(directory: Path) -> list[str]:
    """Stop what a dead owner left behind (by recorded pid and start time) and delete its namespaces.
    Returns what was cleaned, for the user's information."""
    cleaned: list[str] = []
    state = read_state(directory) or {}
    processes = state.get("processes") or []
    # OVS first, through its control socket, so it removes its datapath devices.
    for proc in processes:
        pid, starttime = proc["pid"], proc.get("starttime")
        if proc.get("kind") == "ovs" and proc.get("ctl") and same_process_alive(pid, starttime):
            cleanup = ["--cleanup"] if "vswitchd" in proc["ctl"] else []
            try:
                subprocess.run(
                    [find_tool("ovs-appctl", "openvswitch-switch"), "-t", proc["ctl"], "exit", *cleanup],
                    capture_output=True,
                    timeout=OVS_EXIT_SECONDS,
                )
            except (subprocess.TimeoutExpired, TestbedError):
                continue  # terminated by pid below
            wait_until(partial(_gone, pid, starttime), 10)
    for proc in reversed(processes):  # recorded in start order: the apiserver goes before etcd
        if same_process_alive(proc["pid"], proc.get("starttime")):
            terminate_pid(proc["pid"], proc.get("starttime"))
            cleaned.append(f"{proc.get('name', 'process')} (pid {proc['pid']})")
    names = set(state.get("netns") or []) | set(list_netns(netns_prefix(directory)))
    for name in sorted(names, reverse=True):  # pods before nodes before the bridge
        delete_netns(name)
        cleaned.append(f"namespace {name}")
    for leftover in (STATE_FILE, SUPERVISOR_PID_FILE):
        (directory / leftover).unlink(missing_ok=True)
    return cleaned
