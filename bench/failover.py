"""Two gateways behind real load balancers with thousands of real clients of ours: one gateway
stopped as a rolling update stops it (SIGTERM), then both restarted one at a time under a change
every second.

The load balancers are HAProxy from Debian (flowgate_testbed.loadbalancer), two side by side as
kube-proxy on two nodes would be, each with both gateways behind it and half the clients in front
(one HAProxy process may hold only so many connections). The clients are the real ones: the
console page's transport (plugin-ui/src/gateway/wsTransport.ts compiled and run in Node, one
instance per subscriber as one per tab: bench/console_subscribers.mjs), flowgate's gql client
(bench/gql_subscribers.py) and `kubectl flows status --watch` processes. All follow node-1's
row; every write gives it a new endpoint, so "shows the current state" is "shows the endpoint
written last"."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowgate_testbed.loadbalancer import LoadBalancer
from flowgate_testbed.testbed import Testbed, free_ports

from bench.gateway import Cluster, Gateway, percentile

ROOT = Path(__file__).resolve().parents[1]
UI = ROOT / "plugin-ui"
QUERY = 'subscription { nodeFlowStatus(node: "node-1") { node state endpoint } }'
BACK_WITHIN = 60.0  # the longest the benchmark waits for every client to show a value


@dataclass
class Mix:
    console: int
    gql: int
    cli: int

    @property
    def total(self) -> int:
        return self.console + self.gql + self.cli


def compile_transport(out: Path) -> Path:
    """The console page's transport as CommonJS for Node, compiled from its TypeScript source."""
    if not (UI / "node_modules" / "graphql-ws").is_dir():
        raise RuntimeError("plugin-ui/node_modules is missing: run hack/build-ui.sh (make test does) first")
    subprocess.run(
        ["npx", "tsc", "--outDir", str(out), "--module", "commonjs", "--target", "es2022", "--moduleResolution",
         "node", "--skipLibCheck", "--esModuleInterop", "src/gateway/wsTransport.ts"],
        cwd=UI, check=True, capture_output=True,
    )  # fmt: skip
    return out / "wsTransport.js"


