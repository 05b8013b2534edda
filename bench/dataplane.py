"""What flow export costs a node, measured on real Open vSwitch.

One OVS testbed node (its own ovsdb-server and ovs-vswitchd, userspace datapath, bridge br-int)
forwards UDP between its two pod namespaces at a fixed rate, made by bench/pktgen.c. For each
export setting, configured with the node agent's own `desired_settings` and `build_transaction`,
the benchmark measures over fixed windows: ovs-vswitchd's CPU (utime+stime from /proc/<pid>/stat)
and memory (VmRSS), the export traffic the node's collector receives (goflow2's metrics) and what
crossed the node's interface (the node namespace's `lo`: the collector listens on the node's own
address, as a node-local NodePort collector does), the records the collector decoded, and the rate
the receiving pod achieved. Every figure is reported as the difference against Disabled windows
measured in the same scenario, interleaved with the others, with the spread over the windows."""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from flowgate_testbed.binaries import find_binary, find_tool
from flowgate_testbed.dataplane import COLLECTOR_NODE_PORT, pod_ip, udp_port_bound
from flowgate_testbed.netns import enter
from flowgate_testbed.procs import Daemon, wait_until
from flowgate_testbed.testbed import Testbed

from gateway.agent.ovs import DEFAULT_BRIDGE, DEFAULT_SFLOW_AGENT, build_transaction, desired_settings
from gateway.domain.model import CollectorTarget, FlowExportSpec, FlowType

GOFLOW2_HTTP_PORT = 9180  # the benchmark's collector's metrics, on the node namespace's own loopback

NODE = "node-1"
TRAFFIC_PORT = 6000  # the testbed's liveness traffic uses 5000
PAYLOAD = 64  # UDP payload bytes: 106-byte frames
LONG_FLOWS = 4  # "a few long flows": this many 5-tuples for the whole scenario
SHORT_FLOW_PACKETS = 10  # "many short flows": each 5-tuple carries this many packets, then a new one starts
# NetFlow active_timeout and IPFIX cache_active_timeout. Flowgate's default is 60 s; 10 s lets a
# window of seconds see long flows exported (their record rate scales as 1/timeout; short flows
# are exported when they end, whatever the timeout, and the CPU cost does not depend on it).
ACTIVE_TIMEOUT = 10
# ovs-ctl starts ovs-vswitchd at nice -10 on every node; the generator gets the same so that the
# offered rate does not depend on other load on a shared machine.
NICE = -10
CLK_TCK = os.sysconf("SC_CLK_TCK")

T = TypeVar("T")


@dataclass(frozen=True)
class Setting:
    """One export configuration, as an admin would ask for it."""

    type: FlowType | None
    sampling: int | None = None
    cache_max_flows: int | None = None

    @property
    def label(self) -> str:
        if self.type is None:
            return "Disabled"
        text = self.type.value
        if self.sampling is not None:
            text += f" 1/{self.sampling}"
        if self.cache_max_flows is not None:
            text += f", cache {self.cache_max_flows:,} flows"
        return text

    def spec(self) -> FlowExportSpec:
        return FlowExportSpec(
            type=self.type,
            collector=CollectorTarget(node_port=COLLECTOR_NODE_PORT),
            sampling=self.sampling,
            active_timeout_seconds=ACTIVE_TIMEOUT,
            cache_max_flows=self.cache_max_flows,
        )


DISABLED = Setting(None)


@dataclass(frozen=True)
class Traffic:
    rate: int  # packets per second offered by the sending pod (0: as fast as it can)
    shape: str  # "long" or "short"

    @property
    def argument(self) -> str:
        return f"long:{LONG_FLOWS}" if self.shape == "long" else f"short:{SHORT_FLOW_PACKETS}"

    @property
    def label(self) -> str:
        what = f"{LONG_FLOWS} long flows" if self.shape == "long" else f"short flows of {SHORT_FLOW_PACKETS} packets"
        return f"{self.rate:,} packets/s, {what}" if self.rate else f"unthrottled, {what}"


