"""Where the testbed finds the Go-built binaries (kube-apiserver, kubectl, etcd, goflow2, and
kube-controller-manager when the garbage collector runs) and the system tools (Open vSwitch,
iproute2, ethtool)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from flowgate_testbed.errors import TestbedError

GO_BINARIES = ("etcd", "kube-apiserver", "kubectl", "goflow2")
OVS_TOOLS = ("ovsdb-server", "ovs-vswitchd", "ovsdb-tool", "ovs-vsctl", "ovs-appctl", "ovs-ofctl")
NET_TOOLS = ("ip", "ethtool")


def find_binary(name: str) -> str:
    """Resolve a Go-built binary: $FLOWGATE_BIN_DIR, then ./.bin, then PATH."""
    candidates: list[Path] = []
    if os.environ.get("FLOWGATE_BIN_DIR"):
        candidates.append(Path(os.environ["FLOWGATE_BIN_DIR"]) / name)
    candidates.append(Path.cwd() / ".bin" / name)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate.resolve())
    found = shutil.which(name)
    if found:
        return found
    raise TestbedError(f"{name} was not found in $FLOWGATE_BIN_DIR, ./.bin or PATH; run `make binaries` to build it.")


def find_tool(name: str, package: str) -> str:
    """Resolve a system tool on PATH (also the sbin directories, which non-login shells may lack)."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/local/sbin:/usr/sbin:/sbin"
    found = shutil.which(name, path=path)
    if not found:
        raise TestbedError(
            f"{name} is not installed; install the Debian package {package} (`make system-deps` does it)."
        )
    return found
