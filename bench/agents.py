"""Node agents at cluster scale: N agents reconciling against the testbed's real API server, each
with its own connection (as N pods would have), run in one process on the load core with an
in-memory OVS bridge (the API side is what is measured here; the data-plane section measures
OVS). The same N with the agents' watch filtering on and off (every Service and EndpointSlice of
the cluster, the naive baseline), beside a cluster of background Services.

`python -m bench.agents --kubeconfig K --nodes N [--no-filtering]` is the agents' process: it
prints `ready <seconds> <rss KiB>` once every agent reported, and answers `idle` with its CPU
and memory over a quiet window, and `stop` by stopping."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowgate_testbed.testbed import Testbed, free_port

from bench import prometheus
from gateway.agent.agent import NodeAgent
from gateway.agent.ovs import ExportSettings, OvsBridge
from gateway.domain.model import NodeFlowState
from gateway.kube.api import ApiError, KubeApi
from gateway.kube.config import load_kubeconfig
from gateway.kube.http import small_tls_buffers
from gateway.kube.resources import FLOW_EXPORTS, FLOWS
from gateway.watch.informer import Informer

LOAD_CORE = 1
BACKGROUND_NAMESPACE = "bench-apps"
WATCHED = ("flowexports", "nodes", "services", "endpointslices", "networks")
IDLE_SECONDS = 10.0
READY_SECONDS = 300.0  # agents that have not all reported by then are a figure of their own
CONVERGE_SECONDS = 120.0
START_RATE = 200.0  # agents started a second


class MemoryBridge(OvsBridge):
    """br-int held in memory: applies take effect at once and nothing else changes it."""

    def __init__(self) -> None:
        super().__init__("br-int", "/run/bench-ovs")
        self.state: tuple[ExportSettings, ...] = ()

    async def read(self) -> tuple[ExportSettings, ...]:
        return self.state

    async def apply(self, settings: ExportSettings | None) -> None:
        self.state = () if settings is None else (settings,)

    async def check_vswitchd(self) -> None:
        return None

    async def ipfix_stats(self) -> None:
        return None

    async def received_packets(self) -> dict[str, float]:
        return {"LOCAL": 0.0}  # no traffic: the agents read it as real ones do, without running ovs-ofctl

    async def monitor(self, on_change: Callable[[], None], *, retry_max: float = 30.0) -> None:
        await asyncio.Event().wait()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _swarm(kubeconfig: str, nodes: int, filtering: bool) -> None:
    access = await load_kubeconfig(kubeconfig)
    apis = [KubeApi(access, timeout=60, streams=True) for _ in range(nodes)]  # as `flowgate agent` talks
    agents = [
        NodeAgent(
            api,
            f"node-{i}",
            MemoryBridge(),
            sflow_agent="ovn-k8s-mp0",
            resync=30.0,
            scrape_interval=3600.0,  # no collector counters on an API-only testbed
            watch_filtering=filtering,
        )
        for i, api in enumerate(apis, start=1)
    ]
    started = time.monotonic()
    tasks = []
    for index, agent in enumerate(agents):
        tasks.append(asyncio.create_task(agent.run()))
        # As a DaemonSet's pods come up: not all in the same millisecond.
        behind = started + (index + 1) / START_RATE - time.monotonic()
        if behind > 0:
            await asyncio.sleep(behind)

    def reported() -> bool:
        return all(a.reported is not None and a.reported.state is NodeFlowState.DISABLED for a in agents)

    try:
        async with asyncio.timeout(READY_SECONDS):
            while not reported():  # noqa: ASYNC110 - polled: the agents' own state, no event to wait on
                await asyncio.sleep(0.2)
        print(f"ready {time.monotonic() - started:.1f} {rss_kib()}", flush=True)
    except TimeoutError:
        print(f"timeout {time.monotonic() - started:.1f} {rss_kib()}", flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if line == "idle":
            before, at = cpu_seconds(), time.monotonic()
            await asyncio.sleep(IDLE_SECONDS)
            cpu = (cpu_seconds() - before) / (time.monotonic() - at)
            cached = sum(len(a.services) + len(a.slices) for a in agents)
            print(json.dumps({"cpu": cpu, "rss_kib": rss_kib(), "cached": cached}), flush=True)
        elif line in ("stop", ""):
            break
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.gather(*(api.close() for api in apis))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.agents")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--no-filtering", action="store_true")
    args = parser.parse_args()
    small_tls_buffers()  # as `flowgate agent` does
    asyncio.run(_swarm(args.kubeconfig, args.nodes, not args.no_filtering))


# -- the driver's side ---------------------------------------------------------------------------


async def seed_background(testbed: Testbed, count: int) -> None:
    """`count` ordinary Services, each with an EndpointSlice of three pods: what any cluster runs
    beside the collector, and what an unfiltered agent caches. Headless (the testbed's service
    range is small); to the agents' filter they are ClusterIP Services like any other."""
    async with KubeApi(await load_kubeconfig(testbed.kubeconfig("admin")), timeout=60) as api:
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": BACKGROUND_NAMESPACE}}
        try:
            await api.request("POST", "/api/v1/namespaces", body=namespace)
        except ApiError as exc:
            if not exc.conflict:
                raise
            return  # seeded by an earlier scenario
        semaphore = asyncio.Semaphore(32)

        async def one(i: int) -> None:
            name = f"app-{i}"
            service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": {"app": name}},
                       "spec": {"clusterIP": "None", "selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}  # fmt: skip
            endpoints = [{"addresses": [f"10.128.{i % 250}.{k + 1}"], "nodeName": f"node-{(i * 3 + k) % 100 + 1}",
                          "conditions": {"ready": True}} for k in range(3)]  # fmt: skip
            slice_ = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                      "metadata": {"name": f"{name}-x", "labels": {"kubernetes.io/service-name": name}},
                      "endpoints": endpoints, "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}  # fmt: skip
            async with semaphore:
                await api.request("POST", f"/api/v1/namespaces/{BACKGROUND_NAMESPACE}/services", body=service)
                await api.request(
                    "POST", f"/apis/discovery.k8s.io/v1/namespaces/{BACKGROUND_NAMESPACE}/endpointslices", body=slice_
                )

        await asyncio.gather(*(one(i) for i in range(count)))


async def _set_export(testbed: Testbed, flow_type: str | None) -> int:
    async with KubeApi(await load_kubeconfig(testbed.kubeconfig("admin")), timeout=60) as api:
        current = await api.get_or_none(FLOW_EXPORTS, "cluster")
        spec = {"type": flow_type} if flow_type else {}  # the default collector: role=flows-collector
        if current is None:
            body = {"apiVersion": "flowgate.dev/v1alpha1", "kind": "FlowExport", "metadata": {"name": "cluster"}}
            written = await api.create(FLOW_EXPORTS, {**body, "spec": spec})
        else:
            current["spec"] = spec
            written = await api.replace(FLOW_EXPORTS, current)
        return int(written["metadata"]["generation"])


async def _apiserver_metrics(testbed: Testbed) -> str:
    """The API server's /metrics page."""
    async with KubeApi(await load_kubeconfig(testbed.kubeconfig("admin")), timeout=60) as api:
        return await api.text("/metrics")


def _watches(page: str) -> dict[str, float]:
    """The API server's open watches per kind (apiserver_longrunning_requests, verb WATCH)."""
    counts = dict.fromkeys(WATCHED, 0.0)
    for labels, value in prometheus.samples(page, "apiserver_longrunning_requests"):
        if labels.get("verb") == "WATCH" and labels.get("resource") in counts:
            counts[labels["resource"]] += value
    return counts


def _collector_bytes(page: str) -> float:
    """Bytes the API server has sent of Services and EndpointSlices since it started: LIST
    responses and watch events (apiserver_response_sizes, apiserver_watch_events_sizes)."""
    total = 0.0
    for labels, value in prometheus.samples(page, "apiserver_response_sizes_sum"):
        if labels.get("verb") == "LIST" and labels.get("resource") in ("services", "endpointslices"):
            total += value
    for labels, value in prometheus.samples(page, "apiserver_watch_events_sizes_sum"):
        if {labels.get("kind"), labels.get("resource")} & {"Service", "EndpointSlice", "services", "endpointslices"}:
            total += value
    return total


def _heap_in_use(page: str) -> float:
    """The API server's Go heap in use, in bytes (go_memstats_heap_inuse_bytes)."""
    return prometheus.value(page, "go_memstats_heap_inuse_bytes")


async def _all_emitting(testbed: Testbed, nodes: int, generation: int, timeout: float) -> float:
    """Seconds until Flow/node-1..N all say Emitting for `generation`, from one watch."""
    wanted = {f"node-{i}" for i in range(1, nodes + 1)}
    async with KubeApi(await load_kubeconfig(testbed.kubeconfig("admin")), timeout=60) as api:
        flows = Informer.on_api(api, FLOWS)
        done = asyncio.Event()

        def check(_event: Any = None) -> None:
            emitting = {
                o["metadata"]["name"]
                for o in flows.items()
                if (o.get("status") or {}).get("state") == "Emitting"
                and (o.get("status") or {}).get("observedGeneration") == generation
            }
            if wanted <= emitting:
                done.set()

        flows.add_listener(check)
        task = asyncio.create_task(flows.run())
        started = time.monotonic()
        try:
            await flows.synced.wait()
            check()
            async with asyncio.timeout(timeout):
                await done.wait()
            return time.monotonic() - started
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def at_scale(
    testbed: Testbed, log_dir: Path, nodes: int, filtering: bool, progress: Callable[[str], None]
) -> dict[str, Any]:
    """N agents ready, then startFlows (as FlowExport written) → every node Emitting; the API
    server's watches and memory, the agents' idle CPU and memory."""
    asyncio.run(_set_export(testbed, None))
    # A fresh API server for every run: a Go heap grown by an earlier run does not give memory back.
    testbed.stop_apiserver()
    testbed.start_apiserver()
    time.sleep(5)
    apiserver = testbed.apiserver_pid
    assert apiserver is not None
    apiserver_before, heap_before = rss_kib(apiserver), _heap_in_use(asyncio.run(_apiserver_metrics(testbed)))
    log = open(log_dir / f"agents-{nodes}-{'filtered' if filtering else 'unfiltered'}.log", "w")
    argv = [
        sys.executable,
        "-m",
        "bench.agents",
        "--kubeconfig",
        str(testbed.kubeconfig("admin")),
        "--nodes",
        str(nodes),
    ]
    if not filtering:
        argv.append("--no-filtering")
    swarm = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        preexec_fn=lambda: os.sched_setaffinity(0, {LOAD_CORE}),
    )
    assert swarm.stdin is not None and swarm.stdout is not None
    try:
        ready = swarm.stdout.readline().split()
        if not ready or ready[0] not in ("ready", "timeout"):
            raise RuntimeError(f"the agents' process failed (see {log.name})")
        what = f"{nodes:,} agents ({'filtered' if filtering else 'unfiltered'} watches)"
        converged: float | None = None
        if ready[0] == "ready":
            progress(f"{what} reported in {ready[1]} s")
            generation = asyncio.run(_set_export(testbed, "NetFlow"))
            try:
                converged = asyncio.run(_all_emitting(testbed, nodes, generation, timeout=CONVERGE_SECONDS))
                progress(f"startFlows → {nodes:,} nodes Emitting in {converged:.1f} s")
            except TimeoutError:
                progress(f"startFlows → {nodes:,} nodes: not all Emitting within {CONVERGE_SECONDS:.0f} s")
        else:
            progress(f"{what}: not all reported within {READY_SECONDS:.0f} s")
        time.sleep(2)
        page = asyncio.run(_apiserver_metrics(testbed))  # while exporting: the collector's kinds are watched too
        watches, sent = _watches(page), _collector_bytes(page)
        swarm.stdin.write("idle\n")
        swarm.stdin.flush()
        idle = json.loads(swarm.stdout.readline())
        apiserver_after, heap_after = rss_kib(apiserver), _heap_in_use(asyncio.run(_apiserver_metrics(testbed)))
    finally:
        if swarm.poll() is None:
            swarm.stdin.write("stop\n")
            swarm.stdin.flush()
            try:
                swarm.wait(60)
            except subprocess.TimeoutExpired:
                swarm.kill()
                swarm.wait()
        log.close()
    asyncio.run(_set_export(testbed, None))
    return {
        "ready": ready[0] == "ready",
        "ready_seconds": float(ready[1]),
        "converged_seconds": converged,
        "watches": watches,
        "watches_per_agent": sum(watches.values()) / nodes,
        "collector_watches_per_agent": (watches["services"] + watches["endpointslices"]) / nodes,
        "collector_mib_sent": sent / 2**20,
        "apiserver_growth_mib": (apiserver_after - apiserver_before) / 1024,
        "apiserver_heap_growth_mib": (heap_after - heap_before) / 2**20,
        "agent_cpu_percent": 100 * idle["cpu"] / nodes,
        "agent_rss_mib": idle["rss_kib"] / 1024 / nodes,
        "process_rss_mib": idle["rss_kib"] / 1024,
        "cached_per_agent": idle["cached"] / nodes,
    }