@dataclass(frozen=True)
class Plan:
    rates: tuple[int, ...]
    shapes: tuple[str, ...]
    settings: tuple[Setting, ...]
    window: float  # seconds per measurement window
    windows: int  # windows per setting (Disabled: per block)
    settle: float  # seconds after a switch before measuring
    netflow_settle: float  # NetFlow reaches steady state once its first flows expire
    disabled_every: int  # a Disabled block after this many settings
    probe_seconds: float  # the unthrottled run that shows the forwarding ceiling (0: none)

    def traffics(self) -> list[Traffic]:
        return [Traffic(rate, shape) for rate in self.rates for shape in self.shapes]

    def schedule(self) -> list[Setting]:
        """Disabled first, after every `disabled_every` settings, and last, so that drift from other
        load on the machine shows in the baseline rather than in one setting's figure."""
        order: list[Setting] = [DISABLED]
        for index, setting in enumerate(self.settings, start=1):
            order.append(setting)
            if index % self.disabled_every == 0 or index == len(self.settings):
                order.append(DISABLED)
        return order


FULL_SETTINGS = (
    Setting(FlowType.NETFLOW),
    Setting(FlowType.IPFIX, 400),
    Setting(FlowType.IPFIX, 64),
    Setting(FlowType.IPFIX, 1),
    Setting(FlowType.SFLOW, 400),
    Setting(FlowType.SFLOW, 64),
    Setting(FlowType.SFLOW, 1),
)
FULL = Plan(
    rates=(1000, 10000, 50000),
    shapes=("long", "short"),
    settings=FULL_SETTINGS,
    window=4.0,
    windows=3,
    settle=3.0,
    netflow_settle=ACTIVE_TIMEOUT + 3.0,
    disabled_every=3,
    probe_seconds=5.0,
)
QUICK = Plan(
    rates=(10000,),
    shapes=("short",),
    settings=(Setting(FlowType.NETFLOW), Setting(FlowType.IPFIX, 64), Setting(FlowType.SFLOW, 64)),
    window=3.0,
    windows=2,
    settle=2.0,
    netflow_settle=ACTIVE_TIMEOUT + 2.0,
    disabled_every=3,
    probe_seconds=0.0,
)


# -- measuring -------------------------------------------------------------------------------------


def cpu_ticks(pid: int) -> int:
    """utime + stime of every thread of the process, in clock ticks."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def interface_tx(pid: int, interface: str) -> tuple[int, int]:
    """(bytes, packets) sent by `interface` in the network namespace of `pid`."""
    for line in Path(f"/proc/{pid}/net/dev").read_text().splitlines():
        name, _, counters = line.partition(":")
        if name.strip() == interface:
            values = counters.split()
            return int(values[8]), int(values[9])
    raise RuntimeError(f"no interface {interface} in the network namespace of process {pid}")


def renice(pid: int, nice: int) -> None:
    """Every thread of the process (nice is per thread on Linux; new threads inherit it)."""
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            os.setpriority(os.PRIO_PROCESS, int(task), nice)
        except OSError:
            pass  # a thread that just ended


class NetnsWorker:
    """A thread living in one network namespace (setns moves only the calling thread), for
    requests to addresses that exist only there, such as goflow2's metrics on the node's loopback."""

    def __init__(self, netns: str) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, initializer=enter, initargs=(netns,))

    def call(self, fn: Callable[[], T]) -> T:
        return self.pool.submit(fn).result(timeout=30)

    def close(self) -> None:
        self.pool.shutdown(wait=True)


# goflow2's counters (DESIGN: names prefixed goflow2_; records per protocol as goflow2 counts them).
DECODED_BYTES = "goflow2_flow_traffic_bytes_total"
DECODED_DATAGRAMS = "goflow2_flow_traffic_packets_total"
DROPPED_DATAGRAMS = "goflow2_flow_dropped_packets_total"  # its queue was full
RECORD_COUNTERS = (
    ("goflow2_flow_process_nf_flowset_total", 'type="DataFlowSet"', 'version="5"'),  # NetFlow v5: the header's count
    ("goflow2_flow_process_nf_flowset_records_total", 'type="DataFlowSet"', 'version="10"'),  # IPFIX data records
    ("goflow2_flow_process_sf_samples_total", 'type="FlowSample"', ""),  # sFlow flow samples
)


def parse_metrics(text: str) -> dict[str, float]:
    """goflow2's traffic counters and its decoded records (all protocols), summed over labels."""
    sums = {DECODED_BYTES: 0.0, DECODED_DATAGRAMS: 0.0, DROPPED_DATAGRAMS: 0.0, "records": 0.0}
    for line in text.splitlines():
        if not line.startswith("goflow2_"):
            continue
        name, _, value = line.rpartition(" ")
        metric = name.split("{", 1)[0]
        if metric in sums:
            sums[metric] += float(value)
        for counter, kind, version in RECORD_COUNTERS:
            if metric == counter and kind in name and version in name:
                sums["records"] += float(value)
    return sums


