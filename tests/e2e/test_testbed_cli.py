"""`flowgate-testbed up/down` as a user runs them, and what is left afterwards: nothing."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flowgate_testbed import Testbed
from flowgate_testbed.main import main
from flowgate_testbed.procs import same_process_alive
from flowgate_testbed.state import netns_prefix

PR_SET_CHILD_SUBREAPER = 36
FLOWGATE_TESTBED = [sys.executable, "-m", "flowgate_testbed.main"]


def flowgate_testbed(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FLOWGATE_TESTBED, *args], capture_output=True, text=True, env=env, timeout=timeout)


def namespaces(prefix: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


def root_veths() -> set[str]:
    out = subprocess.run(
        ["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True, check=True
    ).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def assert_nothing_left(directory: Path, processes: list[dict[str, int]], veths_before: set[str]) -> None:
    alive = [p for p in processes if same_process_alive(p["pid"], p["starttime"])]
    assert alive == [], f"processes left running: {alive}"
    assert namespaces(netns_prefix(directory)) == []
    assert root_veths() <= veths_before
    assert not (directory / "testbed.json").exists()
    assert not (directory / "supervisor.pid").exists()


@pytest.fixture
def subreaper() -> Iterator[None]:
    """Orphans (the detached supervisor) are re-parented to this process, so the test can reap them."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def reap(pid: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    raise AssertionError(f"process {pid} did not exit within {timeout:.0f} s")


def reap_orphans() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["--nodes", "0"], "--nodes must be between 1 and 5000, not 0."),
        (
            ["--nodes", "251"],
            "--nodes must be at most 250 with the Open vSwitch data plane; pass --no-ovs for an API-only testbed "
            "of up to 5000 nodes.",
        ),
        (["--nodes", "5001", "--no-ovs"], "--nodes must be between 1 and 5000, not 5001."),
        (["--network-type", "Calico"], "unknown network type 'Calico'; choose one of OVNKubernetes, OpenShiftSDN."),
    ],
)
def test_up_refuses_bad_input_with_one_sentence(tmp_path: Path, args: list[str], sentence: str) -> None:
    result = flowgate_testbed("up", "--dir", str(tmp_path / "tb"), *args)
    assert result.returncode != 0
    assert result.stderr.strip() == f"flowgate-testbed: {sentence}"
    assert not (tmp_path / "tb").exists()


def test_up_without_openvswitch_says_what_to_install(tmp_path: Path) -> None:
    # a PATH with the basics but without Open vSwitch's tools in /usr/bin
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("openssl", "ip", "ethtool"):
        found = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        (bindir / tool).symlink_to(found)
    env = {**os.environ, "PATH": str(bindir)}
    result = flowgate_testbed("up", "--dir", str(tmp_path / "tb"), env=env)
    assert result.returncode != 0
    assert "is not installed; install the Debian package openvswitch-switch" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "tb").exists()


