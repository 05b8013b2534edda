"""Running `kubectl flows` the way users do: the real kubectl the testbed builds, finding the
`kubectl-flows` plugin on PATH, pointed at a real gateway in front of the testbed's API server."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The plugin is whatever `kubectl-flows` the package installed beside this interpreter.
SCRIPTS_DIR = Path(sys.executable).parent


def kubectl_path() -> Path:
    bin_dir = Path(os.environ.get("FLOWGATE_BIN_DIR") or ROOT / ".bin")
    return bin_dir / "kubectl"


@dataclass
class Result:
    args: Sequence[str]
    returncode: int
    stdout: str
    stderr: str

    def rows(self) -> list[list[str]]:
        """The table's data rows, split on runs of spaces (NAME, STATUS, TYPE, ENDPOINT)."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        start = next(i for i, line in enumerate(lines) if line.startswith("NAME"))
        return [line.split() for line in lines[start + 1 :]]


class Kubectl:
    """The real kubectl, as one testbed user, with the plugin on PATH and the gateway in
    FLOWGATE_GATEWAY (the API server will not service-proxy to loopback)."""

    def __init__(self, kubeconfig: Path, gateway_url: str | None) -> None:
        self.kubeconfig = kubeconfig
        self.gateway_url = gateway_url
        self.binary = kubectl_path()

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(SCRIPTS_DIR), str(self.binary.parent), env.get("PATH", "")])
        env["KUBECONFIG"] = str(self.kubeconfig)
        env.pop("FLOWGATE_GATEWAY", None)
        if self.gateway_url:
            env["FLOWGATE_GATEWAY"] = self.gateway_url
        env.update(extra)
        return env

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60, **env: str) -> Result:
        proc = subprocess.run(
            [str(self.binary), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(**env),
        )
        return Result(args, proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self(*args, input=input)
        assert result.returncode == 0, f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
        return result

    def popen(self, *args: str) -> LineReader:
        proc = subprocess.Popen(
            [str(self.binary), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(),
        )
        return LineReader(proc)


class LineReader:
    """A long-running command whose stdout is read line by line with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next_line(self, timeout: float) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no new line within {timeout}s; so far: {self.seen}") from None
        if line is None:
            stderr = self.proc.stderr.read() if self.proc.stderr else ""
            raise AssertionError(f"the command ended ({self.proc.wait()}): {stderr}; so far: {self.seen}")
        self.seen.append(line)
        return line

    def interrupt(self, timeout: float = 10) -> int:
        """Ctrl-C, as a user ends a watch."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def kubectl_binary() -> Path:
    path = kubectl_path()
    if not path.exists():
        pytest.fail(f"the real kubectl is missing at {path}; run `make binaries`")
    assert shutil.which("kubectl-flows", path=str(SCRIPTS_DIR)), "the package's kubectl-flows is not installed"
    return path


def flow_status(kubectl: Kubectl, node: str, state: str, flow_type: str | None, endpoint: str | None) -> None:
    """Write Flow/<node> as the node agent does: the object, then its status subresource,
    acknowledging FlowExport/cluster's current generation."""
    generation = kubectl.ok("get", "flowexports.flowgate.dev", "cluster", "-o", "jsonpath={.metadata.generation}")
    flow = {
        "apiVersion": "flowgate.dev/v1alpha1",
        "kind": "Flow",
        "metadata": {"name": node},
        "spec": {"nodeName": node},
    }
    kubectl.ok("apply", "-f", "-", input=json.dumps(flow))
    status: dict[str, Any] = {
        "state": state,
        "observedGeneration": int(generation.stdout or 0),
        "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "type": flow_type,
        "endpoint": endpoint,
    }
    kubectl.ok(
        "patch",
        "flows.flowgate.dev",
        node,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )


@pytest.fixture
def watch_processes() -> Iterator[list[LineReader]]:
    """Watches a test starts; any still running at the end are killed."""
    readers: list[LineReader] = []
    yield readers
    for reader in readers:
        reader.close()