def udp_counters(pid: int) -> dict[str, int]:
    """The kernel's UDP counters of the network namespace of `pid` (/proc/<pid>/net/snmp)."""
    lines = [line.split() for line in Path(f"/proc/{pid}/net/snmp").read_text().splitlines() if line.startswith("Udp:")]
    return dict(zip(lines[0][1:], (int(v) for v in lines[1][1:]), strict=True))


class Collector:
    """goflow2 on <node IP>:30001 in place of the testbed's own (which appends every record to
    flows.jsonl): it decodes everything and writes nothing (binary format to /dev/null), so the
    benchmark measures the exporter, not a JSON writer. Started afresh for every setting, so its
    counters and queue hold that setting's datagrams only. How many datagrams arrive comes from
    the kernel as they come; goflow2 counts what it has decoded, which may trail behind its queue
    on a busy machine, so it supplies the bytes and records per datagram."""

    def __init__(self, tb: Testbed, node: str, log_dir: Path) -> None:
        self.tb = tb
        self.node = node
        self.daemon: Daemon | None = None
        self.worker = NetnsWorker(tb.netns(node))
        self.log = log_dir / "collector.log"

    def restart(self) -> None:
        if self.daemon is None:
            self.tb.stop_collector(self.node)
        else:
            self.daemon.stop()
        address = self.tb.node_ip(self.node)
        argv = [
            find_tool("ip", "iproute2"), "netns", "exec", self.tb.netns(self.node), find_binary("goflow2"),
            "-listen", f"flow://{address}:{COLLECTOR_NODE_PORT}", "-transport", "file",
            "-transport.file", os.devnull, "-format", "bin", "-addr", f"127.0.0.1:{GOFLOW2_HTTP_PORT}",
        ]  # fmt: skip
        self.daemon = self.tb.start_process(f"{self.node} bench collector", argv, self.log)
        daemon = self.daemon
        if not wait_until(lambda: udp_port_bound(daemon.pid, COLLECTOR_NODE_PORT) or not daemon.running(), 10):
            raise RuntimeError(f"goflow2 did not listen on {address}:{COLLECTOR_NODE_PORT} within 10 s")
        daemon.check_running()

    @property
    def pid(self) -> int:
        assert self.daemon is not None
        return self.daemon.pid

    def metrics(self) -> dict[str, float]:
        """goflow2's counters since it started, read from inside the node's namespace."""

        def get() -> str:
            url = f"http://127.0.0.1:{GOFLOW2_HTTP_PORT}/metrics"
            with urllib.request.urlopen(url, timeout=10) as answer:
                return str(answer.read().decode())

        return parse_metrics(self.worker.call(get))

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
        self.worker.close()