def test_up_without_the_built_binaries_says_to_build_them(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": "/nonexistent", "FLOWGATE_BIN_DIR": str(tmp_path / "empty")}
    result = subprocess.run(
        [*FLOWGATE_TESTBED, "up", "--dir", str(tmp_path / "tb"), "--no-ovs"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # no ./.bin here either
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "flowgate-testbed: etcd was not found in $FLOWGATE_BIN_DIR, ./.bin or PATH; run `make binaries` to build it."
    )
    assert not (tmp_path / "tb").exists()


def test_up_with_ovs_needs_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["up", "--dir", str(tmp_path / "tb")]) != 0
    stderr = capsys.readouterr().err
    assert stderr.strip() == (
        "flowgate-testbed: the Open vSwitch data plane needs root (network namespaces and OVS daemons); "
        "run as root or pass --no-ovs for an API-only testbed."
    )
    assert not (tmp_path / "tb").exists()


def test_up_down_with_ovs_leaves_nothing_and_can_go_up_again(tmp_path: Path, subreaper: None) -> None:
    directory = tmp_path / "tb"
    veths_before = root_veths()
    started = time.monotonic()
    up = flowgate_testbed("up", "--dir", str(directory), "--nodes", "2")
    print(f"\n`flowgate-testbed up --nodes 2` (OVS) returned after {time.monotonic() - started:.1f} s")
    assert up.returncode == 0, up.stderr
    assert "kube-apiserver up" in up.stderr and "node-2 OVS up" in up.stderr  # progress on stderr
    assert f"export KUBECONFIG={directory / 'kubeconfig'}" in up.stdout

    supervisor = int((directory / "supervisor.pid").read_text())
    state = json.loads((directory / "testbed.json").read_text())
    assert state["ready"] and {n["name"] for n in state["nodes"]} == {"node-1", "node-2"}
    processes = [{"pid": p["pid"], "starttime": p["starttime"]} for p in state["processes"]]
    assert len(processes) == 3 + 2 * 4  # etcd, apiserver, API relay; per node ovsdb, vswitchd, goflow2, traffic
    assert all(same_process_alive(p["pid"], p["starttime"]) for p in processes)
    assert sorted(namespaces(netns_prefix(directory))) == sorted(state["netns"])
    kubectl = subprocess.run(
        [
            str(directory / "bin" / "kubectl"),
            "--kubeconfig",
            str(directory / "kubeconfig"),
            "get",
            "nodes",
            "-o",
            "name",
        ],
        capture_output=True,
        text=True,
    )
    assert kubectl.stdout.split() == ["node/node-1", "node/node-2"]

    again = flowgate_testbed("up", "--dir", str(directory), "--no-ovs")
    assert again.returncode != 0 and "already running" in again.stderr

    down = flowgate_testbed("down", "--dir", str(directory))
    assert down.returncode == 0, down.stderr
    assert os.WEXITSTATUS(reap(supervisor)) == 0
    assert_nothing_left(directory, processes, veths_before)

    # the same DIR comes up again, this time with a node agent per node as the DaemonSet would run
    up = flowgate_testbed("up", "--dir", str(directory), "--nodes", "1", "--agents")
    assert up.returncode == 0, up.stderr
    supervisor = int((directory / "supervisor.pid").read_text())
    processes = [
        {"pid": p["pid"], "starttime": p["starttime"]}
        for p in json.loads((directory / "testbed.json").read_text())["processes"]
    ]
    assert len(processes) == 3 + 4 + 1  # etcd, apiserver, API relay; ovsdb, vswitchd, goflow2, traffic; the agent
    get_flows = [str(directory / "bin" / "kubectl"), "--kubeconfig", str(directory / "kubeconfig"), "get", "flows"]
    deadline = time.monotonic() + 20
    rows: list[list[str]] = []
    while time.monotonic() < deadline and rows != [["node-1", "Disabled"]]:
        time.sleep(0.2)
        table = subprocess.run(get_flows, capture_output=True, text=True)
        rows = [line.split() for line in table.stdout.splitlines()[1:]]
    assert rows == [["node-1", "Disabled"]], "the node agent never reported Flow/node-1"
    assert flowgate_testbed("down", "--dir", str(directory)).returncode == 0
    reap(supervisor)
    assert_nothing_left(directory, processes, veths_before)


def test_down_cleans_up_after_a_killed_supervisor(tmp_path: Path, subreaper: None) -> None:
    directory = tmp_path / "tb"
    veths_before = root_veths()
    up = flowgate_testbed("up", "--dir", str(directory), "--nodes", "1")
    assert up.returncode == 0, up.stderr
    supervisor = int((directory / "supervisor.pid").read_text())
    state = json.loads((directory / "testbed.json").read_text())
    processes = [{"pid": p["pid"], "starttime": p["starttime"]} for p in state["processes"]]
    os.kill(supervisor, signal.SIGKILL)
    reap(supervisor)
    down = flowgate_testbed("down", "--dir", str(directory))
    assert down.returncode == 0, down.stderr
    assert "cleaned up" in down.stderr
    reap_orphans()  # the killed supervisor's children were re-parented here
    assert_nothing_left(directory, processes, veths_before)


def test_testbed_stop_leaves_nothing(tmp_path: Path) -> None:
    veths_before = root_veths()
    testbed = Testbed(tmp_path / "tb", nodes=1, ovs=True, progress=None).start()
    processes = [{"pid": d.pid, "starttime": d.starttime or 0} for d in testbed.daemons()]
    assert len(processes) == 3 + 4  # etcd, apiserver, API relay; ovsdb, vswitchd, goflow2, traffic
    testbed.stop()
    assert_nothing_left(tmp_path / "tb", processes, veths_before)
