"""One simulated node's data plane: a network namespace holding a real ovsdb-server + ovs-vswitchd
(userspace datapath) with bridge br-int, the management port ovn-k8s-mp0, two pod namespaces
exchanging UDP through br-int, and a goflow2 collector on the node's IP. Node namespaces are joined
by a Linux bridge in a per-testbed namespace, so node IPs reach each other but nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
GOFLOW2_HTTP_PORT = 9180  # goflow2 metrics, on the node namespace's own loopback
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
        """goflow2 on <node IP>:30001; `flow://` decodes NetFlow v5, IPFIX and sFlow on one port."""
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
            f"127.0.0.1:{GOFLOW2_HTTP_PORT}",
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
        self._start_vswitchd()
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
        self.daemons["ovs-vswitchd"].check_running()
        self._add_normal_flow()
        ip("-n", self.netns, "addr", "add", f"{pod_ip(self.index, 2)}/24", "dev", MGMT_PORT)
        ip("-n", self.netns, "link", "set", MGMT_PORT, "up")

    def _start_vswitchd(self) -> Daemon:
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

    def _add_normal_flow(self) -> None:
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

    def restart_vswitchd(self, timeout: float = 30.0) -> None:
        """A fresh ovs-vswitchd on the same database, as after an upgrade or a crash: the ports,
        their tap devices and addresses stay; OpenFlow flows and everything in the old process's
        memory do not."""
        old = self.daemons.pop("ovs-vswitchd", None)
        if old is not None:
            if old.ctl and old.running():
                try:  # without --cleanup: the internal ports' tap devices (and their addresses) survive
                    subprocess.run(
                        [find_tool("ovs-appctl", "openvswitch-switch"), "-t", old.ctl, "exit"],
                        capture_output=True,
                        timeout=OVS_EXIT_SECONDS,
                        env=self.ovs_env,
                    )
                    if old.popen is not None:
                        old.popen.wait(10)
                except subprocess.TimeoutExpired:
                    pass
            old.stop()
        vswitchd = self._start_vswitchd()
        # The new process has configured the bridge once its OpenFlow socket answers.
        ofctl = [find_tool("ovs-ofctl", "openvswitch-switch"), "show", BRIDGE]
        if not wait_until(
            lambda: (
                not vswitchd.running()
                or subprocess.run(ofctl, capture_output=True, env=self.ovs_env, timeout=10).returncode == 0
            ),
            timeout,
            0.1,
        ):
            raise TestbedError(
                f"the restarted ovs-vswitchd on {self.name} did not open {BRIDGE} within {timeout:.0f} s."
            )
        vswitchd.check_running()

        def attached() -> bool:
            # --bare prints each Interface as "name\nofport\n", records separated by a blank line
            rows = self.vsctl("--bare", "--columns=name,ofport", "list", "Interface").strip().split("\n\n")
            return all(row.split("\n")[-1].strip().isdigit() and int(row.split("\n")[-1]) > 0 for row in rows)

        if not wait_until(attached, timeout, 0.1):
            raise TestbedError(
                f"the restarted ovs-vswitchd on {self.name} did not attach every port within {timeout:.0f} s."
            )
        self._add_normal_flow()
        ip("-n", self.netns, "link", "set", MGMT_PORT, "up")

    def start_traffic(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "flowgate_testbed.traffic",
            self.pod_netns[0],
            pod_ip(self.index, 3),
            self.pod_netns[1],
            pod_ip(self.index, 4),
            str(TRAFFIC_PORT),
        ]
        daemon = Daemon(f"{self.name} traffic", argv, self.directory / "traffic.log", kind="traffic")
        daemon.start()
        self.daemons["traffic"] = daemon

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
