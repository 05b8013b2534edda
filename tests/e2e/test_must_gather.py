"""must-gather against the real thing: `flowgate gather` (what the image's /usr/bin/gather runs)
with a cluster-admin service account's token, from inside node-1's network namespace as
must-gather's pod on the pod network would be, on three nodes with real OVS, real agents serving
their /metrics on their node addresses and the real gateway. The gateway's and the agents' Pod
objects are the manifests' own pod templates (deploy/base), scheduled on their nodes with their
node addresses; nothing runs them but the processes this test started, and no kubelet serves
their logs (the testbed has none), so the API server's answer to each log request is what gather
records for logs.

It collects FlowExport, every Flow, the ConsolePlugin, recent Events, the pods, and each node's
br-int exporters as its agent last read them (equal to what OVS holds), and writes no token."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.test_delivery import Deliveries
from tests.fixtures.agents import NodeAgents
from tests.fixtures.gateway import running_gateway
from tests.fixtures.manifests import render_kustomize

pytestmark = [pytest.mark.ovs, pytest.mark.slow]

AGENT_METRICS_PORT = 9880
NAMESPACE = "flowgate"
GATHER_FROM = "node-1"


def manifest_pods(testbed: Any) -> list[dict[str, Any]]:
    """The gateway's pod (on node-1) and one agent pod per node, from deploy/overlays/openshift."""
    objects = render_kustomize("overlays/openshift")
    pods = []
    templates = [("gateway", objects[("Deployment", NAMESPACE, "flowgate-gateway")], [GATHER_FROM])]
    templates.append(("agent", objects[("DaemonSet", NAMESPACE, "flowgate-agent")], list(testbed.node_names)))
    for component, workload, nodes in templates:
        for node in nodes:
            template = copy.deepcopy(workload["spec"]["template"])
            pods.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        **template["metadata"],
                        "name": f"flowgate-{component}-gather-{node}",
                        "namespace": NAMESPACE,
                    },
                    "spec": {**template["spec"], "nodeName": node},
                }
            )
    return pods


@pytest.fixture(scope="module")
def cluster(ovs_testbed: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deliveries]:
    ovs_testbed.reset()
    directory = tmp_path_factory.mktemp("must-gather")
    agents = NodeAgents(ovs_testbed, directory)
    admin = ovs_testbed.client()
    pods = manifest_pods(ovs_testbed)
    plugin = render_kustomize("overlays/openshift")[("ConsolePlugin", None, "flowgate")]
    try:
        for node in ovs_testbed.node_names:
            agents.start(node, extra=["--metrics-address", f"{ovs_testbed.node_ip(node)}:{AGENT_METRICS_PORT}"])
        for pod in pods:
            admin.create(f"/api/v1/namespaces/{NAMESPACE}/pods", pod)
            ip = ovs_testbed.node_ip(pod["spec"]["nodeName"])  # host network, or the gateway's stand-in address
            admin.merge_patch(
                f"/api/v1/namespaces/{NAMESPACE}/pods/{pod['metadata']['name']}/status",
                {"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": ip}},
            )
        admin.create("/apis/console.openshift.io/v1/consoleplugins", plugin)
        with running_gateway(ovs_testbed, directory) as gateway:
            yield Deliveries(ovs_testbed, gateway, agents)
    finally:
        agents.stop_all()
        for pod in pods:
            admin.request(
                "DELETE", f"/api/v1/namespaces/{NAMESPACE}/pods/{pod['metadata']['name']}?gracePeriodSeconds=0"
            )
        if admin.exists("/apis/console.openshift.io/v1/consoleplugins/flowgate"):
            admin.delete("/apis/console.openshift.io/v1/consoleplugins/flowgate")
        ovs_testbed.reset()


