"""`kubectl flows` end to end: the real kubectl runs the installed plugin, which talks to the
testbed's real kube-apiserver with the kubeconfig (the default) or to a real gateway in front of
it (FLOWGATE_GATEWAY). Both routes give the same answers."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flowgate_testbed.testbed import free_port

from tests.fixtures.credentials import client_certificate_kubeconfig, exec_plugin_kubeconfig
from tests.fixtures.gateway import running_gateway
from tests.fixtures.kubectl import Kubectl, LineReader, flow_status

pytestmark = pytest.mark.usefixtures("kubectl_binary")

SDN_SENTENCE = "OpenShiftSDN does not support flows tracing."


@pytest.fixture(params=["api-server", "gateway"])
def route(request: pytest.FixtureRequest, testbed: Any, tmp_path: Path) -> Iterator[str | None]:
    """How `kubectl flows` gets its answers: the API server itself (None) or a gateway's URL.
    The testbed is reset first (no FlowExport, no Flows)."""
    testbed.reset()
    if request.param == "gateway":
        with running_gateway(testbed, tmp_path) as gateway:
            yield gateway.url
    else:
        yield None


@pytest.fixture
def admin(testbed: Any, route: str | None) -> Kubectl:
    return Kubectl(Path(testbed.kubeconfig("admin")), route)


@pytest.fixture
def viewer(testbed: Any, route: str | None) -> Kubectl:
    return Kubectl(Path(testbed.kubeconfig("viewer")), route)


def flow_export(kubectl: Kubectl) -> dict[str, Any] | None:
    result = kubectl("get", "flowexports.flowgate.dev", "cluster", "-o", "json")
    if result.returncode != 0:
        assert "NotFound" in result.stderr, result.stderr
        return None
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def by_name(rows: list[list[str]]) -> dict[str, list[str]]:
    return {row[0]: row for row in rows}


def test_start_status_get_and_stop(admin: Kubectl, testbed: Any) -> None:
    nodes = sorted(testbed.node_names)
    started = admin("flows", "start", "netflow", "--node-port", "30001")
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith("Flow export started: netflow to nodePort 30001")
    assert sorted(by_name(started.rows())) == nodes

    status = admin.ok("flows", "status")
    assert status.stdout.splitlines()[0].split() == ["NAME", "STATUS", "TYPE", "ENDPOINT"]
    assert {name: row[1:3] for name, row in by_name(status.rows()).items()} == {
        node: ["pending", "netflow"] for node in nodes
    }

    # Each node agent reports (as the real agent would) and both views agree.
    for index, node in enumerate(nodes):
        flow_status(admin, node, "Emitting", "NetFlow", f"10.1.2.{index + 3}:30001")
    status = admin.ok("flows", "status")
    rows = by_name(status.rows())
    assert rows == {node: [node, "emitting", "netflow", f"10.1.2.{i + 3}:30001"] for i, node in enumerate(nodes)}
    native = admin.ok("get", "flows")
    assert native.stdout.splitlines()[0].split() == ["NAME", "STATUS", "TYPE", "ENDPOINT"]
    # kubectl prints the CRD's CamelCase enum values; the plugin prints them lower-case, as the seed.
    assert {name: [cell.lower() for cell in row] for name, row in by_name(native.rows()).items()} == rows

    stopped = admin("flows", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.startswith("Flow export stopped")
    assert {row[1] for row in stopped.rows()} == {"disabled"}
    assert {row[1] for row in admin.ok("flows", "status").rows()} == {"disabled"}
    export = flow_export(admin)
    assert export is not None and not export["spec"].get("type")


def test_start_for_a_while_on_chosen_nodes_says_until_when_and_where(admin: Kubectl, testbed: Any) -> None:
    nodes = sorted(testbed.node_names)
    unknown = admin("flows", "start", "netflow", "--for", "30m", "--nodes", f"{nodes[0]},node-9")
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert unknown.stderr == (
        "--nodes: 'node-9' is no node of this cluster; flow export was not changed. Correct the names, or set "
        "--ignore-unknown-nodes to start on the 1 known one only.\n"
    )
    assert flow_export(admin) is None

    before = time.time()
    started = admin.ok(
        "flows",
        "start",
        "netflow",
        "--for",
        "30m",
        "--nodes",
        f"{nodes[0]},node-9,{nodes[1]}",
        "--ignore-unknown-nodes",
    )
    lines = started.stdout.splitlines()
    assert (
        lines[1] == f"It runs on 2 of 3 nodes (nodes {nodes[0]}, {nodes[1]}); the others report disabled, not selected."
    )
    assert re.fullmatch(r"Every node stops by itself at \S+Z, in (29m|30m)\.", lines[2]), lines[2]
    assert lines[3] == "Left out, being no node of this cluster: node-9."
    spec = (flow_export(admin) or {})["spec"]
    assert spec["nodes"] == [nodes[0], nodes[1]]
    deadline = datetime.fromisoformat(spec["deadline"].replace("Z", "+00:00")).timestamp()
    assert before + 1799 <= deadline <= time.time() + 1801  # the testbed's API server shares this clock
    assert {row[0]: row[1] for row in started.rows()} == {
        nodes[0]: "pending",
        nodes[1]: "pending",
        nodes[2]: "disabled",
    }

    status = admin.ok("flows", "status")
    assert re.fullmatch(
        rf"NetFlow on 2 of 3 nodes \(nodes {nodes[0]}, {nodes[1]}\); stops in (29|30)m \(at {spec['deadline']}\)\.",
        status.stdout.splitlines()[0],
    ), status.stdout
    flow_status(admin, nodes[2], "Disabled", None, None)  # as its agent reports a node not selected
    native = admin.ok("get", "flows")  # still the seed's columns
    assert native.stdout.splitlines()[0].split() == ["NAME", "STATUS", "TYPE", "ENDPOINT"]

    labelled = admin.ok("flows", "start", "ipfix", "--node-selector", "flows=on")
    assert "It runs on 0 of 3 nodes (nodes labelled flows=on)" in labelled.stdout
    admin.ok("label", "node", nodes[2], "flows=on")
    try:
        status = admin.ok("flows", "status")
        assert status.stdout.splitlines()[0] == "IPFIX on 1 of 3 nodes (nodes labelled flows=on), until stopped."
        assert {row[0]: row[1] for row in status.rows()}[nodes[2]] == "pending"
    finally:
        admin.ok("label", "node", nodes[2], "flows-")


@pytest.mark.parametrize("through_gateway", [False, True])
def test_sdn_cluster_refuses_with_the_exact_sentence(sdn_testbed: Any, tmp_path: Path, through_gateway: bool) -> None:
    sdn_testbed.reset()
    if through_gateway:
        with running_gateway(sdn_testbed, tmp_path) as gateway:
            result = Kubectl(Path(sdn_testbed.kubeconfig("admin")), gateway.url)("flows", "start", "netflow")
    else:
        result = Kubectl(Path(sdn_testbed.kubeconfig("admin")))("flows", "start", "netflow")
    admin = Kubectl(Path(sdn_testbed.kubeconfig("admin")))
    assert result.returncode == 1
    assert result.stderr == SDN_SENTENCE + "\n"
    assert result.stdout == ""
    assert flow_export(admin) is None
    dry_run = admin("flows", "start", "netflow", "--dry-run")  # what a start would do, it says
    assert (dry_run.returncode, dry_run.stderr, dry_run.stdout) == (1, SDN_SENTENCE + "\n", "")


def test_viewer_may_look_but_not_start(admin: Kubectl, viewer: Kubectl, testbed: Any) -> None:
    refused = viewer("flows", "start", "ipfix")
    assert refused.returncode == 1
    assert refused.stderr.count("\n") <= 2, refused.stderr
    # The verb and the resource are named (create: the FlowExport does not exist yet).
    assert re.search(r"\b(create|update|patch)\b.*flowexports\.flowgate\.dev", refused.stderr), refused.stderr
    assert flow_export(admin) is None
    status = viewer("flows", "status")
    assert status.returncode == 0, status.stderr
    assert sorted(by_name(status.rows())) == sorted(testbed.node_names)


def report_traffic(kubectl: Kubectl, node: str, packets_per_second: float) -> None:
    """Write the node's traffic into Flow/<node>'s status, as its agent does."""
    measured = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    patch = {"status": {"traffic": {"packetsPerSecond": packets_per_second, "measuredAt": measured}}}
    kubectl.ok("patch", "flows.flowgate.dev", node, "--subresource=status", "--type=merge", "-p", json.dumps(patch))


def resource_versions(kubectl: Kubectl) -> dict[str, str]:
    """The resourceVersion of FlowExport/cluster and of every Flow: any write moves one."""
    versions = {}
    for kind in ("flowexports.flowgate.dev", "flows.flowgate.dev"):
        for item in json.loads(kubectl.ok("get", kind, "-o", "json").stdout)["items"]:
            versions[f"{kind}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
    return versions


def test_dry_run_projects_each_nodes_cost_from_its_traffic_and_changes_nothing(
    admin: Kubectl, viewer: Kubectl, testbed: Any
) -> None:
    nodes = sorted(testbed.node_names)
    admin.ok("flows", "start", "netflow", "--node-port", "30001")
    for index, node in enumerate(nodes):
        flow_status(admin, node, "Emitting", "NetFlow", f"10.1.2.{index + 3}:30001")
    rates = {nodes[0]: 2000.0, nodes[1]: 20000.0}  # the third node has not reported its traffic
    for node, rate in rates.items():
        report_traffic(admin, node, rate)
    time.sleep(1)  # the gateway's watch has the writes
    before = resource_versions(admin)
    events = admin.ok("get", "events", "-A", "-o", "name").stdout

    # A viewer may not start, but may ask what a start would cost.
    result = viewer("flows", "start", "ipfix", "--sampling", "64", "--node-port", "30001", "--dry-run", "-o", "json")
    assert result.returncode == 0, result.stderr
    projection = json.loads(result.stdout)
    assert projection["type"] == "IPFIX" and projection["sampling"] == 64
    by_node = {n["node"]: n for n in projection["nodes"]}
    assert sorted(by_node) == nodes
    for node, rate in rates.items():
        assert by_node[node]["packetsPerSecond"] == rate and by_node[node]["range"] == "MEASURED"
        assert by_node[node]["cost"]["exportBytesPerSecond"] > 0
    assert by_node[nodes[1]]["cost"]["exportBytesPerSecond"] > 5 * by_node[nodes[0]]["cost"]["exportBytesPerSecond"]
    assert by_node[nodes[2]] == {**by_node[nodes[2]], "range": "UNKNOWN", "cost": None}
    assert projection["unknownNodes"] == 1
    assert "userspace datapath" in projection["basis"]["description"]

    table = viewer.ok("flows", "start", "ipfix", "--sampling", "64", "--dry-run")
    assert "Nothing was changed (--dry-run)." in table.stdout and "TOTAL" in table.stdout
    assert resource_versions(admin) == before
    assert admin.ok("get", "events", "-A", "-o", "name").stdout == events
    # What a start refuses, a dry run refuses in the same words.
    refused = viewer("flows", "start", "ipfix", "--target", "10.0.0.1:2055", "--metrics-port", "9", "--dry-run")
    assert refused.returncode == 2 and "--metrics-port" in refused.stderr


def test_nobody_is_told_which_permission_reading_needs(admin: Kubectl, testbed: Any, route: str | None) -> None:
    nobody = Kubectl(Path(testbed.kubeconfig("nobody")), route)
    result = nobody("flows", "status")
    assert result.returncode == 1
    assert "list" in result.stderr and "flows.flowgate.dev" in result.stderr, result.stderr


def test_status_json_uses_the_graphql_field_names(admin: Kubectl, testbed: Any) -> None:
    admin.ok("flows", "start", "sflow", "--target", "10.9.9.9:6343", "--sampling", "64")
    state = json.loads(admin.ok("flows", "status", "-o", "json").stdout)
    assert {"enabled", "type", "collector", "networkType", "supported", "generation", "summary", "nodes"} <= set(state)
    assert state["type"] == "SFLOW" and state["enabled"] is True
    assert state["collector"]["targets"] == ["10.9.9.9:6343"]
    assert state["summary"]["total"] == len(testbed.node_names)
    assert set(state["nodes"][0]) == {
        "node",
        "state",
        "type",
        "endpoint",
        "message",
        "updatedAt",
        "observedGeneration",
        "delivery",
        "recordsPerSecond",
        "lastRecordAt",
        "deliverySince",
        "deliveryMessage",
        "packetsPerSecond",
        "trafficMeasuredAt",
        "projectedRecordsPerSecond",
        "projectedExportBytesPerSecond",
        "projectionRange",
        "selected",
    }
    assert state["collector"]["metricsTarget"] is None
    one = json.loads(admin.ok("flows", "status", "-o", "json", "--node", testbed.node_names[0]).stdout)
    assert [n["node"] for n in one["nodes"]] == [testbed.node_names[0]]


def test_watch_in_a_pipe_prints_a_line_when_a_node_changes(
    admin: Kubectl, testbed: Any, watch_processes: list[LineReader]
) -> None:
    nodes = sorted(testbed.node_names)
    admin.ok("flows", "start", "netflow", "--node-port", "30001")
    watch = admin.popen("flows", "status", "--watch")
    watch_processes.append(watch)
    header = watch.next_line(timeout=30)
    assert header.split() == ["NAME", "STATUS", "TYPE", "ENDPOINT"]
    first = [watch.next_line(timeout=10).split() for _ in nodes]
    assert sorted(row[0] for row in first) == nodes and {row[1] for row in first} == {"pending"}

    time.sleep(1)  # the subscription's own snapshot repeats the table and must print nothing
    changed = nodes[-1]
    began = time.monotonic()
    flow_status(admin, changed, "Emitting", "NetFlow", "10.1.2.3:30001")
    line = watch.next_line(timeout=10)
    assert line.split() == [changed, "emitting", "netflow", "10.1.2.3:30001"]
    assert line.index("emitting") == header.index("STATUS")  # same columns as the table
    print(f"watch line {time.monotonic() - began:.2f}s after the Flow status write")
    assert watch.interrupt() == 0


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["start", "bogus"], "TYPE"),
        (["start", "netflow", "--node-port", "abc"], "--node-port"),
        (["start", "netflow", "--node-port", "30001", "--target", "10.0.0.1:2055"], "--node-port"),
        (["start", "ipfix", "--selector", "app=flows,oops"], "--selector"),
    ],
)
def test_bad_input_is_a_usage_error_and_nothing_is_sent(admin: Kubectl, argv: list[str], flag: str) -> None:
    result = admin("flows", *argv)
    assert result.returncode == 2
    assert flag in result.stderr.splitlines()[0], result.stderr
    assert flow_export(admin) is None
    # With the gateway address pointing nowhere the answer is still the usage error (3 would mean
    # the plugin tried to connect).
    assert admin("flows", *argv, FLOWGATE_GATEWAY=f"http://127.0.0.1:{free_port()}").returncode == 2


def test_the_same_answer_either_way(testbed: Any, tmp_path: Path) -> None:
    testbed.reset()
    direct = Kubectl(Path(testbed.kubeconfig("admin")))
    direct.ok("flows", "start", "ipfix", "--selector", "role=flows-collector", "--sampling", "64")
    flow_status(direct, testbed.node_names[0], "Error", "IPFIX", None)
    with running_gateway(testbed, tmp_path) as gateway:
        through = Kubectl(Path(testbed.kubeconfig("admin")), gateway.url)
        for output in ("json", "yaml", "table"):  # (wide ages with the clock)
            assert (
                direct.ok("flows", "status", "-o", output).stdout == through.ok("flows", "status", "-o", output).stdout
            )


def test_client_certificate_and_exec_plugin_kubeconfigs_work_as_for_kubectl(testbed: Any, tmp_path: Path) -> None:
    """A kind cluster's client certificate, an EKS/GKE-style exec plugin: no --token needed."""
    testbed.reset()
    cert_user = Kubectl(client_certificate_kubeconfig(testbed, tmp_path / "cert", "carol", ("system:masters",)))
    assert cert_user.ok("get", "nodes").returncode == 0  # kubectl itself works with it …
    started = cert_user("flows", "start", "sflow", "--node-port", "30001")  # … and so does the plugin
    assert started.returncode == 0, started.stderr
    exec_user = Kubectl(exec_plugin_kubeconfig(testbed, tmp_path / "exec", testbed.token("viewer")))
    status = exec_user("flows", "status", "-o", "json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["type"] == "SFLOW"
    refused = exec_user("flows", "stop")
    assert refused.returncode == 1 and 'User "viewer" may not' in refused.stderr, refused.stderr


def test_unreachable_api_server_says_where_it_looked(testbed: Any, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        Path(testbed.kubeconfig("admin")).read_text().replace(testbed.api_url, f"https://127.0.0.1:{free_port()}")
    )
    result = Kubectl(kubeconfig)("flows", "status", "--request-timeout", "5s")
    assert result.returncode == 3
    assert "Cannot reach the Kubernetes API server at https://127.0.0.1:" in result.stderr
    assert str(kubeconfig) in result.stderr, result.stderr


def test_unreachable_gateway_says_where_it_looked(admin: Kubectl) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = admin("flows", "status", FLOWGATE_GATEWAY=url)
    assert result.returncode == 3
    assert f"{url}/graphql (from FLOWGATE_GATEWAY)" in result.stderr
    assert "--gateway URL or FLOWGATE_GATEWAY" in result.stderr


def test_kubectl_completes_the_plugin_through_the_installed_completer(admin: Kubectl) -> None:
    """kubectl's own plugin completion finds kubectl_complete-flows beside kubectl-flows."""
    result = admin.ok("__complete", "flows", "st")
    candidates = [line.split("\t")[0] for line in result.stdout.splitlines() if line and not line.startswith(":")]
    assert {"start", "status", "stop"} <= set(candidates), result.stdout
    assert "version" not in candidates
