"""`Testbed`: a real local cluster for flowgate, owned by the process that starts it.

    with Testbed(tmp_dir, nodes=3, ovs=True) as tb:
        tb.kubectl("get", "nodes")
        tb.ovs_vsctl("node-1", "list", "bridge", "br-int")

Every daemon is a child of this object (Popen) and is stopped by pid; every namespace it made is
deleted on stop(). DIR/testbed.json records what runs so `flowgate-testbed down` can clean up after a
dead owner."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml

from flowgate_testbed import seed
from flowgate_testbed.binaries import GO_BINARIES, NET_TOOLS, OVS_TOOLS, find_binary, find_tool
from flowgate_testbed.cluster_api import ClusterApi, ClusterApiError
from flowgate_testbed.dataplane import BridgeNetwork, OvsNode, node_ip, read_records
from flowgate_testbed.errors import TestbedError
from flowgate_testbed.pki import Pki, issue_client_certificate, make_pki
from flowgate_testbed.procs import Daemon, wait_until
from flowgate_testbed.state import (
    SUPERVISOR_PID_FILE,
    DirLock,
    cleanup_leftovers,
    netns_prefix,
    read_state,
    write_state,
)

NETWORK_TYPES = ("OVNKubernetes", "OpenShiftSDN")
USERS = ("admin", "viewer", "nobody", "gateway", "agent")
MAX_NODES = 5000  # API-only; nodes with an OVS data plane share one /24 (10.89.0.1-250)
MAX_OVS_NODES = 250
SERVICE_CIDR = "10.0.0.0/24"

Progress = Callable[[str], None]


def _stderr_progress(message: str) -> None:
    print(f"flowgate-testbed: {message}", file=sys.stderr, flush=True)


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports: held open together, so the kernel never hands out
    the same one twice (one at a time, a port just released can come back at once)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def free_port() -> int:
    return free_ports(1)[0]


def flowgate_command() -> list[str]:
    """The `flowgate` command of this installation (the agents and gateway run as separate processes)."""
    beside = Path(sys.executable).parent / "flowgate"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("flowgate")
    return [found] if found else [sys.executable, "-m", "gateway.main"]


def check_config(nodes: int, network_type: str, ovs: bool, garbage_collector: bool = False) -> None:
    """Refuse bad input before anything starts (one sentence each)."""
    if not 1 <= nodes <= MAX_NODES:
        raise TestbedError(f"--nodes must be between 1 and {MAX_NODES}, not {nodes}.")
    if ovs and nodes > MAX_OVS_NODES:
        raise TestbedError(
            f"--nodes must be at most {MAX_OVS_NODES} with the Open vSwitch data plane; "
            "pass --no-ovs for an API-only testbed of up to 5000 nodes."
        )
    if network_type not in NETWORK_TYPES:
        raise TestbedError(f"unknown network type {network_type!r}; choose one of {', '.join(NETWORK_TYPES)}.")
    for name in GO_BINARIES:
        find_binary(name)
    if garbage_collector:
        find_binary("kube-controller-manager")
    find_tool("openssl", "openssl")
    if ovs:
        if os.geteuid() != 0:
            raise TestbedError(
                "the Open vSwitch data plane needs root (network namespaces and OVS daemons); "
                "run as root or pass --no-ovs for an API-only testbed."
            )
        for name in OVS_TOOLS:
            find_tool(name, "openvswitch-switch")
        find_tool("ip", "iproute2")
        for name in NET_TOOLS[1:]:
            find_tool(name, name)


class Testbed:
    """A local cluster: etcd + kube-apiserver (TLS, RBAC, static token users), flowgate's and
    OpenShift's CRDs, N seeded nodes and, with `ovs=True`, one real OVS data plane per node."""

    __test__ = False
    bridge = "br-int"  # the OVN-Kubernetes integration bridge every node has

    def __init__(
        self,
        directory: str | os.PathLike[str],
        nodes: int = 3,
        network_type: str = "OVNKubernetes",
        ovs: bool = False,
        agents: bool = False,
        garbage_collector: bool = False,
        progress: Progress | None = _stderr_progress,
    ) -> None:
        check_config(nodes, network_type, ovs, garbage_collector)
        self.dir = Path(directory).resolve()
        self.network_type = network_type
        self.ovs = ovs
        self.want_agents = agents
        self.garbage_collector = garbage_collector
        self.node_names: list[str] = [f"node-{i}" for i in range(1, nodes + 1)]
        self._progress = progress or (lambda _message: None)
        self._t0 = time.monotonic()
        self._lock = DirLock(self.dir)
        self._state_lock = threading.RLock()
        self._prefix = netns_prefix(self.dir)
        self._tokens = {user: secrets.token_urlsafe(24) for user in USERS}
        self.issued_tokens: list[str] = []  # every service-account token handed out (for log scans)
        self._etcd: Daemon | None = None
        self._apiserver: Daemon | None = None
        self._controller_manager: Daemon | None = None
        self._bridge: BridgeNetwork | None = None
        self._nodes: dict[str, OvsNode] = {}
        self._agents: dict[str, Daemon] = {}
        self._extra: list[Daemon] = []
        self._relay: Daemon | None = None
        self._stopped_collectors: set[str] = set()
        self._pki: Pki | None = None
        self.etcd_port = 0
        self._etcd_peer_port = 0
        self.apiserver_port = 0
        self.started = False
        self.startup_seconds = 0.0  # how long start() took, for the start-time figure

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> Testbed:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Testbed:
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self._lock.acquire():
            raise TestbedError(
                f"a testbed is already running in {self.dir}; stop it with `flowgate-testbed down --dir {self.dir}` first."
            )
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self._t0 = time.monotonic()
        if read_state(self.dir) is not None:
            cleaned = cleanup_leftovers(self.dir)
            if cleaned:
                self._step(f"cleaned up after a previous testbed in this directory ({len(cleaned)} items)")
        for stale in ("etcd", "bin"):
            shutil.rmtree(self.dir / stale, ignore_errors=True)
        for node in self.node_names:  # tokens of a previous cluster in this directory
            (self.dir / "nodes" / node / "kubeconfig-agent").unlink(missing_ok=True)
        self.etcd_port, self.apiserver_port, self._etcd_peer_port = free_ports(3)
        self._write_state()
        self._pki = make_pki(self.dir / "pki")
        self._write_credentials()
        data_plane = None
        if self.ovs:
            # The data plane needs no API server: build it while etcd and the apiserver boot.
            pool = ThreadPoolExecutor(max_workers=1)
            data_plane = pool.submit(self._start_data_plane)
            pool.shutdown(wait=False)
        try:
            self._start_etcd()
            self._step("etcd up")
            self.start_apiserver()
            self._step("kube-apiserver up")
            admin = self.client()
            seed.install_crds(admin)
            self._step("CRDs established")
            # The first write of a just-established custom resource takes the apiserver ~2 s; do the
            # built-in kinds meanwhile.
            with ThreadPoolExecutor(max_workers=1) as pool:
                network = pool.submit(seed.seed_network, self.client(), self.network_type, len(self.node_names))
                seed.install_rbac(admin)
                seed.install_admission(admin)
                seed.seed_nodes(admin, self.node_names, self.network_type)
                seed.seed_collector(admin, self.node_names, metrics=self.ovs)
                network.result()
                seed.await_admission(admin)
            self._step(f"cluster seeded ({len(self.node_names)} nodes, {self.network_type})")
        except BaseException:
            if data_plane is not None:
                wait([data_plane])  # never tear down under a thread still building nodes
            raise
        if data_plane is not None:
            data_plane.result()  # re-raises a data-plane failure
            self._start_relay()
        if self.garbage_collector:
            self._start_controller_manager()
            self._step("garbage collector up")
        if self.want_agents:
            self.start_agents()
        self.started = True
        self.startup_seconds = time.monotonic() - self._t0
        self._write_state()
        self._step(f"ready in {time.monotonic() - self._t0:.1f} s (KUBECONFIG={self.kubeconfig()})")

    def stop(self) -> None:
        """Stop every process by pid, delete every namespace, release DIR. Safe to call twice.
        Does nothing unless this object owns DIR: a start() refused because another testbed runs
        there must not tear that one down."""
        if not self._lock.held:
            return
        try:
            self.stop_agents()
            for daemon in reversed(self._extra):
                daemon.stop()
            self._extra.clear()
            if self._relay is not None:
                self._relay.stop()
                self._relay = None
            if self._nodes:
                with ThreadPoolExecutor(max_workers=min(8, len(self._nodes))) as pool:
                    list(pool.map(lambda node: node.stop(), self._nodes.values()))
                self._nodes.clear()
            if self._bridge is not None:
                self._bridge.delete()
                self._bridge = None
            if self._controller_manager is not None:
                self._controller_manager.stop()
                self._controller_manager = None
            if self._apiserver is not None:
                self._apiserver.stop()
                self._apiserver = None
            if self._etcd is not None:
                self._etcd.stop()
                self._etcd = None
            # anything a half-finished start left: namespaces created before their node was registered
            cleanup_leftovers(self.dir)
        finally:
            self.started = False
            self._lock.release()

    # -- control plane ---------------------------------------------------------------------------

    def _start_etcd(self) -> None:
        client_url = f"http://127.0.0.1:{self.etcd_port}"
        peer_url = f"http://127.0.0.1:{self._etcd_peer_port}"
        argv = [
            find_binary("etcd"),
            "--name",
            "testbed",
            "--data-dir",
            str(self.dir / "etcd"),
            "--listen-client-urls",
            client_url,
            "--advertise-client-urls",
            client_url,
            "--listen-peer-urls",
            peer_url,
            "--initial-advertise-peer-urls",
            peer_url,
            "--initial-cluster",
            f"testbed={peer_url}",
            "--unsafe-no-fsync",  # a throw-away cluster; fsync only slows tests down
            "--log-level",
            "warn",
        ]
        self._etcd = Daemon("etcd", argv, self.dir / "logs" / "etcd.log", kind="etcd")
        self._etcd.start()
        self._write_state()

        def healthy() -> bool:
            assert self._etcd is not None
            self._etcd.check_running()
            try:
                with urllib.request.urlopen(f"{client_url}/health", timeout=1) as response:
                    return b"true" in response.read()
            except OSError:
                return False

        if not wait_until(healthy, 20):
            raise TestbedError(f"etcd did not become healthy within 20 s; see {self._etcd.log}.")

    def _apiserver_argv(self) -> list[str]:
        assert self._pki is not None
        return [
            find_binary("kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            f"--secure-port={self.apiserver_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--cert-dir={self.dir / 'pki'}",
            f"--tls-cert-file={self._pki.serving_cert}",
            f"--tls-private-key-file={self._pki.serving_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=RBAC",
            "--disable-admission-plugins=ServiceAccount",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={self._pki.sa_pub}",
            f"--service-account-signing-key-file={self._pki.sa_key}",
            f"--token-auth-file={self.dir / 'tokens.csv'}",
            f"--client-ca-file={self._pki.ca_cert}",
            "--allow-privileged=true",
        ]

    def start_apiserver(self, timeout: float = 60.0) -> None:
        """(Re)start kube-apiserver on the same port with the same etcd data."""
        if self._apiserver is not None and self._apiserver.running():
            return
        self._apiserver = Daemon(
            "kube-apiserver", self._apiserver_argv(), self.dir / "logs" / "kube-apiserver.log", kind="apiserver"
        )
        self._apiserver.start()
        self._write_state()
        admin = self.client()
        apiserver = self._apiserver

        def ready() -> bool:
            apiserver.check_running()
            return admin.healthy()

        if not wait_until(ready, timeout, 0.1):
            raise TestbedError(f"kube-apiserver did not become ready within {timeout:.0f} s; see {apiserver.log}.")
        if self.started:  # a restart: the kinds are there, and must be servable again
            seed.wait_listable(admin, time.monotonic() + timeout)

    def _start_controller_manager(self) -> None:
        """kube-controller-manager with its garbage collector only: what deletes a Flow whose Node
        is gone (ownerReferences). No other controller runs, so nothing else in the seeded cluster
        changes (no node lifecycle taints, no EndpointSlices beside the testbed's own)."""
        argv = [
            find_binary("kube-controller-manager"),
            f"--kubeconfig={self.kubeconfig()}",
            "--controllers=garbagecollector",
            "--leader-elect=false",
            "--secure-port=0",
            "--concurrent-gc-syncs=5",
        ]
        self._controller_manager = Daemon(
            "kube-controller-manager",
            argv,
            self.dir / "logs" / "kube-controller-manager.log",
            kind="controller-manager",
        )
        self._controller_manager.start()
        self._write_state()
        manager = self._controller_manager

        def collecting() -> bool:
            manager.check_running()
            try:
                return "Proceeding to collect garbage" in manager.log.read_text(errors="replace")
            except OSError:
                return False

        if not wait_until(collecting, 30, 0.1):
            raise TestbedError(
                f"kube-controller-manager's garbage collector did not start within 30 s; see {manager.log}."
            )

    @property
    def apiserver_pid(self) -> int | None:
        return self._apiserver.pid if self._apiserver is not None and self._apiserver.running() else None

    def stop_apiserver(self, kill: bool = False) -> None:
        """Stop kube-apiserver (etcd keeps the data) to simulate an API outage: gracefully, or
        killed at once (SIGKILL, as a crash or an OOM kill ends it)."""
        if self._apiserver is not None:
            if kill and self._apiserver.popen is not None:
                self._apiserver.popen.kill()
                self._apiserver.popen.wait(10)
            self._apiserver.stop()
            self._apiserver = None
            self._write_state()

    def _write_credentials(self) -> None:
        assert self._pki is not None
        lines = []
        for user in USERS:
            groups = "system:masters" if user == "admin" else ""
            lines.append(f'{self._tokens[user]},{user},{user}-uid,"{groups}"')
        tokens = self.dir / "tokens.csv"
        tokens.write_text("\n".join(lines) + "\n")
        tokens.chmod(0o600)
        for user in USERS:
            self._write_kubeconfig(self.kubeconfig(user), user, self._tokens[user])
        (self.dir / "bin").mkdir(exist_ok=True)
        (self.dir / "bin" / "kubectl").symlink_to(find_binary("kubectl"))
        plugin = Path(sys.executable).parent / "kubectl-flows"  # so `kubectl flows` works with DIR/bin on PATH
        if plugin.exists():
            (self.dir / "bin" / "kubectl-flows").symlink_to(plugin)

    def _write_kubeconfig(self, path: Path, user: str, token: str) -> None:
        assert self._pki is not None
        ca_data = base64.b64encode(self._pki.ca_cert.read_bytes()).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "flowgate-testbed",
                    "cluster": {"server": self.api_url, "certificate-authority-data": ca_data},
                }
            ],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [
                {"name": f"{user}@flowgate-testbed", "context": {"cluster": "flowgate-testbed", "user": user}}
            ],
            "current-context": f"{user}@flowgate-testbed",
            "preferences": {},
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)

    # -- data plane ------------------------------------------------------------------------------

    def _start_data_plane(self) -> None:
        self._bridge = BridgeNetwork(self._prefix + "br")
        self._bridge.create()
        nodes = [
            OvsNode(name, index, self._prefix + f"n{index}", self._bridge.netns, self.dir / "nodes" / name)
            for index, name in enumerate(self.node_names, start=1)
        ]
        with self._state_lock:
            self._nodes = {node.name: node for node in nodes}
        self._write_state()

        def bring_up(node: OvsNode) -> None:
            t0 = time.monotonic()
            node.flows_log.unlink(missing_ok=True)
            node.create_network()
            node.start_collector()  # before any exporter: IPFIX templates are re-sent only every 600 s
            node.start_ovs()
            node.start_traffic()
            self._write_state()
            self._step(f"{node.name} OVS up ({node.ip}, {time.monotonic() - t0:.1f} s)")

        with ThreadPoolExecutor(max_workers=min(8, len(nodes))) as pool:
            for future in [pool.submit(bring_up, node) for node in nodes]:
                future.result()

    def _start_relay(self) -> None:
        """127.0.0.1:<apiserver port> inside every node namespace leads to the API server, so a
        process run in a node's namespace (an agent, as a hostNetwork pod) reaches it as here."""
        namespaces = [node.netns for node in self._nodes.values()]
        argv = [sys.executable, "-m", "flowgate_testbed.relay", str(self.apiserver_port), *namespaces]
        relay = Daemon("api relay", argv, self.dir / "logs" / "relay.log", kind="relay")
        relay.start()
        self._relay = relay
        if not wait_until(lambda: "relaying" in relay.log_tail() or not relay.running(), 10):
            raise TestbedError(f"the API relay into the node namespaces did not start within 10 s: {relay.log_tail()}")
        relay.check_running()
        self._step("API server reachable from the node namespaces")

    def in_node(self, node: str, argv: Sequence[str]) -> list[str]:
        """`argv` run inside the node's network namespace, where its InternalIP, its collector's
        node ports and (through the relay) the API server are, as for a hostNetwork pod; as it is
        without OVS, where there are no node namespaces."""
        if not self.ovs:
            return list(argv)
        return [find_tool("ip", "iproute2"), "netns", "exec", self._node(node).netns, *argv]

    def set_traffic(self, flows: int, nodes: Sequence[str] | None = None) -> None:
        """Run `flows` UDP flows between each node's pods (~10 packets a second each way each);
        0 stops them (the node then carries no traffic at all). `reset` brings back one flow."""
        if flows < 0:
            raise TestbedError(f"traffic takes a number of flows of 0 or more, not {flows}.")
        for name in self.node_names if nodes is None else nodes:
            node = self._node(name)
            if node.traffic_flows != flows:
                node.stop_traffic()
                if flows:
                    node.start_traffic(flows)
        self._write_state()

    def drop_collector_traffic(self, node: str, drop: bool = True) -> None:
        """Drop the export datagrams leaving `node` for its collector's UDP port (iptables in the
        node's namespace), or with drop=False let them through again."""
        self._node(node).drop_collector_traffic(drop)

    def node_http_get(self, node: str, url: str, timeout: float = 5.0) -> str:
        """GET `url` from inside the node's namespace (its collector metrics, its agent's metrics)."""
        return self._node(node).http_get(url, timeout)

    def _node(self, node: str) -> OvsNode:
        if node not in self.node_names:
            raise TestbedError(f"there is no node {node!r}; this testbed has {', '.join(self.node_names)}.")
        if not self.ovs or node not in self._nodes:
            raise TestbedError(f"{node} has no data plane: this testbed was started without OVS.")
        return self._nodes[node]

    def node_ip(self, node: str) -> str:
        if node not in self.node_names:
            raise TestbedError(f"there is no node {node!r}; this testbed has {', '.join(self.node_names)}.")
        return node_ip(self.node_names.index(node) + 1)

    def netns(self, node: str) -> str:
        return self._node(node).netns

    def pod_netns(self, node: str) -> tuple[str, str]:
        return self._node(node).pod_netns

    def ovs_rundir(self, node: str) -> Path:
        """The node's OVS_RUNDIR (db.sock, pidfiles, control sockets) — what the agent's --ovs-rundir takes."""
        if node not in self.node_names:
            raise TestbedError(f"there is no node {node!r}; this testbed has {', '.join(self.node_names)}.")
        return self.dir / "nodes" / node / "ovs"

    def ovs_vsctl(self, node: str, *args: str) -> str:
        """Run ovs-vsctl against the node's own OVS; returns stdout, raises TestbedError on failure."""
        return self._node(node).vsctl("--timeout=10", *args)

    def restart_ovs_vswitchd(self, node: str) -> int:
        """Replace node's ovs-vswitchd with a fresh process (same database, ports and addresses;
        OpenFlow flows re-added); returns its pid."""
        ovs_node = self._node(node)
        ovs_node.restart_vswitchd()
        self._write_state()
        return ovs_node.daemons["ovs-vswitchd"].pid

    def flows_log(self, node: str) -> Path:
        return self.dir / "nodes" / node / "flows.jsonl"

    def read_flow_records(self, node: str) -> list[dict[str, Any]]:
        """The JSON records node's goflow2 has written so far."""
        return read_records(self.flows_log(node))

    def stop_collector(self, node: str) -> None:
        """Stop node's goflow2 and mark its endpoint not ready, as when the collector pod fails."""
        if self.ovs:
            self._node(node).stop_collector()
        self._stopped_collectors.add(node)
        self._write_endpoints()
        self._write_state()

    def start_collector(self, node: str) -> None:
        """Undo stop_collector: goflow2 runs again (appending to flows.jsonl) and the endpoint is ready."""
        if self.ovs and "goflow2" not in self._node(node).daemons:
            self._node(node).start_collector()
        self._stopped_collectors.discard(node)
        self._write_endpoints()
        self._write_state()

    def stop_vswitchd(self, node: str, crash: bool = True) -> None:
        """Stop node's ovs-vswitchd (killed, as in a crash, unless crash=False); ovsdb-server and
        the configuration stay, so br-int exports nothing until start_vswitchd."""
        self._node(node).stop_vswitchd(crash)
        self._write_state()

    def start_vswitchd(self, node: str) -> None:
        self._node(node).start_vswitchd()
        self._write_state()

    def delete_node(self, node: str) -> None:
        """Delete Node/<node> (its data plane keeps running), as when a node leaves the cluster."""
        if node not in self.node_names:
            raise TestbedError(f"there is no node {node!r}; this testbed has {', '.join(self.node_names)}.")
        self.client().delete(f"/api/v1/nodes/{node}")

    def add_node(self, node: str) -> None:
        """(Re)create Node/<node> as the seed made it (a new uid), as when a node joins the cluster."""
        if node not in self.node_names:
            raise TestbedError(f"there is no node {node!r}; this testbed has {', '.join(self.node_names)}.")
        index = self.node_names.index(node) + 1
        admin = self.client()
        seed.create(admin, "/api/v1/nodes", seed.node_object(node, index, self.network_type))
        admin.merge_patch(f"/api/v1/nodes/{node}/status", seed.node_status(node, index))

    # -- etcd ------------------------------------------------------------------------------------

    def etcd(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """etcd's own v3 API (its JSON gateway on the client port)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.etcd_port}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.loads(response.read() or b"{}")
        return answer

    def etcd_revision(self) -> int:
        return int(self.etcd("/v3/kv/range", {"key": base64.b64encode(b"/").decode()})["header"]["revision"])

    def compact_etcd(self, writes: int = 10) -> int:
        """Move etcd's revision on (`writes` writes of a key nothing reads) and compact its history
        up to the new revision: every resourceVersion handed out before is gone, and a watch or
        list from one of them answers 410 Gone. Returns the compacted revision."""
        key = base64.b64encode(b"/flowgate-testbed/compaction").decode()
        for number in range(writes):
            self.etcd("/v3/kv/put", {"key": key, "value": base64.b64encode(str(number).encode()).decode()})
        revision = self.etcd_revision()
        self.etcd("/v3/kv/compaction", {"revision": str(revision), "physical": True})
        return revision

    def _write_endpoints(self) -> None:
        ready = {name: name not in self._stopped_collectors for name in self.node_names}
        seed.write_endpointslice(self.client(), self.node_names, ready, metrics=self.ovs)

    # -- agents and other flowgate processes ------------------------------------------------------

    def start_agents(self) -> None:
        """One `flowgate agent` per node, as the DaemonSet would run them."""
        for node in self.node_names:
            if node in self._agents and self._agents[node].running():
                continue
            argv = self.in_node(
                node,
                [
                    *flowgate_command(),
                    "agent",
                    "--node",
                    node,
                    "--kubeconfig",
                    str(self.agent_kubeconfig(node)),
                    "--ovs-rundir",
                    str(self.ovs_rundir(node)),
                ],
            )
            daemon = Daemon(f"{node} agent", argv, self.dir / "nodes" / node / "agent.log", kind="agent")
            daemon.start()
            self._agents[node] = daemon
        self._write_state()
        self._step(f"{len(self.node_names)} node agents started")

    def stop_agents(self) -> None:
        for daemon in self._agents.values():
            daemon.stop()
        self._agents.clear()
        self._write_state()

    def start_process(self, name: str, argv: Sequence[str], log: Path) -> Daemon:
        """Run another process as part of this testbed (stopped with it, recorded for `down`)."""
        daemon = Daemon(name, argv, log)
        daemon.start()
        self._extra.append(daemon)
        self._write_state()
        return daemon

    # -- access ----------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def ca_file(self) -> Path:
        return self.dir / "pki" / "ca.crt"

    def kubeconfig(self, user: str = "admin") -> Path:
        self._check_user(user)
        return self.dir / ("kubeconfig" if user == "admin" else f"kubeconfig-{user}")

    def token(self, user: str = "admin") -> str:
        self._check_user(user)
        return self._tokens[user]

    def client_certificate(self, user: str, groups: tuple[str, ...] = ()) -> tuple[Path, Path]:
        """A client certificate and key for `user` in `groups`, which this API server accepts."""
        assert self._pki is not None
        return issue_client_certificate(self._pki, self.dir / "pki" / "clients", user, groups)

    def service_account_token(
        self,
        name: str,
        namespace: str = "flowgate",
        *,
        bound_secret: str | None = None,
        bound_pod: str | None = None,
        node: str | None = None,
        expiration_seconds: int = 3600,
    ) -> str:
        """A TokenRequest token for the service account (created if missing), optionally bound to a
        Secret or Pod in its namespace (created if missing): deleting that object revokes it. A
        Pod is scheduled on `node` (default: the first node), and the token then carries that
        node's name (`authentication.kubernetes.io/node-name`), as a DaemonSet pod's token does."""
        admin = self.client()
        seed.ensure_service_account(admin, name, namespace)
        spec: dict[str, Any] = {"audiences": [], "expirationSeconds": expiration_seconds}
        if node is not None and node not in self.node_names:
            raise TestbedError(f"there is no node {node!r}; this testbed has {', '.join(self.node_names)}.")
        if bound_secret or bound_pod:
            kind, obj_name = ("Secret", bound_secret) if bound_secret else ("Pod", bound_pod)
            assert obj_name is not None
            bound = seed.ensure_bound_object(admin, kind, obj_name, namespace, node or self.node_names[0], name)
            spec["boundObjectRef"] = {
                "kind": kind,
                "apiVersion": "v1",
                "name": obj_name,
                "uid": bound["metadata"]["uid"],
            }
        answer = admin.create(
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
        )
        token = str(answer["status"]["token"])
        self.issued_tokens.append(token)
        return token

    def agent_kubeconfig(self, node: str) -> Path:
        """A kubeconfig for `node`'s agent as the DaemonSet runs it: service account
        flowgate-agent, its token bound to a pod scheduled on `node`, so the admission policy
        lets it write Flow/<node> and nothing else. Issued once per node (valid a week)."""
        path = self.dir / "nodes" / node / "kubeconfig-agent"
        if not path.exists():
            token = self.service_account_token(
                "flowgate-agent", bound_pod=f"flowgate-agent-{node}", node=node, expiration_seconds=7 * 24 * 3600
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            self._write_kubeconfig(path, f"flowgate-agent@{node}", token)
        return path

    def client(self, user: str = "admin") -> ClusterApi:
        return ClusterApi("127.0.0.1", self.apiserver_port, str(self.ca_file), self.token(user))

    def kubectl(self, *args: str, user: str = "admin", input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the testbed's kubectl as `user`; never raises on a non-zero exit."""
        return subprocess.run(
            [find_binary("kubectl"), "--kubeconfig", str(self.kubeconfig(user)), *args],
            capture_output=True,
            text=True,
            input=input,
            timeout=60,
        )

    def kubectl_process(self, *args: str, user: str = "admin") -> subprocess.Popen[str]:
        """Start the testbed's kubectl as `user` (say, a --watch) with its output on a pipe; the
        caller stops it."""
        return subprocess.Popen(
            [find_binary("kubectl"), "--kubeconfig", str(self.kubeconfig(user)), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def reset(self, timeout: float = 30.0) -> None:
        """Back to the seeded state between tests: no FlowExport, no Flow objects, every collector up,
        no exporter left on any br-int. Stop node agents first: they would write their Flows again."""
        admin = self.client()
        for node in sorted(self._stopped_collectors):
            self.start_collector(node)
        admin.delete("/apis/flowgate.dev/v1alpha1/flowexports/cluster")
        admin.request("DELETE", "/apis/flowgate.dev/v1alpha1/flows")
        try:
            admin.merge_patch("/apis/operator.openshift.io/v1/networks/cluster", {"spec": {"exportNetworkFlows": None}})
        except ClusterApiError as exc:
            if exc.status != 404:
                raise
        admin.wait_gone("/apis/flowgate.dev/v1alpha1/flowexports/cluster", timeout)
        deadline = time.monotonic() + timeout
        while admin.get("/apis/flowgate.dev/v1alpha1/flows").get("items"):
            if time.monotonic() > deadline:
                raise TestbedError(f"Flow objects were still present {timeout:.0f} s after deleting them.")
            time.sleep(0.05)
        for ovs_node in self._nodes.values():
            ovs_node.vsctl("--timeout=10", "clear", "bridge", "br-int", "netflow", "sflow", "ipfix")
            if ovs_node.collector_dropped:
                ovs_node.drop_collector_traffic(False)
        if any(node.traffic_flows != 1 for node in self._nodes.values()):
            self.set_traffic(1)

    @staticmethod
    def _check_user(user: str) -> None:
        if user not in USERS:
            raise TestbedError(f"there is no test user {user!r}; the testbed has {', '.join(USERS)}.")

    # -- bookkeeping -----------------------------------------------------------------------------

    def _step(self, message: str) -> None:
        self._progress(f"{message} [{time.monotonic() - self._t0:.1f} s]")

    def daemons(self) -> list[Daemon]:
        with self._state_lock:
            found = [d for d in (self._etcd, self._apiserver, self._controller_manager, self._relay) if d is not None]
            for node in self._nodes.values():
                found.extend(node.daemons.values())
            found.extend(self._agents.values())
            found.extend(self._extra)
            return [d for d in found if d.popen is not None]

    def netns_names(self) -> list[str]:
        with self._state_lock:
            names = [self._bridge.netns] if self._bridge else []
            for node in self._nodes.values():
                names.extend(node.all_netns())
            return names

    def _write_state(self) -> None:
        with self._state_lock:
            state = {
                "dir": str(self.dir),
                "owner_pid": os.getpid(),
                "ready": self.started,
                "network_type": self.network_type,
                "ovs": self.ovs,
                "api_url": self.api_url,
                "ports": {"etcd": self.etcd_port, "apiserver": self.apiserver_port},
                "kubeconfig": str(self.kubeconfig()),
                "nodes": [
                    {
                        "name": name,
                        "ip": self.node_ip(name),
                        "netns": self._nodes[name].netns if name in self._nodes else None,
                        "ovs_rundir": str(self.ovs_rundir(name)) if self.ovs else None,
                        "flows_log": str(self.flows_log(name)) if self.ovs else None,
                    }
                    for name in self.node_names
                ],
                "netns": self.netns_names(),
                "processes": [d.record() for d in self.daemons()],
            }
            write_state(self.dir, state)

    @property
    def supervisor_pid_file(self) -> Path:
        return self.dir / SUPERVISOR_PID_FILE
