"""The projected export cost against what the collectors really receive, on real Open vSwitch.

Three testbed nodes, each with its own ovs-vswitchd (userspace datapath), goflow2 collector and
`flowgate agent`. The project's traffic generator (bench/pktgen.c, the data-plane benchmark's:
UDP between the node's two pods in short flows of 10 packets, 106-byte frames) runs at a different
rate on each busy node; one node carries no traffic at all. Once every agent reports its node's
packet rate (Flow status.traffic, the rate the projection reads), each setting is first asked for
as a dry run (`kubectl flows start ... --dry-run -o json`, which must leave every object's
resourceVersion as it was), then started for real; after the nodes emit, the bytes each node's
collector receives (goflow2's `flow_traffic_bytes_total`: the export datagrams' payload, as the
cost table counts it) are read over a window and compared with the node's projection.

The end-to-end test (tests/e2e/test_projection.py) and `python -m bench --section projection`
share this code; the test asserts the ±35 % bound, the benchmark writes the figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from flowgate_testbed.binaries import find_binary
from flowgate_testbed.dataplane import COLLECTOR_METRICS_NODE_PORT, COLLECTOR_NODE_PORT
from flowgate_testbed.testbed import Testbed

from bench import prometheus
from bench.dataplane import NICE, Traffic, build_generator, generating, renice
from gateway.agent.collector import parse_counts
from gateway.domain.model import FlowType

BOUND = 0.35  # the projection is held to within this fraction of what the collector receives
QUIET_NODE_PPS = 5.0  # a node "carrying no traffic" reports less than this
TRAFFIC_WITHIN = 0.25  # an agent's reported rate, against the rate the generator offers
SETTLE_SECONDS = 5.0  # after every node emits, before the window: OVS's first export cycle
WINDOW_SECONDS = 20.0
STATS_REFRESH_SECONDS = 5.0  # ovs-vswitchd's other_config:stats-update-interval default
BYTES = "goflow2_flow_traffic_bytes_total"


@dataclass(frozen=True)
class Setting:
    """One export setting, as `kubectl flows start` takes it."""

    type: FlowType
    sampling: int | None = None

    @property
    def label(self) -> str:
        return self.type.value + (f" 1/{self.sampling}" if self.sampling is not None else "")

    def argv(self) -> list[str]:
        argv = [self.type.cli_name, "--node-port", str(COLLECTOR_NODE_PORT)]
        return argv + (["--sampling", str(self.sampling)] if self.sampling is not None else [])


# IPFIX at a sampling the table measured; sFlow at one it did not (interpolated in 1/sampling).
SETTINGS = (Setting(FlowType.IPFIX, 64), Setting(FlowType.SFLOW, 128))
# Packets a second offered per node: two rates between the table's measured ones, and none.
RATES = {"node-1": 2_000, "node-2": 12_000, "node-3": 0}


@dataclass(frozen=True)
class Received:
    bytes_per_second: float
    records_per_second: float


@dataclass(frozen=True)
class Comparison:
    """One node under one setting: what was projected and what its collector received."""

    setting: str
    node: str
    offered: int  # packets a second the generator sent (0: no traffic)
    reported: float  # packets a second the node's agent reported into br-int
    projected_bytes: float
    received_bytes: float
    projected_records: float
    received_records: float

    @property
    def error(self) -> float:
        """(projected - received) / received; 0 when both are (near) nothing."""
        if self.received_bytes <= 0:
            return 0.0 if self.projected_bytes <= 0 else float("inf")
        return (self.projected_bytes - self.received_bytes) / self.received_bytes


def collector_counts(tb: Testbed, node: str) -> tuple[float, float]:
    """(payload bytes, flow records) the node's own goflow2 collector has received since it
    started, read from its metrics on the node's address (where the collector Service's `metrics`
    node port leads)."""
    page = tb.node_http_get(node, f"http://{tb.node_ip(node)}:{COLLECTOR_METRICS_NODE_PORT}/metrics")
    payload = sum(value for _, value in prometheus.samples(page, BYTES))
    records = sum(c.records for c in parse_counts(page, tb.node_ip(node)).values())
    return payload, records


def received(tb: Testbed, nodes: Sequence[str], seconds: float) -> dict[str, Received]:
    """What each node's collector received, per second, over a window of `seconds`."""
    before = {node: collector_counts(tb, node) for node in nodes}
    started = time.monotonic()
    time.sleep(seconds)
    after = {node: collector_counts(tb, node) for node in nodes}
    span = time.monotonic() - started
    return {
        node: Received((after[node][0] - before[node][0]) / span, (after[node][1] - before[node][1]) / span)
        for node in nodes
    }


