"""OvsBridge against a real ovsdb-server (no ovs-vswitchd, so no datapath and no traffic):
the transaction is accepted by OVS's own schema and reads back as written."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.agent.ovs import ExportSettings, OvsBridge, OvsError
from gateway.domain.model import FlowType

SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")

pytestmark = [
    pytest.mark.ovs,
    pytest.mark.skipif(
        shutil.which("ovsdb-server") is None or not SCHEMA.exists(), reason="Open vSwitch is not installed"
    ),
]

CASES = [
    ExportSettings(FlowType.NETFLOW, ("10.89.0.1:30001",), active_timeout=60),
    ExportSettings(FlowType.IPFIX, ("10.89.0.1:30001", "10.89.0.9:4739"), 1, 400, 1000),
    ExportSettings(FlowType.SFLOW, ("10.89.0.1:30001",), agent="ovn-k8s-mp0"),
    ExportSettings(FlowType.SFLOW, ("10.89.0.1:30001",), sampling=64, agent="ovn-k8s-mp0"),
]


@pytest.fixture
def rundir(tmp_path: Path) -> Iterator[Path]:
    # A short path: unix socket paths are limited to ~100 bytes.
    run = Path(os.environ.get("TMPDIR", "/tmp")) / f"fg-ovsdb-{os.getpid()}"
    run.mkdir(exist_ok=True)
    subprocess.run(["ovsdb-tool", "create", str(run / "conf.db"), str(SCHEMA)], check=True)
    server = subprocess.Popen(
        [
            "ovsdb-server",
            str(run / "conf.db"),
            f"--remote=punix:{run / 'db.sock'}",
            f"--unixctl={run / 'ovsdb-server.ctl'}",
            f"--log-file={tmp_path / 'ovsdb-server.log'}",
            "-vconsole:off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:  # the server is stopped even when it never became usable
        for _ in range(100):
            if (run / "db.sock").exists():
                break
            time.sleep(0.05)
        vsctl = ["ovs-vsctl", f"--db=unix:{run / 'db.sock'}", "--no-wait"]
        subprocess.run([*vsctl, "init", "--", "add-br", "br-int"], check=True)
        yield run
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(run, ignore_errors=True)


def rows(run: Path, table: str) -> int:
    out = subprocess.run(
        ["ovs-vsctl", f"--db=unix:{run / 'db.sock'}", "--bare", "--columns=_uuid", "list", table],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return len(out.split())


async def test_each_type_applies_in_one_transaction_and_reads_back(rundir: Path) -> None:
    bridge = OvsBridge("br-int", str(rundir), no_wait=True)
    for settings in CASES:
        await bridge.apply(settings)
        assert await bridge.read() == (settings,)
        # Switching types leaves no row of the others behind.
        assert sum(rows(rundir, t) for t in ("NetFlow", "IPFIX", "sFlow")) == 1
    await bridge.apply(None)
    assert await bridge.read() == ()
    assert sum(rows(rundir, t) for t in ("NetFlow", "IPFIX", "sFlow")) == 0


async def test_ovs_rundir_environment_is_the_default(rundir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVS_RUNDIR", str(rundir))
    assert OvsBridge().db == f"unix:{rundir}/db.sock"


async def test_errors_are_sentences(rundir: Path, tmp_path: Path) -> None:
    with pytest.raises(OvsError, match=r"^OVS at unix:.* has no bridge br-nope; is OVN-Kubernetes running"):
        await OvsBridge("br-nope", str(rundir), no_wait=True).read()
    with pytest.raises(OvsError, match=r"^OVS not reachable at unix:.*/db.sock: database connection failed"):
        await OvsBridge("br-int", str(tmp_path / "absent"), timeout=1).read()
    # Without ovs-vswitchd the change is stored but never confirmed: that is not "emitting".
    waiting = OvsBridge("br-int", str(rundir), timeout=1)
    with pytest.raises(OvsError, match=r"^OVS not reachable at .*: no confirmation within 1s"):
        await waiting.apply(CASES[0])
    with pytest.raises(OvsError, match=r"ovs-vswitchd has not applied the database's configuration"):
        await waiting.read()


async def test_monitor_sees_the_bridge_change(rundir: Path) -> None:
    bridge = OvsBridge("br-int", str(rundir), no_wait=True)
    changes = asyncio.Event()
    task = asyncio.create_task(bridge.monitor(changes.set))
    try:
        async with asyncio.timeout(5):
            await changes.wait()  # the initial state
            changes.clear()
            await bridge.apply(CASES[0])
            await changes.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_database_without_ovs_vswitchd_is_not_exporting(rundir: Path) -> None:
    """ovsdb-server alone: the exporter can be stored, but nothing runs it, and the bridge says so."""
    bridge = OvsBridge("br-int", str(rundir), no_wait=True)
    await bridge.apply(CASES[0])
    assert await bridge.read() == (CASES[0],)
    with pytest.raises(OvsError) as err:
        await bridge.check_vswitchd()
    assert str(err.value) == (
        f"ovs-vswitchd is not running on this node (no pid in {rundir}/ovs-vswitchd.pid), so br-int exports nothing; "
        "flowgate checks again until it is back."
    )
    (rundir / "ovs-vswitchd.pid").write_text("4194303\n")  # a crash leaves its pidfile behind
    with pytest.raises(
        OvsError, match=r"ovs-vswitchd is not running on this node \(.*ovs-vswitchd.4194303.ctl: No such file"
    ):
        await bridge.check_vswitchd()
