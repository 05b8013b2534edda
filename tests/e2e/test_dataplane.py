"""The data plane is real: Open vSwitch per node, pod traffic through br-int, goflow2 receiving
what OVS exports. Configured here directly with ovs-vsctl, as OVN-Kubernetes does."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flowgate_testbed import Testbed, dataplane
from flowgate_testbed.dataplane import COLLECTOR_NODE_PORT, udp_port_bound
from flowgate_testbed.procs import Daemon, same_process_alive

from tests.fixtures.waiting import wait_for

Record = dict[str, Any]


RECORDS_WITHIN = 20.0  # seconds: the first record comes ~2 s after export starts; room for a loaded machine


def wait_records(tb: Testbed, collector: str, mine: Callable[[Record], bool], what: str, since: int = 0) -> None:
    """Until a record `mine` accepts is at `collector`'s collector (its records from `since` on);
    past the bound, what was there instead."""

    def seen() -> str:
        found = tb.read_flow_records(collector)[since:]
        types = sorted({str(r.get("type")) for r in found})
        return f"{len(found)} records of types {types} in {tb.flows_log(collector)}, none of them {what}"

    wait_for(
        lambda: any(mine(r) for r in tb.read_flow_records(collector)[since:]),
        RECORDS_WITHIN,
        f"{what} at {collector}'s collector",
        interval=0.2,
        saw=seen,
    )


def pod_ips(node_index: int) -> set[str]:
    return {f"10.128.{node_index}.3", f"10.128.{node_index}.4"}


def from_node(testbed: Testbed, node: str, records: list[Record]) -> list[Record]:
    return [r for r in records if r.get("sampler_address") == testbed.node_ip(node)]


def own_traffic(testbed: Testbed, node: str, kind: str) -> Callable[[Record], bool]:
    index = testbed.node_names.index(node) + 1
    # NetFlow/IPFIX come from the node's IP; sFlow names its agent, ovn-k8s-mp0 (10.128.<n>.2).
    sampler = f"10.128.{index}.2" if kind == "SFLOW_5" else testbed.node_ip(node)

    def matches(record: Record) -> bool:
        return (
            record.get("type") == kind
            and record.get("sampler_address") == sampler
            and record.get("src_addr") in pod_ips(index)
            and record.get("dst_addr") in pod_ips(index)
            and record.get("proto") == "UDP"
        )

    return matches


def enable_netflow(testbed: Testbed, node: str, target: str) -> None:
    """NetFlow on the node's br-int by hand (no agent), reporting after 1 s instead of 60."""
    testbed.ovs_vsctl(
        node,
        "--",
        "--id=@netflow",
        "create",
        "netflow",
        f'targets=["{target}"]',
        "active_timeout=1",
        "--",
        "set",
        "bridge",
        "br-int",
        "netflow=@netflow",
    )


