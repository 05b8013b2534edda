"""The ovs-vsctl transaction OVN-Kubernetes uses, and reading a bridge back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from gateway.agent.ovs import (
    BridgeReading,
    ExportSettings,
    OvsBridge,
    build_read,
    build_transaction,
    desired_settings,
    matches,
    parse_port_stats,
    parse_read,
)
from gateway.domain.model import CollectorTarget, FlowExportSpec, FlowType

CLEAR = [
    "--", "clear", "bridge", "br-int", "netflow",
    "--", "clear", "bridge", "br-int", "sflow",
    "--", "clear", "bridge", "br-int", "ipfix",
]  # fmt: skip


def spec(flow_type: FlowType | None, **kwargs: int) -> FlowExportSpec:
    return FlowExportSpec(type=flow_type, collector=CollectorTarget(node_port=30001), **kwargs)  # type: ignore[arg-type]


def test_stop_clears_all_three_exporters() -> None:
    assert desired_settings(spec(None), ["10.0.0.1:30001"], "ovn-k8s-mp0") is None
    assert build_transaction("br-int", None) == CLEAR


def test_netflow_as_ovn_kubernetes_does_with_its_default_timeout() -> None:
    settings = desired_settings(spec(FlowType.NETFLOW), ["10.0.0.1:30001"], "ovn-k8s-mp0")
    assert build_transaction("br-int", settings) == [
        *CLEAR,
        "--", "--id=@netflow", "create", "netflow", 'targets=["10.0.0.1:30001"]', "active_timeout=60",
        "--", "set", "bridge", "br-int", "netflow=@netflow",
    ]  # fmt: skip


def test_netflow_ignores_sampling_and_honours_active_timeout() -> None:
    settings = desired_settings(spec(FlowType.NETFLOW, sampling=10, active_timeout_seconds=1), ["a:1"], "mp0")
    assert settings == ExportSettings(FlowType.NETFLOW, ("a:1",), active_timeout=1)


def test_ipfix_defaults_sampling_400_and_cache_timeout_60() -> None:
    settings = desired_settings(spec(FlowType.IPFIX), ["10.0.0.1:30001"], "ovn-k8s-mp0")
    assert build_transaction("br-int", settings)[len(CLEAR) :] == [
        "--", "--id=@ipfix", "create", "ipfix", 'targets=["10.0.0.1:30001"]', "cache_active_timeout=60", "sampling=400",
        "--", "set", "bridge", "br-int", "ipfix=@ipfix",
    ]  # fmt: skip


def test_ipfix_tuning() -> None:
    tuned = spec(FlowType.IPFIX, sampling=1, active_timeout_seconds=1, cache_max_flows=1000)
    settings = desired_settings(tuned, ["10.0.0.1:30001", "10.0.0.2:30001"], "mp0")
    assert build_transaction("br0", settings)[len(CLEAR) :] == [
        "--", "--id=@ipfix", "create", "ipfix", 'targets=["10.0.0.1:30001","10.0.0.2:30001"]',
        "cache_active_timeout=1", "cache_max_flows=1000", "sampling=1",
        "--", "set", "bridge", "br0", "ipfix=@ipfix",
    ]  # fmt: skip


def test_sflow_names_the_agent_and_samples_only_when_asked() -> None:
    settings = desired_settings(spec(FlowType.SFLOW), ["10.0.0.1:30001"], "ovn-k8s-mp0")
    assert build_transaction("br-int", settings)[len(CLEAR) :] == [
        "--", "--id=@sflow", "create", "sflow", "agent=ovn-k8s-mp0", 'targets=["10.0.0.1:30001"]',
        "--", "set", "bridge", "br-int", "sflow=@sflow",
    ]  # fmt: skip
    sampled = desired_settings(spec(FlowType.SFLOW, sampling=64), ["10.0.0.1:30001"], "ovn-k8s-mp0")
    assert build_transaction("br-int", sampled)[-6:-5] == ["sampling=64"]


def test_ipv6_targets_are_quoted_whole() -> None:
    settings = desired_settings(spec(FlowType.NETFLOW), ["[fd00::1]:30001"], "mp0")
    assert 'targets=["[fd00::1]:30001"]' in build_transaction("br-int", settings)


def _table(headings: list[str], rows: list[list[object]]) -> str:
    return json.dumps({"data": rows, "headings": headings})


def _read_output(bridge_row: list[object] | None, netflow=(), ipfix=(), sflow=(), cfg=(3, 3)) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(
        [
            _table(["netflow", "sflow", "ipfix"], [bridge_row] if bridge_row else []),
            _table(["_uuid", "targets", "active_timeout"], list(netflow)),
            _table(["_uuid", "targets", "sampling", "cache_active_timeout", "cache_max_flows"], list(ipfix)),
            _table(["_uuid", "agent", "targets", "sampling"], list(sflow)),
            _table(["next_cfg", "cur_cfg"], [[cfg[0], cfg[1]]]),
        ]
    )


EMPTY = ["set", []]


def test_read_command_lists_the_bridge_and_the_three_tables() -> None:
    args = build_read("br-int")
    assert args[:6] == ["--format=json", "--", "--columns=netflow,sflow,ipfix", "list", "Bridge", "br-int"]
    assert [args[i + 3] for i, a in enumerate(args) if a == "--"][1:] == ["NetFlow", "IPFIX", "sFlow", "Open_vSwitch"]


def test_parse_nothing_configured() -> None:
    assert parse_read(_read_output([EMPTY, EMPTY, EMPTY])) == BridgeReading(())


def test_parse_notices_vswitchd_behind_the_database() -> None:
    assert parse_read(_read_output([EMPTY, EMPTY, EMPTY], cfg=(4, 3))).vswitchd_behind


def test_parse_one_ipfix_row_with_single_atom_sets() -> None:
    row = [["uuid", "u1"], "10.0.0.1:30001", 400, 60, EMPTY]
    out = _read_output([EMPTY, EMPTY, ["uuid", "u1"]], ipfix=[row])
    assert parse_read(out).exporters == (ExportSettings(FlowType.IPFIX, ("10.0.0.1:30001",), 60, 400, None),)


def test_parse_ignores_rows_of_other_bridges_and_reads_multi_target_sets() -> None:
    mine = [["uuid", "u1"], ["set", ["b:2", "a:1"]], 60]
    other = [["uuid", "u2"], "c:3", 60]
    out = _read_output([["uuid", "u1"], EMPTY, EMPTY], netflow=[mine, other])
    observed = parse_read(out).exporters
    assert observed == (ExportSettings(FlowType.NETFLOW, ("b:2", "a:1"), active_timeout=60),)
    assert matches(observed, ExportSettings(FlowType.NETFLOW, ("a:1", "b:2"), active_timeout=60))


def test_parse_sflow_without_sampling() -> None:
    row = [["uuid", "s"], "ovn-k8s-mp0", "10.0.0.1:30001", EMPTY]
    observed = parse_read(_read_output([EMPTY, ["uuid", "s"], EMPTY], sflow=[row])).exporters
    assert observed == (ExportSettings(FlowType.SFLOW, ("10.0.0.1:30001",), agent="ovn-k8s-mp0"),)


def test_missing_bridge_rows_read_as_nothing_and_garbage_is_refused() -> None:
    assert parse_read(_read_output(None)).exporters == ()
    with pytest.raises(ValueError):
        parse_read("{}")


def test_matches_needs_exactly_the_desired_exporter() -> None:
    netflow = ExportSettings(FlowType.NETFLOW, ("a:1",), active_timeout=60)
    ipfix = ExportSettings(FlowType.IPFIX, ("a:1",), 60, 400)
    assert matches((), None)
    assert not matches((netflow,), None)
    assert matches((netflow,), netflow)
    assert not matches((netflow, ipfix), netflow)  # a second exporter added by hand is drift too
    assert not matches((ExportSettings(FlowType.NETFLOW, ("a:1",), active_timeout=1),), netflow)


def process_exists(pid: int) -> bool:
    """Running or a zombie: either way still in /proc."""
    return Path(f"/proc/{pid}").exists()


async def test_a_cancelled_ovs_vsctl_run_is_killed_and_reaped(tmp_path: Path) -> None:
    """SIGTERM cancels the agent mid-transaction (say, waiting for ovs-vswitchd to confirm): the
    ovs-vsctl child must not outlive it, orphaned to a PID 1 that may never reap it."""
    pid_file = tmp_path / "pid"
    slow = tmp_path / "ovs-vsctl"
    slow.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 60\n")
    slow.chmod(0o755)
    bridge = OvsBridge("br-int", str(tmp_path), executable=str(slow))
    task = asyncio.create_task(bridge.apply(None))
    for _ in range(200):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        await asyncio.sleep(0.05)
    pid = int(pid_file.read_text())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not process_exists(pid), "ovs-vsctl was left running (or unreaped) after cancellation"


# What `ovs-ofctl dump-ports br-int` answered on a testbed node (OpenFlow 1.5: the pods' ports 1
# and 3, the management port 2, the bridge's own LOCAL), with a port whose counter OVS lacks.
PORT_STATS = """OFPST_PORT reply (OF1.5) (xid=0x2): 5 ports
  port  1: rx pkts=95, bytes=4875, drop=0, errs=0, frame=0, over=0, crc=0
           tx pkts=107, bytes=5871, drop=0, errs=0, coll=0
           duration=11.392s
  port LOCAL: rx pkts=0, bytes=0, drop=0, errs=0, frame=0, over=0, crc=0
           tx pkts=0, bytes=0, drop=19, errs=0, coll=0
           duration=11.392s
  port  2: rx pkts=7, bytes=586, drop=0, errs=0, frame=0, over=0, crc=0
           tx pkts=12, bytes=948, drop=0, errs=0, coll=0
  port  3: rx pkts=123456789012, bytes=4875, drop=0, errs=0, frame=0, over=0, crc=0
           tx pkts=108, bytes=5957, drop=0, errs=0, coll=0
  port  patch-br-int-to-br-ex: rx pkts=?, bytes=?, drop=?, errs=?, frame=?, over=?, crc=?
           tx pkts=?, bytes=?, drop=?, errs=?, coll=?
"""


def test_the_packets_entering_the_bridge_are_every_ports_received_packets() -> None:
    assert parse_port_stats(PORT_STATS) == {"1": 95.0, "LOCAL": 0.0, "2": 7.0, "3": 123456789012.0}
    with pytest.raises(ValueError):
        parse_port_stats("ovs-ofctl: br-int is not a bridge or a socket")
