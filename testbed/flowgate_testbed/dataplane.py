"""One simulated node's data plane: a network namespace holding a real ovsdb-server + ovs-vswitchd
(userspace datapath) with bridge br-int, the management port ovn-k8s-mp0, two pod namespaces
exchanging UDP through br-int, and a goflow2 collector on the node's IP. Node namespaces are joined
by a Linux bridge in a per-testbed namespace, so node IPs reach each other but nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowgate_testbed.binaries import find_binary, find_tool
from flowgate_testbed.errors import TestbedError
from flowgate_testbed.procs import Daemon, wait_until

BRIDGE = "br-int"
MGMT_PORT = "ovn-k8s-mp0"  # OVN-Kubernetes' management port, the sFlow agent interface
NODE_SUBNET = "10.89.0"  # node InternalIPs 10.89.0.<n>/24; the bridge namespace is .254
COLLECTOR_NODE_PORT = 30001
COLLECTOR_PORT = 2055  # the collector pod's port behind the NodePort
COLLECTOR_METRICS_NODE_PORT = 30002  # goflow2's Prometheus metrics, the Service's port named `metrics`
COLLECTOR_METRICS_PORT = 8080  # the collector pod's metrics port behind that NodePort
TRAFFIC_PORT = 5000
OVS_EXIT_SECONDS = 15.0  # `ovs-appctl exit --cleanup`; past it the daemon is terminated by pid
OVS_SCHEMA_CANDIDATES = ("/usr/share/openvswitch/vswitch.ovsschema", "/usr/local/share/openvswitch/vswitch.ovsschema")


def node_ip(index: int) -> str:
    """10.89.0.1-250 for the first 250 nodes (the OVS nodes' shared /24); API-only testbeds of
    thousands of nodes go on in 10.89.1.x, 10.89.2.x, …"""
    block, host = divmod(index - 1, 250)
    return f"10.89.{block}.{host + 1}" if block else f"{NODE_SUBNET}.{index}"


def pod_subnet(index: int) -> str:
    return f"{_pod_prefix(index)}.0/24"


def pod_ip(index: int, host: int) -> str:
    """.2 is ovn-k8s-mp0 (as in OVN-Kubernetes), .3 and .4 the traffic pods, .5 the collector pod."""
    return f"{_pod_prefix(index)}.{host}"


def _pod_prefix(index: int) -> str:
    """10.128.<n> for the first 255 nodes, then on through 10.129.x, 10.130.x, …"""
    high, low = divmod(index, 256)
    return f"10.{128 + high}.{low}"


def run(argv: list[str], what: str, env: dict[str, str] | None = None, timeout: float = 30) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise TestbedError(f"{what} did not finish within {timeout:.0f} s ({' '.join(argv)}).") from exc
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise TestbedError(f"{what} failed: {detail} ({' '.join(argv)}).")
    return result.stdout


def ip(*args: str) -> str:
    return run([find_tool("ip", "iproute2"), *args], "ip " + " ".join(args[:3]))


def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def delete_netns(name: str) -> None:
    if netns_exists(name):
        subprocess.run([find_tool("ip", "iproute2"), "netns", "del", name], capture_output=True)


def list_netns(prefix: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir("/run/netns") if n.startswith(prefix))
    except OSError:
        return []


def add_netns(name: str) -> None:
    delete_netns(name)  # a leftover of a crashed run in the same DIR
    ip("netns", "add", name)
    ip("-n", name, "link", "set", "lo", "up")


def udp_port_bound(pid: int, port: int) -> bool:
    """Whether any UDP socket in the network namespace of `pid` is bound to `port`."""
    needle = f":{port:04X} "
    for table in ("udp", "udp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            return False
        if any(needle in line.split(None, 2)[1] + " " for line in lines if line.strip()):
            return True
    return False


def ovs_schema() -> str:
    pkgdatadir = os.environ.get("OVS_PKGDATADIR")
    candidates = ([f"{pkgdatadir}/vswitch.ovsschema"] if pkgdatadir else []) + list(OVS_SCHEMA_CANDIDATES)
    for candidate in candidates:
        if Path(candidate).is_file():
            return candidate
    raise TestbedError(
        "the Open vSwitch database schema (vswitch.ovsschema) was not found; reinstall openvswitch-switch."
    )


class BridgeNetwork:
    """The per-testbed L2 segment joining the node namespaces (a Linux bridge in its own namespace)."""

    def __init__(self, netns: str) -> None:
        self.netns = netns

    def create(self) -> None:
        add_netns(self.netns)
        ip("-n", self.netns, "link", "add", "br0", "type", "bridge")
        ip("-n", self.netns, "addr", "add", f"{NODE_SUBNET}.254/24", "dev", "br0")
        ip("-n", self.netns, "link", "set", "br0", "up")

    def delete(self) -> None:
        delete_netns(self.netns)


@dataclass
class OvsNode:
    name: str
    index: int
    netns: str
    bridge_netns: str
    directory: Path  # DIR/nodes/<node>

    def __post_init__(self) -> None:
        self.rundir = self.directory / "ovs"
        self.pod_netns = (f"{self.netns}-p1", f"{self.netns}-p2")
        self.daemons: dict[str, Daemon] = {}
        self.traffic_flows = 0
        self.collector_dropped = False
        # the OVS control sockets live in the rundir; unix socket paths are limited to 107 bytes
        if len(str(self.rundir)) + len("/ovs-vswitchd.4194304.ctl") > 107:
            raise TestbedError(
                f"the testbed directory path is too long for Open vSwitch's control sockets ({self.rundir}); "
                "use a shorter --dir."
            )

    @property
    def ip(self) -> str:
        return node_ip(self.index)

    @property
    def flows_log(self) -> Path:
        return self.directory / "flows.jsonl"

    @property
    def ovs_env(self) -> dict[str, str]:
        rundir = str(self.rundir)
        return {**os.environ, "OVS_RUNDIR": rundir, "OVS_DBDIR": rundir, "OVS_LOGDIR": rundir, "OVS_SYSCONFDIR": rundir}

    def all_netns(self) -> list[str]:
        return [self.netns, *self.pod_netns]

    # -- bring-up ------------------------------------------------------------------------------

    def create_network(self) -> None:
        """Node namespace with its uplink to the bridge namespace, and the two pod namespaces."""
        add_netns(self.netns)
        ip(
            "link",
            "add",
            "eth0",
            "netns",
            self.netns,
            "type",
            "veth",
            "peer",
            "name",
            f"n{self.index}",
            "netns",
            self.bridge_netns,
        )
        ip("-n", self.bridge_netns, "link", "set", f"n{self.index}", "master", "br0", "up")
        ip("-n", self.netns, "addr", "add", f"{self.ip}/24", "dev", "eth0")
        ip("-n", self.netns, "link", "set", "eth0", "up")
        ethtool = find_tool("ethtool", "ethtool")
        for number, pod_ns in enumerate(self.pod_netns, start=1):
            add_netns(pod_ns)
            ip(
                "link",
                "add",
                f"pod{number}",
                "netns",
                self.netns,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                pod_ns,
            )
            ip("-n", self.netns, "link", "set", f"pod{number}", "up")
            ip("-n", pod_ns, "addr", "add", f"{pod_ip(self.index, 2 + number)}/24", "dev", "eth0")
            ip("-n", pod_ns, "link", "set", "eth0", "up")
            # The userspace datapath forwards veth frames with partial checksums as they are; with
            # TX checksum offload on, receivers silently drop UDP/TCP.
            run(
                [find_tool("ip", "iproute2"), "netns", "exec", pod_ns, ethtool, "-K", "eth0", "tx", "off"],
                f"turning off checksum offload in {pod_ns}",
            )

    def start_collector(self) -> Daemon:
        """goflow2 on <node IP>:30001; `flow://` decodes NetFlow v5, IPFIX and sFlow on one port.
        Its metrics listen on <node IP>:30002, where the collector Service's `metrics` node port
        leads on a real node."""
        argv = [
            find_tool("ip", "iproute2"),
            "netns",
            "exec",
            self.netns,
            find_binary("goflow2"),
            "-listen",
            f"flow://{self.ip}:{COLLECTOR_NODE_PORT}",
            "-transport",
            "file",
            "-transport.file",
            str(self.flows_log),
            "-format",
            "json",
            "-addr",
            f"{self.ip}:{COLLECTOR_METRICS_NODE_PORT}",
        ]
        daemon = Daemon(f"{self.name} goflow2", argv, self.directory / "goflow2.log", kind="collector")
        daemon.start()
        self.daemons["goflow2"] = daemon
        if not wait_until(lambda: udp_port_bound(daemon.pid, COLLECTOR_NODE_PORT) or not daemon.running(), 10):
            raise TestbedError(f"goflow2 on {self.name} did not listen on {self.ip}:{COLLECTOR_NODE_PORT} within 10 s.")
        daemon.check_running()
        return daemon

    def stop_collector(self) -> None:
        daemon = self.daemons.pop("goflow2", None)
        if daemon:
            daemon.stop()

    def start_ovs(self) -> None:
        self.rundir.mkdir(parents=True, exist_ok=True)
        for stale in self.rundir.iterdir():  # a fresh database and no stale sockets on every start
            if stale.is_file() or stale.is_socket():
                stale.unlink()
        env = self.ovs_env
        db = self.rundir / "conf.db"
        run(
            [find_tool("ovsdb-tool", "openvswitch-switch"), "create", str(db), ovs_schema()],
            "creating the OVS database",
            env=env,
        )
        # Children in the foreground (no --detach) so the testbed reaps them.
        ovsdb = Daemon(
            f"{self.name} ovsdb-server",
            [
                find_tool("ovsdb-server", "openvswitch-switch"),
                str(db),
                f"--remote=punix:{self.rundir}/db.sock",
                "--pidfile",
                "--log-file",
                "-vconsole:off",
            ],
            self.directory / "ovsdb-server.out",
            env=env,
            kind="ovs",
        )
        ovsdb.start()
        ovsdb.ctl = f"{self.rundir}/ovsdb-server.{ovsdb.pid}.ctl"
        self.daemons["ovsdb-server"] = ovsdb
        if not wait_until(lambda: (self.rundir / "db.sock").exists() or not ovsdb.running(), 10):
            raise TestbedError(f"ovsdb-server on {self.name} did not open its socket within 10 s.")
        ovsdb.check_running()
        self.vsctl(
            "--no-wait",
            "init",
            "--",
            "set",
            "Open_vSwitch",
            ".",
            f"external_ids:system-id={self.name}",
            f"external_ids:hostname={self.name}",
        )
        vswitchd = self._run_vswitchd()
        # Without --no-wait, ovs-vsctl returns once vswitchd applied the change: a readiness barrier.
        self.vsctl(
            "--timeout=30",
            "--",
            "add-br",
            BRIDGE,
            "--",
            "set",
            "bridge",
            BRIDGE,
            "datapath_type=netdev",
            "fail_mode=secure",
            "--",
            "add-port",
            BRIDGE,
            MGMT_PORT,
            "--",
            "set",
            "interface",
            MGMT_PORT,
            "type=internal",
            "--",
            "add-port",
            BRIDGE,
            "pod1",
            "--",
            "add-port",
            BRIDGE,
            "pod2",
        )
        vswitchd.check_running()
        self._program_bridge()

    def _run_vswitchd(self) -> Daemon:
        # vswitchd must run inside the node namespace: the netdev datapath creates a tap named
        # ovs-netdev, so two instances in one namespace collide.
        vswitchd = Daemon(
            f"{self.name} ovs-vswitchd",
            [
                find_tool("ip", "iproute2"),
                "netns",
                "exec",
                self.netns,
                find_tool("ovs-vswitchd", "openvswitch-switch"),
                f"unix:{self.rundir}/db.sock",
                "--pidfile",
                "--log-file",
                "-vconsole:off",
            ],
            self.directory / "ovs-vswitchd.out",
            env=self.ovs_env,
            kind="ovs",
        )
        vswitchd.start()
        vswitchd.ctl = f"{self.rundir}/ovs-vswitchd.{vswitchd.pid}.ctl"
        self.daemons["ovs-vswitchd"] = vswitchd
        return vswitchd

    def _program_bridge(self) -> None:
        """What ovn-controller would keep on br-int: the flow that forwards pod traffic (OpenFlow
        flows live in ovs-vswitchd, not the database) and the management port's address."""
        run(
            [find_tool("ovs-ofctl", "openvswitch-switch"), "add-flow", BRIDGE, "priority=0,actions=NORMAL"],
            f"adding the NORMAL flow on {self.name}",
            env=self.ovs_env,
        )
        broken = self.vsctl("--bare", "--columns=name", "find", "Interface", "ofport=-1").split()
        if broken:
            raise TestbedError(
                f"Open vSwitch on {self.name} could not attach {', '.join(broken)}; see {self.rundir}/ovs-vswitchd.log."
            )
        address = f"{pod_ip(self.index, 2)}/24"
        if address not in ip("-n", self.netns, "-o", "addr", "show", "dev", MGMT_PORT):
            ip("-n", self.netns, "addr", "add", address, "dev", MGMT_PORT)
        ip("-n", self.netns, "link", "set", MGMT_PORT, "up")

    def stop_vswitchd(self, crash: bool = True) -> None:
        """Stop ovs-vswitchd (ovsdb-server keeps the configuration): killed, as a crash leaves it
        (its pidfile and control socket stay behind), or asked to exit."""
        daemon = self.daemons.pop("ovs-vswitchd", None)
        if daemon is None or daemon.popen is None:
            return
        if crash:
            daemon.popen.kill()
            daemon.popen.wait(10)
        elif daemon.ctl:
            subprocess.run(
                [find_tool("ovs-appctl", "openvswitch-switch"), "-t", daemon.ctl, "exit"],
                capture_output=True,
                timeout=OVS_EXIT_SECONDS,
                env=self.ovs_env,
            )
        daemon.stop()

    def start_vswitchd(self) -> None:
        """ovs-vswitchd again, from the database it left: the bridge, its ports and exporters."""
        if "ovs-vswitchd" in self.daemons:
            return
        vswitchd = self._run_vswitchd()
        # Applied once `ovs-vsctl` (which waits for ovs-vswitchd to catch up) returns.
        self.vsctl("--timeout=30", "set", "Open_vSwitch", ".", f"external_ids:restarted={time.time():.0f}")
        vswitchd.check_running()
        self._program_bridge()

    def restart_vswitchd(self, timeout: float = 30.0) -> None:
        """A fresh ovs-vswitchd on the same database, as after an upgrade: asked to exit without
        --cleanup, so the ports' tap devices and addresses stay; OpenFlow flows and everything in
        the old process's memory do not."""
        self.stop_vswitchd(crash=False)
        self.start_vswitchd()

        def attached() -> bool:
            # --bare prints each Interface as "name\nofport\n", records separated by a blank line
            rows = self.vsctl("--bare", "--columns=name,ofport", "list", "Interface").strip().split("\n\n")
            return all(row.split("\n")[-1].strip().isdigit() and int(row.split("\n")[-1]) > 0 for row in rows)

        if not wait_until(attached, timeout, 0.1):
            raise TestbedError(
                f"the restarted ovs-vswitchd on {self.name} did not attach every port within {timeout:.0f} s."
            )

    def start_traffic(self, flows: int = 1) -> None:
        """`flows` UDP flows between the node's two pods, each ~10 packets a second each way."""
        argv = [
            sys.executable,
            "-m",
            "flowgate_testbed.traffic",
            self.pod_netns[0],
            pod_ip(self.index, 3),
            self.pod_netns[1],
            pod_ip(self.index, 4),
            str(TRAFFIC_PORT),
            str(flows),
        ]
        daemon = Daemon(f"{self.name} traffic", argv, self.directory / "traffic.log", kind="traffic")
        daemon.start()
        self.daemons["traffic"] = daemon
        self.traffic_flows = flows

    def stop_traffic(self) -> None:
        daemon = self.daemons.pop("traffic", None)
        if daemon:
            daemon.stop()
        self.traffic_flows = 0

    def drop_collector_traffic(self, drop: bool) -> None:
        """Drop (or stop dropping) the UDP export datagrams leaving this node for its collector
        port, as a firewall on the node would; iptables in the node's own namespace."""
        rule = ["OUTPUT", "-p", "udp", "--dport", str(COLLECTOR_NODE_PORT), "-j", "DROP"]
        iptables = [find_tool("ip", "iproute2"), "netns", "exec", self.netns, find_tool("iptables", "iptables")]
        present = subprocess.run([*iptables, "-C", *rule], capture_output=True).returncode == 0
        if drop and not present:
            run([*iptables, "-I", *rule], f"dropping collector traffic on {self.name}")
        elif not drop and present:
            run([*iptables, "-D", *rule], f"letting collector traffic through again on {self.name}")
        self.collector_dropped = drop

    def http_get(self, url: str, timeout: float = 5.0) -> str:
        """GET `url` from inside the node's namespace (where node IPs and the node's loopback are)."""
        script = (
            "import sys, urllib.request; "
            "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])).read().decode())"
        )
        return run(
            [find_tool("ip", "iproute2"), "netns", "exec", self.netns, sys.executable, "-c", script, url, str(timeout)],
            f"GET {url} on {self.name}",
            # The request has `timeout`; starting Python inside the namespace gets the rest, which
            # beside two busy loops and a traffic generator at nice -10 took over 10 s once.
            timeout=timeout + 40,
        )

    def vsctl(self, *args: str) -> str:
        return run([find_tool("ovs-vsctl", "openvswitch-switch"), *args], f"ovs-vsctl on {self.name}", env=self.ovs_env)

    # -- teardown ------------------------------------------------------------------------------

    def stop(self) -> None:
        for name in ("traffic", "ovs-vswitchd", "ovsdb-server", "goflow2"):
            daemon = self.daemons.pop(name, None)
            if daemon is None:
                continue
            if daemon.kind == "ovs" and daemon.ctl and daemon.running():
                # --cleanup removes the datapath and its tap devices
                cleanup = ["--cleanup"] if name == "ovs-vswitchd" else []
                try:
                    subprocess.run(
                        [find_tool("ovs-appctl", "openvswitch-switch"), "-t", daemon.ctl, "exit", *cleanup],
                        capture_output=True,
                        timeout=OVS_EXIT_SECONDS,
                        env=self.ovs_env,
                    )
                    if daemon.popen is not None:
                        daemon.popen.wait(10)
                except subprocess.TimeoutExpired:
                    pass  # a hung daemon must not stop the teardown: daemon.stop() ends it by pid
            daemon.stop()
        for netns in reversed(self.all_netns()):
            delete_netns(netns)

    def records(self) -> list[dict[str, Any]]:
        return read_records(self.flows_log)


def read_records(path: Path) -> list[dict[str, Any]]:
    """goflow2's JSON lines; a line still being written is skipped."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    records: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            records.append(value)
    return records