def test_node_namespaces_hold_ovs_with_br_int(ovs_testbed: Testbed) -> None:
    names = ovs_testbed.node_names
    assert len({ovs_testbed.netns(n) for n in names}) == len(names)
    for node in names:
        assert ovs_testbed.ovs_vsctl(node, "get", "bridge", "br-int", "datapath_type").strip() == "netdev"
        ports = set(ovs_testbed.ovs_vsctl(node, "list-ports", "br-int").split())
        assert {"ovn-k8s-mp0", "pod1", "pod2"} <= ports
        assert ovs_testbed.ovs_vsctl(node, "get", "interface", "ovn-k8s-mp0", "type").strip() == "internal"
        addr = subprocess.run(
            ["ip", "-n", ovs_testbed.netns(node), "-br", "addr", "show", "ovn-k8s-mp0"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "10.128." in addr
        assert (ovs_testbed.ovs_rundir(node) / "db.sock").is_socket()


def test_netflow_on_br_int_reaches_the_nodes_own_collector_and_stops_after_clear(fresh_ovs_testbed: Testbed) -> None:
    tb = fresh_ovs_testbed
    node = "node-1"
    target = f"{tb.node_ip(node)}:{COLLECTOR_NODE_PORT}"
    before = len(tb.read_flow_records(node))
    started, enabled_ns = time.monotonic(), time.time_ns()
    enable_netflow(tb, node, target)
    own = own_traffic(tb, node, "NETFLOW_V5")

    def mine(record: Record) -> bool:
        return own(record) and record["time_received_ns"] >= enabled_ns

    wait_records(tb, node, mine, f"NetFlow records of {node}'s pod traffic", before)
    print(f"\nfirst NetFlow record of {node}'s own traffic after {time.monotonic() - started:.1f} s")
    for other in tb.node_names[1:]:  # node-local: nothing reached the other nodes' collectors
        assert from_node(tb, node, tb.read_flow_records(other)) == []

    tb.ovs_vsctl(node, "clear", "bridge", "br-int", "netflow")
    time.sleep(2)  # what OVS already sent may still be on its way
    settled = len(from_node(tb, node, tb.read_flow_records(node)))
    time.sleep(4)  # four active timeouts of continuous traffic
    assert len(from_node(tb, node, tb.read_flow_records(node))) == settled


@pytest.mark.parametrize(
    ("table", "settings", "kind"),
    [
        ("ipfix", ["cache_active_timeout=1", "sampling=1"], "IPFIX"),
        ("sflow", ["agent=ovn-k8s-mp0", "sampling=1", "polling=1", "header=128"], "SFLOW_5"),
    ],
)
def test_ipfix_and_sflow_are_decoded_too(
    fresh_ovs_testbed: Testbed, table: str, settings: list[str], kind: str
) -> None:
    tb = fresh_ovs_testbed
    node = "node-3"
    before = len(tb.read_flow_records(node))
    target = f"{tb.node_ip(node)}:{COLLECTOR_NODE_PORT}"
    tb.ovs_vsctl(
        node,
        "--",
        f"--id=@{table}",
        "create",
        table,
        f'targets=["{target}"]',
        *settings,
        "--",
        "set",
        "bridge",
        "br-int",
        f"{table}=@{table}",
    )
    mine = own_traffic(tb, node, kind)
    wait_records(tb, node, mine, f"{kind} records of {node}'s pod traffic", before)
    tb.reset()


def test_static_target_sends_another_nodes_records_to_node_1(fresh_ovs_testbed: Testbed) -> None:
    tb = fresh_ovs_testbed
    target = f"{tb.node_ip('node-1')}:{COLLECTOR_NODE_PORT}"
    enable_netflow(tb, "node-2", target)
    mine = own_traffic(tb, "node-2", "NETFLOW_V5")
    # node-2's exporter reaches node-1's collector across the node network
    wait_records(tb, "node-1", mine, "NetFlow records of node-2's pod traffic")
    tb.reset()


def test_stop_and_start_collector(fresh_ovs_testbed: Testbed) -> None:
    tb = fresh_ovs_testbed
    node = "node-3"
    tb.stop_collector(node)
    state = tb.client().get("/apis/discovery.k8s.io/v1/namespaces/flows-collector/endpointslices/flows-collector")
    ready = {e["nodeName"]: e["conditions"]["ready"] for e in state["endpoints"]}
    assert ready == {"node-1": True, "node-2": True, "node-3": False}
    netns_pid = next(d.pid for d in tb.daemons() if d.name == f"{node} ovs-vswitchd")
    assert not udp_port_bound(netns_pid, COLLECTOR_NODE_PORT)
    tb.start_collector(node)
    assert udp_port_bound(netns_pid, COLLECTOR_NODE_PORT)
    state = tb.client().get("/apis/discovery.k8s.io/v1/namespaces/flows-collector/endpointslices/flows-collector")
    assert all(e["conditions"]["ready"] for e in state["endpoints"])


def test_a_restarted_ovs_vswitchd_forwards_and_exports_again(fresh_ovs_testbed: Testbed) -> None:
    tb = fresh_ovs_testbed
    node = "node-2"
    old = next(d for d in tb.daemons() if d.name == f"{node} ovs-vswitchd")
    old_pid, old_start = old.pid, old.starttime
    pid = tb.restart_ovs_vswitchd(node)
    assert pid != old_pid and not same_process_alive(old_pid, old_start)
    recorded = json.loads((tb.dir / "testbed.json").read_text())["processes"]
    assert any(p["name"] == f"{node} ovs-vswitchd" and p["pid"] == pid for p in recorded)  # `down` finds it
    # The management port kept its address (sFlow names it as its agent), the pods still talk.
    before = len(tb.read_flow_records(node))
    tb.ovs_vsctl(
        node, "--", "--id=@sflow", "create", "sflow", "agent=ovn-k8s-mp0",
        f'targets=["{tb.node_ip(node)}:{COLLECTOR_NODE_PORT}"]', "sampling=1", "--", "set", "bridge", "br-int",
        "sflow=@sflow",
    )  # fmt: skip
    mine = own_traffic(tb, node, "SFLOW_5")
    wait_records(tb, node, mine, f"sFlow samples of {node}'s pod traffic", before)
    tb.reset()


def test_a_hung_ovs_appctl_does_not_stop_the_teardown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If `ovs-appctl exit` never answers, the node's daemons are still ended by pid."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "ovs-appctl").write_text("#!/bin/sh\nexec sleep 60\n")
    (fake_bin / "ovs-appctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(dataplane, "OVS_EXIT_SECONDS", 0.5)
    node = dataplane.OvsNode("node-1", 1, "fg-absent-n1", "fg-absent-br", tmp_path / "node-1")
    vswitchd = Daemon("node-1 ovs-vswitchd", ["sleep", "60"], tmp_path / "vswitchd.out", kind="ovs", ctl="/absent.ctl")
    vswitchd.start()
    node.daemons["ovs-vswitchd"] = vswitchd
    pid, starttime = vswitchd.pid, vswitchd.starttime
    node.stop()
    assert node.daemons == {}
    assert not same_process_alive(pid, starttime)