@contextmanager
def offered_traffic(tb: Testbed, log_dir: Path, rates: Mapping[str, int]) -> Iterator[None]:
    """The generator at each node's rate (short flows of 10 packets, as the cost table's traffic);
    a node at 0 carries nothing at all (the testbed's own liveness traffic stopped there too)."""
    binary = build_generator(log_dir)
    # The generator runs at nice -10, as ovs-ctl starts ovs-vswitchd on every node: the switch
    # gets the same, or on a busy machine the sender would starve it and packets would be lost
    # after the port counted them (they are then neither forwarded nor sampled).
    for daemon in tb.daemons():
        if daemon.name.endswith(" ovs-vswitchd") and daemon.pid:
            renice(daemon.pid, NICE)
    quiet = [node for node, rate in rates.items() if rate == 0]
    tb.set_traffic(0, quiet)
    # ovs-vswitchd writes interface counters to its database every 5 s: an agent started sooner
    # would count the last of the stopped traffic as its first rate.
    time.sleep(STATS_REFRESH_SECONDS + 1)
    with ExitStack() as stack:
        for node, rate in rates.items():
            if rate:
                stack.enter_context(generating(binary, tb, node, Traffic(rate, "short")))
        yield


def reported_traffic(flows: Mapping[str, Mapping[str, Any]]) -> dict[str, float | None]:
    """Each node's packet rate as its Flow's status says (the agents' reports)."""
    rates: dict[str, float | None] = {}
    for node, flow in flows.items():
        traffic = (flow.get("status") or {}).get("traffic") or {}
        rate = traffic.get("packetsPerSecond")
        rates[node] = float(rate) if isinstance(rate, int | float) else None
    return rates


def traffic_settled(reported: Mapping[str, float | None], rates: Mapping[str, int]) -> bool:
    """Every agent reports its node's offered rate (within TRAFFIC_WITHIN), a quiet node (near) none."""
    for node, offered in rates.items():
        rate = reported.get(node)
        if rate is None:
            return False
        if offered == 0 and rate >= QUIET_NODE_PPS:
            return False
        if offered and abs(rate - offered) > TRAFFIC_WITHIN * offered:
            return False
    return True


def compare(
    setting: Setting,
    projection: Mapping[str, Any],
    got: Mapping[str, Received],
    rates: Mapping[str, int],
) -> list[Comparison]:
    """Each node's projection (the dry run's JSON) beside what its collector received."""
    rows = []
    for node in projection["nodes"]:
        name = node["node"]
        cost = node.get("cost") or {}
        rows.append(
            Comparison(
                setting=setting.label,
                node=name,
                offered=rates.get(name, 0),
                reported=float(node.get("packetsPerSecond") or 0.0),
                projected_bytes=float(cost.get("exportBytesPerSecond", 0.0)),
                received_bytes=got[name].bytes_per_second,
                projected_records=float(cost.get("recordsPerSecond", 0.0)),
                received_records=got[name].records_per_second,
            )
        )
    return rows