def build_generator(log_dir: Path) -> Path:
    """bench/pktgen.c compiled for this machine (cached by the source's hash)."""
    source = Path(__file__).with_name("pktgen.c")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "flowgate" / "bench"
    binary = cache / f"pktgen-{digest}"
    if binary.exists():
        return binary
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("the data-plane benchmark needs a C compiler (cc or gcc) to build its traffic generator")
    cache.mkdir(parents=True, exist_ok=True)
    partial = log_dir / "pktgen"
    result = subprocess.run(
        [compiler, "-O2", "-Wall", "-Wextra", "-pthread", "-o", str(partial), str(source)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"building the traffic generator failed: {result.stderr.strip()}")
    shutil.copy2(partial, binary)
    return binary


class Generator:
    """bench/pktgen between the node's two pods; running totals on request."""

    def __init__(self, binary: Path, tb: Testbed, node: str, traffic: Traffic) -> None:
        index = tb.node_names.index(node) + 1
        sender, receiver = tb.pod_netns(node)
        argv = [str(binary), sender, pod_ip(index, 3), receiver, pod_ip(index, 4), str(TRAFFIC_PORT),
                str(traffic.rate), traffic.argument, str(PAYLOAD)]  # fmt: skip
        # It stops at the end of its stdin: if this process dies, so does the traffic.
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=lambda: os.nice(NICE)
        )

    def counters(self) -> tuple[int, int, int]:
        """(sent, received, send errors) since it started."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("c\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline().split()
        if len(line) != 4:
            raise RuntimeError(f"the traffic generator stopped (exit code {self.process.poll()})")
        return int(line[0]), int(line[1]), int(line[2])

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            try:
                self.process.stdin.write("q\n")
                self.process.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def generating(binary: Path, tb: Testbed, node: str, traffic: Traffic) -> Iterator[Generator]:
    generator = Generator(binary, tb, node, traffic)
    try:
        yield generator
    finally:
        generator.stop()


@dataclass
class Window:
    """Rates over one window (per second), and memory at its end."""

    seconds: float
    cpu: float  # ovs-vswitchd, % of one core
    rss_kib: int  # ovs-vswitchd
    collector_cpu: float  # goflow2 decoding, % of one core
    exported: float  # datagrams the node's exporter sent (the node namespace's UDP OutDatagrams)
    interface_bytes: float  # bytes and packets the node namespace's lo carried (the export, headers included)
    interface_packets: float
    delivered: float  # datagrams the kernel delivered to the collector's socket
    socket_drops: float  # datagrams lost at the collector's full socket
    export_bytes: float  # export payload bytes arriving at the collector (delivered or lost at its socket)
    records: float  # flow records arriving at the collector
    decoded: float  # datagrams goflow2 decoded (below `delivered` when it falls behind)
    sent: float  # packets the sending pod sent
    received: float  # packets the receiving pod got
    send_errors: float
    load: float  # the machine's 1-minute load average at the end


@dataclass
class Snapshot:
    at: float
    vswitchd: int
    collector: int
    interface: tuple[int, int]
    udp: dict[str, int]
    generator: tuple[int, int, int]


class Node:
    """What the benchmark reads and drives on one testbed node."""

    def __init__(self, tb: Testbed, node: str, collector: Collector) -> None:
        self.tb = tb
        self.name = node
        self.collector = collector
        self.vswitchd = next(d.pid for d in tb.daemons() if d.name == f"{node} ovs-vswitchd")
        self.target = f"{tb.node_ip(node)}:{COLLECTOR_NODE_PORT}"

    def switch(self, setting: Setting) -> None:
        """A fresh ovs-vswitchd (so its memory is what this setting makes it hold: a process keeps
        what it once allocated) and a fresh collector, then `setting` applied with the node agent's
        own transaction."""
        self.tb.ovs_vsctl(self.name, *build_transaction(DEFAULT_BRIDGE, None))
        self.vswitchd = self.tb.restart_ovs_vswitchd(self.name)
        renice(self.vswitchd, NICE)
        self.collector.restart()  # before the exporter starts: IPFIX sends its templates first
        settings = desired_settings(setting.spec(), [self.target], DEFAULT_SFLOW_AGENT)
        # ovs-vsctl returns once ovs-vswitchd has applied the transaction.
        self.tb.ovs_vsctl(self.name, *build_transaction(DEFAULT_BRIDGE, settings))
        renice(self.vswitchd, NICE)  # threads the new configuration started

    def snapshot(self, generator: Generator) -> Snapshot:
        return Snapshot(
            time.monotonic(),
            cpu_ticks(self.vswitchd),
            cpu_ticks(self.collector.pid),
            interface_tx(self.vswitchd, "lo"),
            udp_counters(self.vswitchd),
            generator.counters(),
        )

    def window(self, generator: Generator, seconds: float) -> Window:
        # goflow2's metrics are read outside [first, last], so that HTTP never counts as export on lo.
        before = self.collector.metrics()
        first = self.snapshot(generator)
        time.sleep(seconds)
        last = self.snapshot(generator)
        decoded = self.collector.metrics()
        span = last.at - first.at

        def rate(new: int, old: int) -> float:
            return (new - old) / span

        delivered = rate(last.udp["InDatagrams"], first.udp["InDatagrams"])
        socket_drops = rate(last.udp["RcvbufErrors"], first.udp["RcvbufErrors"])
        # Every datagram that arrived, whether goflow2 has decoded it yet or lost it at its full
        # socket, made up like those it decoded meanwhile (since this setting began if none: the
        # exporter's first datagrams, IPFIX templates, are larger than the rest).
        datagrams = decoded[DECODED_DATAGRAMS]
        recent = datagrams - before[DECODED_DATAGRAMS]
        per_datagram = {
            key: (decoded[key] - before[key]) / recent if recent else decoded[key] / datagrams if datagrams else 0.0
            for key in (DECODED_BYTES, "records")
        }
        arrived = delivered + socket_drops
        return Window(
            seconds=span,
            cpu=100.0 * rate(last.vswitchd, first.vswitchd) / CLK_TCK,
            rss_kib=rss_kib(self.vswitchd),
            collector_cpu=100.0 * rate(last.collector, first.collector) / CLK_TCK,
            exported=rate(last.udp["OutDatagrams"], first.udp["OutDatagrams"]),
            interface_bytes=rate(last.interface[0], first.interface[0]),
            interface_packets=rate(last.interface[1], first.interface[1]),
            delivered=delivered,
            socket_drops=socket_drops,
            export_bytes=arrived * per_datagram[DECODED_BYTES],
            records=arrived * per_datagram["records"],
            decoded=recent / span,
            sent=rate(last.generator[0], first.generator[0]),
            received=rate(last.generator[1], first.generator[1]),
            send_errors=rate(last.generator[2], first.generator[2]),
            load=os.getloadavg()[0],
        )


# -- the run ---------------------------------------------------------------------------------------


@dataclass
class Scenario:
    traffic: Traffic
    windows: dict[Setting, list[Window]] = field(default_factory=dict)
    load_before: float = 0.0
    load_after: float = 0.0

    def add(self, setting: Setting, window: Window) -> None:
        self.windows.setdefault(setting, []).append(window)


@dataclass
class Measurement:
    plan: Plan
    scenarios: list[Scenario]
    probes: list[tuple[Traffic, Window]]  # unthrottled runs with export disabled
    ovs_version: str
    seconds: float


Progress = Callable[[str], None]


def measure(plan: Plan, log_dir: Path, progress: Progress) -> Measurement:
    started = time.monotonic()
    binary = build_generator(log_dir)
    progress("starting a testbed with one Open vSwitch node ...")
    with Testbed(log_dir / "tb", nodes=1, ovs=True, progress=lambda m: progress(f"testbed: {m}")) as tb:
        collector = Collector(tb, NODE, log_dir)
        try:
            node = Node(tb, NODE, collector)
            # "ovs-vswitchd (Open vSwitch) 3.1.0"
            version = subprocess.run(
                [find_tool("ovs-vswitchd", "openvswitch-switch"), "--version"], capture_output=True, text=True
            ).stdout.splitlines()[0]
            version = "Open vSwitch " + version.split()[-1]
            probes: list[tuple[Traffic, Window]] = []
            if plan.probe_seconds:
                node.switch(DISABLED)
                for shape in plan.shapes:
                    traffic = Traffic(0, shape)
                    with generating(binary, tb, NODE, traffic) as generator:
                        time.sleep(plan.settle)
                        window = node.window(generator, plan.probe_seconds)
                    probes.append((traffic, window))
                    progress(f"{traffic.label}: sent {window.sent:,.0f}/s, forwarded {window.received:,.0f}/s")
            scenarios = [run_scenario(plan, node, binary, traffic, progress) for traffic in plan.traffics()]
        finally:
            collector.stop()
    return Measurement(plan, scenarios, probes, version, time.monotonic() - started)


def run_scenario(plan: Plan, node: Node, binary: Path, traffic: Traffic, progress: Progress) -> Scenario:
    scenario = Scenario(traffic, load_before=os.getloadavg()[0])
    progress(f"{traffic.label} (load average {scenario.load_before:.1f})")
    with generating(binary, node.tb, node.name, traffic) as generator:
        for setting in plan.schedule():
            node.switch(setting)
            time.sleep(plan.netflow_settle if setting.type is FlowType.NETFLOW else plan.settle)
            for _ in range(plan.windows):
                scenario.add(setting, node.window(generator, plan.window))
            windows = scenario.windows[setting][-plan.windows :]
            progress(
                f"  {setting.label:<12} vswitchd {mean(w.cpu for w in windows):5.1f} % of a core, "
                f"{mean(w.rss_kib for w in windows) / 1024:5.1f} MiB; "
                f"export {mean(w.export_bytes for w in windows) / 1000:7.1f} kB/s, "
                f"{mean(w.exported for w in windows):7,.0f} datagrams/s, "
                f"{mean(w.records for w in windows):7,.0f} records/s; "
                f"forwarded {mean(w.received for w in windows):7,.0f}/s"
            )
    scenario.load_after = os.getloadavg()[0]
    return scenario


def mean(values: Iterator[float] | Sequence[float]) -> float:
    data = list(values)
    return statistics.fmean(data) if data else float("nan")


def spread(values: Sequence[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def as_dict(window: Window) -> dict[str, Any]:
    return dict(window.__dict__)