def single_agent(testbed: Testbed, log_dir: Path) -> dict[str, Any]:
    """One `flowgate agent` process as one pod of the DaemonSet runs it (its /metrics served),
    idle after its first reconcile: CPU over a quiet window, resident memory, and what that memory
    is made of (smaps: the shared libraries mapped in, and the rest; the interpreter alone, and
    with the agent's modules imported, each in a process of its own)."""
    log_path = log_dir / "agent-single.log"
    argv = [sys.executable, "-m", "gateway.main", "agent", "--node", "node-1",
            "--kubeconfig", str(testbed.kubeconfig("admin")), "--ovs-rundir", str(log_dir / "no-ovs"),
            "--metrics-address", f"127.0.0.1:{free_port()}"]  # fmt: skip
    with open(log_path, "w") as log:
        agent = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[1])
        try:
            time.sleep(5)  # started, listed, reconciled once (OVS is absent: it reports so and waits)
            if agent.poll() is not None:
                raise RuntimeError(f"the agent exited; see {log_path}")

            def ticks() -> int:
                stat = Path(f"/proc/{agent.pid}/stat").read_text()
                fields = stat[stat.rindex(")") + 2 :].split()
                return int(fields[11]) + int(fields[12])

            before, at = ticks(), time.monotonic()
            time.sleep(IDLE_SECONDS)
            cpu = (ticks() - before) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - at)
            mapped = smaps(agent.pid)
            return {
                "cpu_percent": 100 * cpu,
                "rss_mib": rss_kib(agent.pid) / 1024,
                "libraries_mib": mapped["libraries"] / 1024,
                "anonymous_mib": mapped["anonymous"] / 1024,
                "largest_libraries": mapped["largest"],
                **_imports_by_package(),
            }
        finally:
            agent.terminate()
            try:
                agent.wait(15)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()