def wait_until(check: Callable[[], bool], timeout: float, what: str, seen: Callable[[], object]) -> float:
    """Seconds until `check` holds; on timeout an error that says what was awaited and seen."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s; last seen {seen()}")
        time.sleep(1.0)
    return time.monotonic() - started


def kubectl(tb: Testbed, *args: str, user: str = "admin") -> subprocess.CompletedProcess[str]:
    """The testbed's real kubectl as `user`, finding this installation's `kubectl-flows` plugin."""
    # kubectl takes no flag before a plugin's name: the kubeconfig goes by environment.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "KUBECONFIG": str(tb.kubeconfig(user))}
    argv = [find_binary("kubectl"), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)


def kubectl_json(tb: Testbed, *args: str, user: str = "admin") -> Any:
    result = kubectl(tb, *args, user=user)
    if result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def flows(tb: Testbed) -> dict[str, dict[str, Any]]:
    return {f["metadata"]["name"]: f for f in kubectl_json(tb, "get", "flows.flowgate.dev", "-o", "json")["items"]}


def resource_versions(tb: Testbed) -> dict[str, str]:
    """FlowExport/cluster's and every Flow's resourceVersion: any write moves one."""
    versions = {}
    for kind in ("flowexports.flowgate.dev", "flows.flowgate.dev"):
        for item in kubectl_json(tb, "get", kind, "-o", "json")["items"]:
            versions[f"{kind}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
    return versions


T = TypeVar("T")


def changing_nothing(tb: Testbed, what: str, ask: Callable[[], T], attempts: int = 3) -> T:
    """`ask()`'s answer, checked to move no object's resourceVersion. The agents write their own
    Flows now and then (at most once a minute each), so a run during which only a Flow moved is
    asked again: a dry run that wrote would move something every time."""
    moved: list[str] = []
    for _ in range(attempts):
        before = resource_versions(tb)
        answer = ask()
        after = resource_versions(tb)
        moved = sorted(k for k in after.keys() | before.keys() if after.get(k) != before.get(k))
        if not moved:
            return answer
        if any(not key.startswith("flows.flowgate.dev/") for key in moved):
            break  # FlowExport/cluster is written by starts only
    raise AssertionError(f"{what} changed {', '.join(moved)} (asked {attempts} times)")


def dry_run(tb: Testbed, setting: Setting) -> dict[str, Any]:
    """The projection as `kubectl flows start ... --dry-run -o json` prints it, asked by the admin
    (who could write), changing nothing."""
    projection: dict[str, Any] = changing_nothing(
        tb,
        f"the dry run of {setting.label}",
        lambda: kubectl_json(tb, "flows", "start", *setting.argv(), "--dry-run", "-o", "json"),
    )
    return projection


def start(tb: Testbed, setting: Setting) -> int:
    result = kubectl(tb, "flows", "start", *setting.argv(), user="admin")
    if result.returncode != 0:
        raise RuntimeError(f"kubectl flows start {setting.label} failed: {result.stderr.strip()}")
    generation = kubectl_json(tb, "get", "flowexports.flowgate.dev", "cluster", "-o", "json")["metadata"]["generation"]
    return int(generation)


def emitting(tb: Testbed, generation: int, nodes: Sequence[str]) -> bool:
    current = flows(tb)
    return all(
        (current.get(n, {}).get("status") or {}).get("state") == "Emitting"
        and (current[n]["status"].get("observedGeneration") or 0) >= generation
        for n in nodes
    )


def run_setting(tb: Testbed, setting: Setting, rates: Mapping[str, int], window: float) -> list[Comparison]:
    """Dry run, start, emit, settle, measure: one setting on every node."""
    projection = dry_run(tb, setting)
    generation = start(tb, setting)
    nodes = list(rates)
    wait_until(lambda: emitting(tb, generation, nodes), 60, f"every node emitting {setting.label}", lambda: flows(tb))
    time.sleep(SETTLE_SECONDS)
    return compare(setting, projection, received(tb, nodes, window), rates)


def table(rows: Sequence[Comparison]) -> list[str]:
    """The comparison as Markdown rows."""
    lines = [
        "| setting | node | offered, packets/s | reported by its agent, packets/s | projected | received by its collector | projected / received |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = f"{row.projected_bytes / row.received_bytes:.2f}" if row.received_bytes > 0 else "—"
        lines.append(
            f"| {row.setting} | {row.node} | {row.offered:,} | {row.reported:,.1f} | "
            f"{row.projected_bytes / 1000:,.2f} kB/s, {row.projected_records:,.1f} records/s | "
            f"{row.received_bytes / 1000:,.2f} kB/s, {row.received_records:,.1f} records/s | {ratio} |"
        )
    return lines