class Crowd:
    """One process of subscribers answering `when VALUE` and `latest` (console or gql)."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, *, console: bool = False) -> None:
        self.console = console
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env
        )
        self.lock = threading.Lock()

    def ask(self, command: str) -> Any:
        with self.lock:
            assert self.process.stdin is not None and self.process.stdout is not None
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"a subscriber process ended ({self.process.poll()}) on {command!r}")
        return json.loads(line)

    def when(self, value: str) -> list[float | None]:
        return list(self.ask(f"when {value}"))

    def reconnected(self, since: float) -> list[float | None]:
        return list(self.ask(f"reconnected {since}"))

    def latest(self) -> dict[str, int]:
        return dict(self.ask("latest"))

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write("quit\n")
                self.process.stdin.flush()
                self.process.wait(20)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


class Watchers:
    """`kubectl flows status --watch --node node-1` processes (the plugin run as kubectl runs it),
    each line read with the time it arrived; the endpoint is the table's last column."""

    def __init__(self, testbed: Testbed, urls: list[str]) -> None:
        self.shown: list[dict[str, float]] = []
        self.latest: list[str | None] = []
        self.processes: list[subprocess.Popen[str]] = []
        command = shutil.which("kubectl-flows", path=str(Path(sys.executable).parent)) or "kubectl-flows"
        for index, url in enumerate(urls):
            env = {**os.environ, "KUBECONFIG": str(testbed.kubeconfig("admin")), "FLOWGATE_GATEWAY": url}
            process = subprocess.Popen(
                [command, "status", "--watch", "--node", "node-1"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
            )  # fmt: skip
            self.processes.append(process)
            self.shown.append({})
            self.latest.append(None)
            threading.Thread(target=self._read, args=(index, process), daemon=True).start()

    def _read(self, index: int, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            words = line.split()
            if len(words) >= 4 and words[0] == "node-1":
                self.latest[index] = words[-1]
                self.shown[index].setdefault(words[-1], time.time())

    def when(self, value: str) -> list[float | None]:
        return [times.get(value) for times in self.shown]

    def latest_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for value in self.latest:
            counts[str(value)] = counts.get(str(value), 0) + 1
        return counts

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class Clients:
    crowds: list[Crowd] = field(default_factory=list)
    watchers: Watchers | None = None

    def when(self, value: str) -> list[float | None]:
        found = [t for crowd in self.crowds for t in crowd.when(value)]
        return found + (self.watchers.when(value) if self.watchers else [])

    def reconnected(self, since: float) -> list[float | None]:
        """When each console transport that lost its connection after `since` had it again (None:
        not yet)."""
        return [t for crowd in self.crowds if crowd.console for t in crowd.reconnected(since)]

    def wait_reconnected(self, since: float, timeout: float) -> list[float | None]:
        return _until_none_missing(lambda: self.reconnected(since), timeout)

    def latest(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for part in [c.latest() for c in self.crowds] + ([self.watchers.latest_counts()] if self.watchers else []):
            for value, count in part.items():
                counts[value] = counts.get(value, 0) + count
        return counts

    def wait_all(self, value: str, timeout: float) -> list[float | None]:
        return _until_none_missing(lambda: self.when(value), timeout)

    def stop(self) -> None:
        for crowd in self.crowds:
            crowd.stop()
        if self.watchers:
            self.watchers.stop()


def _until_none_missing(read: Callable[[], list[float | None]], timeout: float) -> list[float | None]:
    """`read()` again until it has a time for every client, or `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        times = read()
        if all(t is not None for t in times) or time.monotonic() > deadline:
            return times
        time.sleep(0.25)


def _arrivals(times: list[float | None], since: float) -> dict[str, float]:
    """How the reconnections after `since` spread out: when 10/50/90/100 % of them were back, the
    most within any 100 ms, and how many were not back (None)."""
    got = sorted(t - since for t in times if t is not None)
    out = {"count": float(len(got)), "never": float(len(times) - len(got))}
    if got:
        for share in (0.1, 0.5, 0.9):
            out[f"{int(share * 100)}%"] = percentile(got, share)
        out["100%"] = got[-1]
        windows: dict[int, int] = {}
        for t in got:
            windows[int(t * 10)] = windows.get(int(t * 10), 0) + 1
        out["peak_per_100ms"] = float(max(windows.values()))
    return out


def _seconds(times: list[float | None], since: float) -> dict[str, float]:
    got = sorted(t - since for t in times if t is not None)
    missing = sum(1 for t in times if t is None)
    return {
        "p50": percentile(got, 0.5),
        "p99": percentile(got, 0.99),
        "max": got[-1] if got else float("nan"),
        "missing": float(missing),
    }


def measure(testbed: Testbed, log_dir: Path, mix: Mix, progress: Callable[[str], None]) -> dict[str, Any]:
    cluster = Cluster(testbed)
    asyncio.run(cluster.start_export())
    writes = 0

    def write() -> tuple[str, float]:
        nonlocal writes
        writes += 1
        endpoint = f"10.89.0.1:{10000 + writes}"
        return endpoint, asyncio.run(cluster.report(["node-1"], "Emitting", endpoint=endpoint)).sent

    current, _ = write()
    ports = free_ports(2)
    gateways: dict[str, Gateway] = {}
    balancers: list[LoadBalancer] = []
    clients = Clients()
    result: dict[str, Any] = {"mix": mix}
    try:
        progress("failover: two gateways, two HAProxy instances in front of both ...")
        for core, (name, port) in enumerate(zip("ab", ports, strict=True)):
            gateways[name] = Gateway(testbed, log_dir, True, port=port, core=core)
        for index in range(2):
            balancers.append(LoadBalancer(log_dir / f"haproxy-{index}", list(zip("ab", ports, strict=True))).start())
        _wait(lambda: all(set(b.states().values()) == {"UP"} for b in balancers), 30, "both gateways UP")
        transport = compile_transport(log_dir / "transport")
        halves = [(b.url, b.url.replace("http:", "ws:") + "/graphql") for b in balancers]
        progress(f"failover: {mix.total:,} subscribers ({mix.console:,} console transports, {mix.gql:,} gql "
                 f"clients, {mix.cli} kubectl flows status --watch) ...")  # fmt: skip
        node_env = {**os.environ, "NODE_PATH": str(UI / "node_modules")}
        for (http, ws), console, gql in zip(halves, _halve(mix.console), _halve(mix.gql), strict=True):
            if console:
                runner = str(ROOT / "bench" / "console_subscribers.mjs")
                argv = ["node", "--experimental-websocket", "--no-warnings", runner, str(transport), ws, str(console)]
                clients.crowds.append(Crowd([*argv, "400", QUERY, "endpoint"], env=node_env, console=True))
            if gql:
                argv = [sys.executable, "-m", "bench.gql_subscribers", http + "/graphql", str(gql), "200", "node-1"]
                clients.crowds.append(Crowd([*argv, "endpoint"]))
        clients.watchers = Watchers(testbed, [halves[i % 2][0] for i in range(mix.cli)])
        ready = clients.wait_all(current, 120 + mix.total / 200)
        if any(t is None for t in ready):
            raise RuntimeError(f"{sum(t is None for t in ready)} subscribers never showed node-1; {clients.latest()}")
        time.sleep(2)
        held: dict[str, int] = {}
        for balancer in balancers:
            for name, count in balancer.sessions().items():
                held[name] = held.get(name, 0) + count
        result["held"] = held

        progress("failover: SIGTERM to gateway a; node-1 changes once it has gone ...")
        stopped_at = time.time()
        gateways["a"].process.terminate()
        gateways["a"].process.wait(30)
        result["exit_seconds"] = time.time() - stopped_at
        # Written once a has closed every connection: its clients can only have it from b, after
        # moving (those already moved get it live, the others in their new snapshot).
        current, _ = write()
        times = clients.wait_all(current, BACK_WITHIN)
        result["back"] = _seconds(times, stopped_at)
        result["arrivals"] = _arrivals(clients.wait_reconnected(stopped_at, BACK_WITHIN), stopped_at)
        result["exit_code"] = gateways["a"].process.returncode

        progress("failover: rolling restart of both under a change every second ...")
        stop_writing = threading.Event()
        written_at = time.time()

        def writer() -> None:
            nonlocal current, written_at
            while not stop_writing.is_set():
                current, written_at = write()
                time.sleep(1.0)

        writing = threading.Thread(target=writer, daemon=True)
        rolled_at = time.time()
        writing.start()
        try:
            for core, name in enumerate("ab"):
                if gateways[name].process.poll() is None:
                    gateways[name].process.terminate()
                    gateways[name].process.wait(30)
                gateways[name] = Gateway(testbed, log_dir, True, port=ports[core], core=core)
                _wait(lambda: all(set(b.states().values()) == {"UP"} for b in balancers), 60, "both UP again")
                time.sleep(3)  # a second pass of clients settles before the next one goes
        finally:
            stop_writing.set()
            writing.join(10)
        last = current
        final = clients.wait_all(last, BACK_WITHIN)
        result["rolling_seconds"] = written_at - rolled_at
        result["writes"] = writes
        result["final"] = _seconds(final, written_at)
        result["latest"] = clients.latest()
        result["stale"] = sum(count for value, count in result["latest"].items() if value != last)
        return result
    finally:
        clients.stop()
        for balancer in balancers:
            balancer.stop()
        for gateway in gateways.values():
            gateway.stop()


def _halve(count: int) -> list[int]:
    return [count - count // 2, count // 2]


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"waited {timeout:g} s for {what}")
        time.sleep(0.2)