def gather_kubeconfig(testbed: Any, directory: Path) -> tuple[Path, str]:
    """A kubeconfig for must-gather's own service account, bound to cluster-admin as
    `oc adm must-gather` binds it."""
    token = testbed.service_account_token("must-gather", namespace="flowgate-must-gather")
    testbed.client().create(
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "flowgate-must-gather"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "must-gather", "namespace": "flowgate-must-gather"}],
        },
    )
    path = directory / "kubeconfig-must-gather"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c", "cluster": {"server": testbed.api_url, "certificate-authority": str(testbed.ca_file)}}
        ],
        "users": [{"name": "must-gather", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "must-gather"}}],
        "current-context": "c",
    }
    path.write_text(yaml.safe_dump(config))
    return path, token


def test_gather_collects_what_support_needs_and_no_token(cluster: Deliveries, tmp_path: Path) -> None:
    tb = cluster.tb
    generation = cluster.start_export("NETFLOW")
    cluster.wait_all("Emitting", generation)
    kubeconfig, token = gather_kubeconfig(tb, tmp_path)
    try:
        dest = tmp_path / "must-gather"
        argv = [
            sys.executable,
            "-m",
            "gateway.main",
            "gather",
            "--dest-dir",
            str(dest),
            "--kubeconfig",
            str(kubeconfig),
        ]
        result = subprocess.run(tb.in_node(GATHER_FROM, argv), capture_output=True, text=True, timeout=120)
    finally:
        tb.client().delete("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/flowgate-must-gather")
    assert result.returncode == 0, result.stderr
    out = dest / "flowgate"
    log = (out / "gather.log").read_text()
    print(log)

    export = yaml.safe_load((out / "cluster-scoped-resources/flowgate.dev/flowexports/cluster.yaml").read_text())
    assert export["spec"]["type"] == "NetFlow" and "managedFields" not in export["metadata"]
    for node in tb.node_names:
        flow = yaml.safe_load((out / f"cluster-scoped-resources/flowgate.dev/flows/{node}.yaml").read_text())
        assert flow["status"]["state"] == "Emitting" and flow["status"]["observedGeneration"] == generation
    plugin = yaml.safe_load(
        (out / "cluster-scoped-resources/console.openshift.io/consoleplugins/flowgate.yaml").read_text()
    )
    assert plugin["spec"]["backend"]["service"]["name"] == "flowgate-gateway"
    events = list(yaml.safe_load_all((out / "events/flowgate.yaml").read_text()))
    assert any(e["regarding"]["kind"] == "FlowExport" for e in events), "no Event about FlowExport/cluster"
    pods = [p["metadata"]["name"] for p in yaml.safe_load_all((out / f"namespaces/{NAMESPACE}/pods.yaml").read_text())]
    assert sorted(pods) == sorted(
        f"flowgate-{c}-gather-{n}" for c, ns in (("gateway", [GATHER_FROM]), ("agent", tb.node_names)) for n in ns
    )

    # Each node's exporters as its agent last read them: what OVS holds.
    for node in tb.node_names:
        view = yaml.safe_load((out / f"nodes/{node}/br-int.yaml").read_text())
        assert view["source"] == f"http://{tb.node_ip(node)}:{AGENT_METRICS_PORT}/metrics"
        assert view["exporters"] == [
            {"bridge": "br-int", "type": "NetFlow", "targets": f"{tb.node_ip(node)}:30001", "active_timeout": 1}
        ], view
        held = tb.ovs_vsctl(node, "--format=json", "--columns=targets,active_timeout", "list", "netflow")
        assert f'"{tb.node_ip(node)}:30001"' in held and ",1]" in held.replace(" ", ""), held
        assert "flowgate_agent_delivery{" in (out / f"nodes/{node}/agent-metrics.txt").read_text()

    # Logs come from the kubelet through the API server; with no kubelet here, gather says so and
    # goes on.
    for pod in pods:
        assert f"logs of pod {pod}: FAILED: the API server answered" in log, log

    # No credential anywhere in what it wrote.
    written = [p for p in dest.rglob("*") if p.is_file()]
    assert (dest / "version").read_text().startswith("flowgate-must-gather\n")
    secrets = [token, tb.token("admin"), *tb.issued_tokens]
    for path in written:
        text = path.read_text(errors="replace")
        assert not [s for s in secrets if s in text], f"{path} holds a token"
        assert "BEGIN" not in text or "PRIVATE KEY" not in text, f"{path} holds a private key"
