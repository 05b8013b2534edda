"""Gateway figures at cluster scale, each measured with sharing on and against the naive baseline
(`flowgate serve --sharing off`: a watch per subscriber, a LIST per query, an execution per
message) in the same run, on one API-only testbed."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from flowgate_testbed.binaries import find_binary
from flowgate_testbed.testbed import Testbed, free_port

from bench import prometheus
from gateway.kube.api import KubeApi
from gateway.kube.config import load_kubeconfig
from gateway.kube.resources import FLOW_EXPORTS, FLOWS

GATEWAY_CORE = 0  # the gateway on one core, the load on the other (the API server floats)
LOAD_CORE = 1


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class Row:
    figure: str
    target: str
    measured: str
    baseline: str = ""
    ratio: str = ""
    notes: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(
            f"bench: {row.figure}: {row.measured}"
            + (f" (baseline {row.baseline}, {row.ratio})" if row.baseline else ""),
            flush=True,
        )


class Gateway:
    def __init__(
        self,
        testbed: Testbed,
        log_dir: Path,
        sharing: bool,
        *extra: str,
        port: int | None = None,
        core: int = GATEWAY_CORE,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}/graphql"
        argv = [
            sys.executable, "-m", "gateway.main", "serve", "--kubeconfig", str(testbed.kubeconfig("admin")),
            "--auth", "none", "--port", str(self.port), "--log-level", "warning",
            "--sharing", "on" if sharing else "off", "--max-subscriptions-per-connection", "20", *extra,
        ]  # fmt: skip
        self.log = log_dir / f"gateway-{'shared' if sharing else 'naive'}-{self.port}.log"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, preexec_fn=lambda: os.sched_setaffinity(0, {core})
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"the gateway exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.2)
        raise RuntimeError("the gateway did not become ready within 120 s")

    def rss(self) -> int:
        return rss_kib(self.process.pid)

    def query(self, text: str) -> tuple[float, int]:
        elapsed, data = self.query_text(text)
        return elapsed, len(data)

    def query_text(self, text: str) -> tuple[float, str]:
        """Seconds from sending the query to the last byte of its answer, and the answer."""
        body = json.dumps({"query": text}).encode()
        request = urllib.request.Request(self.url + "/graphql", body, {"Content-Type": "application/json"})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as answer:
            data = answer.read()
        elapsed = time.perf_counter() - started
        errors = json.loads(data).get("errors")
        if errors:  # a fast refusal is not a figure
            raise RuntimeError(f"the gateway answered the query with errors: {errors}")
        return elapsed, data.decode()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def gateway(testbed: Testbed, log_dir: Path, sharing: bool, *extra: str) -> Iterator[Gateway]:
    running = Gateway(testbed, log_dir, sharing, *extra)
    try:
        yield running
    finally:
        running.stop()


class LoadProcess:
    """Subscribers in a process of their own (hack/subscribers, a light Go WebSocket client, so
    that the gateway and not the client is what is measured), pinned to the load's core."""

    def __init__(self, url: str, clients: int, query: str, expect: str, *, snapshot: int = 1, **extra: Any) -> None:
        argv = [str(find_binary("subscribers")), "--url", url, "--clients", str(clients), "--query", query,
                "--expect", expect, "--snapshot", str(snapshot)]  # fmt: skip
        for name, value in extra.items():
            argv += [f"--{name.replace('_', '-')}", str(value)]
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: os.sched_setaffinity(0, {LOAD_CORE}),
        )

    def ready(self) -> tuple[float, int]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        if not line or line[0] != "ready":
            raise RuntimeError(f"the load process failed: {line}")
        return float(line[1]), int(line[2])

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def result(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        self.process.wait(60)
        return json.loads(line) if line else {"hits": [], "failure_count": -1, "failures": ["no result"]}


class Written(NamedTuple):
    """A write of Flows: `sent` when the first request left (a change -> subscriber figure counts
    from it: the gateway may hear of the change from its watch before the writer's answer comes
    back), `acknowledged` when the API server answered the last."""

    sent: float
    acknowledged: float


class Cluster:
    """The driver's own hands on the API server: writing Flows as agents would."""

    def __init__(self, testbed: Testbed) -> None:
        self.testbed = testbed
        self.generation = 0

    async def api(self) -> KubeApi:
        return KubeApi(await load_kubeconfig(self.testbed.kubeconfig("admin")), timeout=60)

    async def start_export(self) -> int:
        async with await self.api() as api:
            current = await api.get_or_none(FLOW_EXPORTS, "cluster")
            body = {"apiVersion": "flowgate.dev/v1alpha1", "kind": "FlowExport", "metadata": {"name": "cluster"},
                    "spec": {"type": "NetFlow", "collector": {"nodePort": 30001}}}  # fmt: skip
            if current is None:
                written = await api.create(FLOW_EXPORTS, body)
            else:
                current["spec"] = body["spec"]
                written = await api.replace(FLOW_EXPORTS, current)
        self.generation = int(written["metadata"]["generation"])
        return self.generation

    async def report(
        self, nodes: list[str], state: str, *, concurrency: int = 32, endpoint: str = "10.89.0.1:30001"
    ) -> Written:
        """Write these nodes' Flows (created if missing) as their agents would; when the first
        write was sent and when the last was acknowledged."""
        semaphore = asyncio.Semaphore(concurrency)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

        async with await self.api() as api:

            async def one(node: str) -> None:
                async with semaphore:
                    status = {"status": {"state": state, "type": "NetFlow", "observedGeneration": self.generation,
                                         "endpoint": endpoint, "lastTransitionTime": stamp}}  # fmt: skip
                    try:
                        await api.merge_patch(FLOWS, node, status, subresource="status")
                    except Exception:
                        body = {"apiVersion": "flowgate.dev/v1alpha1", "kind": "Flow", "metadata": {"name": node},
                                "spec": {"nodeName": node}}  # fmt: skip
                        await api.create(FLOWS, body)
                        await api.merge_patch(FLOWS, node, status, subresource="status")

            sent = time.time()
            await asyncio.gather(*(one(n) for n in nodes))
            return Written(sent, time.time())


SUBSCRIBE_ONE = 'subscription { nodeFlowStatus(node: "node-1") { node state } }'
TABLE = "subscription { flowsTable { snapshot removed changed { node state type endpoint message updatedAt } state { enabled type supported summary { total disabled pending emitting error } } } }"
FLOWS_FULL = "{ flows { enabled type generation summary { total emitting } nodes { node state type endpoint message updatedAt observedGeneration } } }"


class Profile:
    """py-spy sampling a running gateway (without pausing it), then where its time went: the
    functions that were on CPU most often, and the share of each package."""

    def __init__(self, pid: int, out: Path) -> None:
        self.out = out
        self.process = subprocess.Popen(
            [str(py_spy()), "record", "-p", str(pid), "-o", str(out), "--format", "raw", "-r", "50", "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)  # py-spy writes what it sampled and exits
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def summary(self, top: int = 8) -> dict[str, Any]:
        by_leaf: Counter[str] = Counter()
        by_package: Counter[str] = Counter()
        total = 0
        if not self.out.exists():
            return {"samples": 0, "functions": [], "packages": []}
        for line in self.out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            leaf = stack.split(";")[-1]  # "function (path/to/file.py:line)"
            found = re.match(r"(.*) \((.*?):\d+\)$", leaf)
            function, path = (found[1], found[2]) if found else (leaf, "")
            by_leaf[f"{function} ({_package(path)})"] += int(count)
            by_package[_package(path)] += int(count)
            total += int(count)

        def share(n: int) -> float:
            return 100 * n / max(1, total)

        return {
            "samples": total,
            "functions": [(name, share(n)) for name, n in by_leaf.most_common(top)],
            "packages": [(name, share(n)) for name, n in by_package.most_common(top)],
        }


def py_spy() -> Path | None:
    """py-spy from the benchmark's own environment (a dev dependency), else from PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    found = beside if beside.exists() else shutil.which("py-spy")
    return Path(found) if found else None


def _package(path: str) -> str:
    """site-packages/uvicorn/... -> uvicorn; the standard library by module; flowgate's own."""
    parts = Path(path).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    if "gateway" in parts:
        return "gateway." + ".".join(parts[parts.index("gateway") + 1 :]).removesuffix(".py")
    return Path(path).stem or "?"


def fanout(
    testbed: Testbed, log_dir: Path, cluster: Cluster, sharing: bool, subscribers: int, profile: bool = False
) -> dict[str, Any]:
    """One Flow status change -> every subscriber; and the gateway's memory per idle subscriber.
    `profile`: py-spy samples the gateway from the first connection to the last message."""
    asyncio.run(cluster.report(["node-1"], "Pending"))
    profiled: Profile | None = None
    with gateway(testbed, log_dir, sharing) as gw:
        if profile:
            profiled = Profile(gw.process.pid, log_dir / f"profile-{subscribers}.txt")
        before = gw.rss()
        loads = [LoadProcess(gw.ws, part, SUBSCRIBE_ONE, '"EMITTING"', rate=500) for part in _split(subscribers)]
        ready = [load.ready() for load in loads]
        time.sleep(2)  # let the gateway settle (and freeze) after the wave
        after = gw.rss()
        for load in loads:
            load.go()
        changed_at = asyncio.run(cluster.report(["node-1"], "Emitting")).sent
        results = [load.result() for load in loads]
        if profiled is not None:
            profiled.stop()
    hits = [h - changed_at for r in results for h in r["hits"]]
    failures = sum(max(0, r["failure_count"]) for r in results) + sum(f for _, f in ready)
    asyncio.run(cluster.report(["node-1"], "Pending"))
    return {
        "p50": percentile(hits, 0.5),
        "p99": percentile(hits, 0.99),
        "received": len(hits),
        "failures": failures,
        "kib_per_subscriber": (after - before) / max(1, subscribers),
        "ramp_seconds": max(r for r, _ in ready),
        "profile": profiled.summary() if profiled is not None else None,
    }


def _split(clients: int, per_process: int = 5000) -> list[int]:
    parts = []
    while clients > 0:
        parts.append(min(per_process, clients))
        clients -= parts[-1]
    return parts


def flows_query(testbed: Testbed, log_dir: Path, cluster: Cluster, sharing: bool, repeat: int) -> dict[str, float]:
    """The `flows` query with full rows: answered fresh, the first time after a Flow changed (on a
    live cluster some Flow changes every second, so most answers are fresh ones), and repeated
    with nothing changed in between."""
    states = ["Error", "Emitting"]
    fresh: list[float] = []
    with gateway(testbed, log_dir, sharing) as gw:
        gw.query(FLOWS_FULL)  # warm
        repeated = [gw.query(FLOWS_FULL)[0] for _ in range(repeat)]
        for index in range(repeat):
            state = states[index % 2]
            asyncio.run(cluster.report(["node-1"], state))
            time.sleep(0.2)  # the watch brings the change (milliseconds); queries before it are not fresh
            for _ in range(50):
                seconds, body = gw.query_text(FLOWS_FULL)
                if f'"node":"node-1","state":"{state.upper()}"' in body:
                    fresh.append(seconds)
                    break
                time.sleep(0.1)
    return {"fresh_p50": statistics.median(fresh), "p50": statistics.median(repeated), "answers": len(fresh)}


def tabs(testbed: Testbed, log_dir: Path, sharing: bool, count: int, nodes: int) -> dict[str, float]:
    """`count` console tabs opening at once: the time until each holds the whole table."""
    with gateway(testbed, log_dir, sharing) as gw:
        started = time.monotonic()
        seconds, failures = _open_tabs(gw, count)
        wall = time.monotonic() - started
    return {"all_served": seconds, "failures": failures, "wall": wall}


def one_tab(testbed: Testbed, log_dir: Path, sharing: bool, gateways: int = 3, after: int = 3) -> dict[str, float]:
    """One console tab opening: the first after a gateway starts (nothing of the table written yet;
    the median over `gateways` fresh gateways), and `after` more, one at a time, on the same
    running gateways (the median of those)."""
    first: list[float] = []
    later: list[float] = []
    failures = 0
    for _ in range(gateways):
        with gateway(testbed, log_dir, sharing) as gw:
            for index in range(1 + after):
                seconds, failed = _open_tabs(gw, 1)
                (first if index == 0 else later).append(seconds)
                failures += failed
    return {"first": statistics.median(first), "later": statistics.median(later), "failures": failures}


def _open_tabs(gw: Gateway, count: int) -> tuple[float, int]:
    load = LoadProcess(gw.ws, count, TABLE, "", snapshot=1, rate=100000, timeout=120)
    seconds, failures = load.ready()
    load.go()
    load.result()
    return seconds, failures


def storm(
    testbed: Testbed, log_dir: Path, cluster: Cluster, sharing: bool, subscribers: int, nodes: int
) -> dict[str, Any]:
    """`nodes` Flows change at once with `subscribers` table subscribers."""
    names = [f"node-{i}" for i in range(1, nodes + 1)]
    asyncio.run(cluster.report(names, "Pending"))
    with gateway(testbed, log_dir, sharing) as gw:
        load = LoadProcess(gw.ws, subscribers, TABLE, f'"node-{nodes}","state":"ERROR"', snapshot=1, rate=500,
                           count_rows=f"node-1,node-{nodes // 2}", timeout=120)  # fmt: skip
        load.ready()
        load.go()
        burst_start = time.time()
        burst_end = asyncio.run(cluster.report(names, "Error", concurrency=64)).acknowledged
        result = load.result()
    final = [h - burst_end for h in result["hits"]]
    return {
        "burst_seconds": burst_end - burst_start,
        "p99_after_burst": percentile(final, 0.99),
        "received": len(final),
        "max_row_messages": result.get("max_row_messages", 0),
        "failures": result["failure_count"],
    }


def collector_pauses(gw: Gateway) -> dict[str, Any]:
    """The gateway's own garbage-collection figures from /metrics: per generation, the count, the
    total seconds and the cumulative histogram buckets; and the frozen objects."""
    with urllib.request.urlopen(gw.url + "/metrics", timeout=10) as answer:
        page = answer.read().decode()

    def of(generation: str, suffix: str) -> list[tuple[dict[str, str], float]]:
        found = prometheus.samples(page, "flowgate_gc_pause_seconds" + suffix)
        return [(labels, value) for labels, value in found if labels.get("generation") == generation]

    out: dict[str, Any] = {}
    for generation in "012":
        out[generation] = {
            "count": sum(value for _, value in of(generation, "_count")),
            "seconds": sum(value for _, value in of(generation, "_sum")),
            "buckets": [(float(labels["le"]), value) for labels, value in of(generation, "_bucket")],
        }
    out["frozen"] = prometheus.value(page, "flowgate_gc_frozen_objects", default=0.0)
    return out


def _pauses_between(before: dict[str, Any], after: dict[str, Any], generation: str) -> dict[str, float]:
    """Collections of one generation between two scrapes: how many, their mean, and the bound of
    the histogram bucket the longest fell in."""
    b, a = before[generation], after[generation]
    count = a["count"] - b["count"]
    longest = 0.0
    for (bound, now), (_, then) in zip(a["buckets"], b["buckets"], strict=True):
        if now - then >= count and count > 0:
            longest = bound
            break
    return {"count": count, "mean": (a["seconds"] - b["seconds"]) / max(1.0, count), "longest_within": longest}


def churn(
    testbed: Testbed, log_dir: Path, cluster: Cluster, freeze: bool, held: int, seconds: float, rate: float
) -> dict[str, Any]:
    """`held` idle subscribers stay while others come and go at `rate` a second for `seconds`
    (each takes its snapshot and leaves); then one change to the held ones. The gateway's own
    pause figures say what its garbage collector cost meanwhile."""
    asyncio.run(cluster.report(["node-1"], "Pending"))
    with gateway(testbed, log_dir, True, "--gc-freeze", "on" if freeze else "off") as gw:
        loads = [LoadProcess(gw.ws, part, SUBSCRIBE_ONE, '"EMITTING"', rate=500) for part in _split(held)]
        for load in loads:
            load.ready()
        time.sleep(2)
        before, rss_before = collector_pauses(gw), gw.rss()
        churned, ends = 0, time.monotonic() + seconds
        while time.monotonic() < ends:
            wave = max(1, int(rate * 2))
            passing = LoadProcess(gw.ws, wave, SUBSCRIBE_ONE, "", rate=rate)
            passing.ready()
            passing.go()
            passing.result()
            churned += wave
        time.sleep(2)
        after, rss_after = collector_pauses(gw), gw.rss()
        for load in loads:
            load.go()
        changed_at = asyncio.run(cluster.report(["node-1"], "Emitting")).sent
        results = [load.result() for load in loads]
    asyncio.run(cluster.report(["node-1"], "Pending"))
    hits = [h - changed_at for r in results for h in r["hits"]]
    return {
        "churned": churned,
        "full": _pauses_between(before, after, "2"),
        "rss_growth_mib": (rss_after - rss_before) / 1024,
        "p99": percentile(hits, 0.99),
        "received": len(hits),
    }


def reconnections(testbed: Testbed, log_dir: Path, freeze: bool, clients: int, rounds: int) -> dict[str, Any]:
    """Every subscriber leaves and comes back, `rounds` times (a proxy restarting, a network blip):
    the gateway's memory while they are connected, each round."""
    held: list[float] = []
    with gateway(testbed, log_dir, True, "--gc-freeze", "on" if freeze else "off") as gw:
        start = gw.rss()
        for _ in range(rounds):
            loads = [LoadProcess(gw.ws, part, SUBSCRIBE_ONE, "", rate=1000) for part in _split(clients)]
            for load in loads:
                load.ready()
            time.sleep(2.5)  # settled (and frozen) as after any wave
            held.append((gw.rss() - start) / 1024)
            for load in loads:
                load.go()
            for load in loads:
                load.result()
            time.sleep(2.5)  # the policy looks once a second
        frozen = collector_pauses(gw)["frozen"]
    return {"held_mib": held, "frozen": frozen}