def smaps(pid: int) -> dict[str, Any]:
    """Resident KiB of a process: in files it maps (the interpreter and shared libraries, the same
    pages for every Python process on the node) and anonymous (its own objects); the largest files."""
    files: dict[str, int] = {}
    anonymous = 0
    name = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and ":" not in fields[0]:
            name = fields[5] if len(fields) > 5 and fields[5].startswith("/") else "[anon]"
        elif fields and fields[0] == "Rss:":
            if name == "[anon]":
                anonymous += int(fields[1])
            else:
                files[name] = files.get(name, 0) + int(fields[1])
    largest = sorted(files.items(), key=lambda item: -item[1])[:3]
    return {
        "libraries": sum(files.values()),
        "anonymous": anonymous,
        "largest": [(Path(n).name, k) for n, k in largest],
    }


# What the agent's imports are, in the order they come in: each step's growth of a fresh process.
IMPORT_STEPS = (
    ("asyncio with ssl (OpenSSL)", "import asyncio, ssl"),
    ("logging, argparse, json, dataclasses", "import logging, argparse, json, dataclasses"),
    (
        "kubernetes_asyncio's Configuration and kubeconfig loader, YAML",
        "import gateway.kube.config, gateway.kube.api, kubernetes_asyncio.config",
    ),
    ("flowgate's domain and watch layer", "import gateway.domain.delivery, gateway.watch.informer"),
    ("the agent, its OVS driver and metrics, the command line", "import gateway.main, gateway.agent.command"),
)


def _imports_by_package() -> dict[str, Any]:
    """A bare interpreter's resident MiB, then each step's growth and where they end."""
    probe = [
        "import re",
        "rss = lambda: int(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read())[1])",
        "out = [rss()]",
    ]
    for _, statement in IMPORT_STEPS:
        probe += [statement, "out.append(rss())"]
    probe.append("print(out)")
    found = json.loads(
        subprocess.run([sys.executable, "-c", "\n".join(probe)], capture_output=True, text=True, check=True).stdout
    )
    return {
        "interpreter_mib": found[0] / 1024,
        "imported_mib": found[-1] / 1024,
        "packages": [(label, (found[i + 1] - found[i]) / 1024) for i, (label, _) in enumerate(IMPORT_STEPS)],
    }


if __name__ == "__main__":
    main()
