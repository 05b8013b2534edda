"""The testbed's API server, against the real thing: kubectl, RBAC for the test users, CRD
validation, the seeded OpenShift-like cluster, an API outage and reset()."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from flowgate_testbed import Testbed, TestbedError
from flowgate_testbed.testbed import free_ports

FLOW_API = "/apis/flowgate.dev/v1alpha1"
CRDS = {
    "flowexports.flowgate.dev",
    "flows.flowgate.dev",
    "networks.config.openshift.io",
    "networks.operator.openshift.io",
    "consoleplugins.console.openshift.io",
}


def kubectl_ok(testbed: Testbed, *args: str, user: str = "admin", input: str | None = None) -> str:
    result = testbed.kubectl(*args, user=user, input=input)
    assert result.returncode == 0, f"kubectl {' '.join(args)} as {user}: {result.stderr}"
    return result.stdout


def apply_refused(testbed: Testbed, obj: dict[str, Any]) -> str:
    result = testbed.kubectl("create", "-f", "-", input=json.dumps(obj))
    assert result.returncode != 0, f"the API server accepted {obj}"
    return result.stderr


def flow_export(collector: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "flowgate.dev/v1alpha1",
        "kind": "FlowExport",
        "metadata": {"name": "cluster"},
        "spec": {"type": "NetFlow", "collector": collector},
    }


def test_get_nodes_lists_every_node_ready_with_its_internal_ip(testbed: Testbed) -> None:
    nodes = json.loads(kubectl_ok(testbed, "get", "nodes", "-o", "json"))["items"]
    assert [n["metadata"]["name"] for n in nodes] == ["node-1", "node-2", "node-3"]
    for node in nodes:
        name = node["metadata"]["name"]
        addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
        assert addresses["InternalIP"] == testbed.node_ip(name)
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True"
        primary = json.loads(node["metadata"]["annotations"]["k8s.ovn.org/node-primary-ifaddr"])
        assert primary == {"ipv4": f"{testbed.node_ip(name)}/24"}
    table = kubectl_ok(testbed, "get", "nodes").splitlines()
    assert len(table) == 1 + 3 and all(" Ready " in line for line in table[1:])


def test_get_crd_includes_the_five_crds(testbed: Testbed) -> None:
    names = set(kubectl_ok(testbed, "get", "crd", "-o", "name").split())
    assert {f"customresourcedefinition.apiextensions.k8s.io/{name}" for name in CRDS} <= names


def test_get_flows_prints_the_seed_header(fresh_testbed: Testbed) -> None:
    admin = fresh_testbed.client()
    admin.create(
        f"{FLOW_API}/flows", {"apiVersion": "flowgate.dev/v1alpha1", "kind": "Flow", "metadata": {"name": "node-1"}}
    )
    admin.merge_patch(
        f"{FLOW_API}/flows/node-1/status",
        {"status": {"state": "Emitting", "type": "NetFlow", "endpoint": "10.89.0.1:30001", "observedGeneration": 1}},
    )
    lines = kubectl_ok(fresh_testbed, "get", "flows").splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "TYPE", "ENDPOINT"]
    assert lines[1].split() == ["node-1", "Emitting", "NetFlow", "10.89.0.1:30001"]
    fresh_testbed.reset()


@pytest.mark.parametrize(
    ("user", "verb", "resource", "allowed"),
    [
        ("admin", "update", "flowexports.flowgate.dev", True),
        ("viewer", "update", "flowexports.flowgate.dev", False),
        ("nobody", "update", "flowexports.flowgate.dev", False),
        ("viewer", "watch", "flows.flowgate.dev", True),
        ("viewer", "list", "networks.config.openshift.io", True),
        ("nobody", "list", "flows.flowgate.dev", False),
        ("gateway", "watch", "flowexports.flowgate.dev", True),
        ("gateway", "create", "tokenreviews.authentication.k8s.io", True),
        ("gateway", "create", "subjectaccessreviews.authorization.k8s.io", True),
        ("gateway", "update", "flowexports.flowgate.dev", False),
        ("agent", "patch", "flows.flowgate.dev/status", True),
        ("agent", "list", "endpointslices.discovery.k8s.io", True),
        ("agent", "update", "flowexports.flowgate.dev", False),
    ],
)
def test_auth_can_i(testbed: Testbed, user: str, verb: str, resource: str, allowed: bool) -> None:
    args = ["auth", "can-i", verb]
    if resource.endswith("/status"):
        args += [resource.removesuffix("/status"), "--subresource=status"]
    else:
        args.append(resource)
    result = testbed.kubectl(*args, user=user)
    assert result.stdout.strip() == ("yes" if allowed else "no"), result.stderr
    assert result.returncode == (0 if allowed else 1)


def test_viewer_may_read_what_kubectl_flows_reads_and_nothing_more(testbed: Testbed) -> None:
    def can(verb: str, resource: str) -> str:
        return testbed.kubectl("auth", "can-i", verb, resource, user="viewer").stdout.strip()

    for resource in ("flows.flowgate.dev", "flowexports.flowgate.dev", "nodes", "networks.config.openshift.io"):
        assert (can("list", resource), can("watch", resource)) == ("yes", "yes"), resource
    assert can("update", "flowexports.flowgate.dev") == "no"
    assert can("get", "services/proxy") == "no"  # no gateway route is needed any more


def test_flowgate_admin_role_may_change_flowexports(fresh_testbed: Testbed) -> None:
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "test-flowgate-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "flowgate-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}],
    }
    kubectl_ok(fresh_testbed, "create", "-f", "-", input=json.dumps(binding))
    try:
        for verb in ("create", "update", "patch", "delete", "watch"):
            out = fresh_testbed.kubectl("auth", "can-i", verb, "flowexports.flowgate.dev", "--as", "alice").stdout
            assert out.strip() == "yes", verb
        out = fresh_testbed.kubectl("auth", "can-i", "update", "flows.flowgate.dev", "--as", "alice").stdout
        assert out.strip() == "no"
    finally:
        kubectl_ok(fresh_testbed, "delete", "clusterrolebinding", "test-flowgate-admin")


def test_each_kubeconfig_authenticates_as_its_user(testbed: Testbed) -> None:
    for user in ("admin", "viewer", "nobody", "gateway", "agent"):
        config = yaml.safe_load(testbed.kubeconfig(user).read_text())
        assert config["clusters"][0]["cluster"]["server"] == testbed.api_url
        assert config["users"][0]["user"]["token"] == testbed.token(user)
        review = kubectl_ok(testbed, "auth", "whoami", "-o", "json", user=user)
        assert json.loads(review)["status"]["userInfo"]["username"] == user
    assert (testbed.dir / "bin" / "kubectl").resolve().is_file()
    forbidden = testbed.kubectl("get", "flows", user="nobody")
    assert forbidden.returncode != 0 and "forbidden" in forbidden.stderr


@pytest.mark.parametrize(
    ("collector", "message"),
    [
        ({"nodePort": 30001, "targets": ["10.0.0.1:2055"]}, "give only one of nodePort, selector or targets"),
        (
            {"nodePort": 70000},
            "spec.collector.nodePort: Invalid value: 70000: spec.collector.nodePort in body should be less than or equal to 65535",
        ),
        (
            {"targets": [f"10.0.0.{i}:2055" for i in range(1, 12)]},
            "spec.collector.targets: Too many: 11: must have at most 10 items",
        ),
    ],
    ids=["nodePort-and-targets", "nodePort-70000", "11-targets"],
)
def test_invalid_flowexport_is_refused_by_crd_validation(
    fresh_testbed: Testbed, collector: dict[str, Any], message: str
) -> None:
    stderr = apply_refused(fresh_testbed, flow_export(collector))
    assert 'The FlowExport "cluster" is invalid' in stderr
    assert message in stderr
    assert not fresh_testbed.client().exists(f"{FLOW_API}/flowexports/cluster")


def test_operator_network_validates_export_collectors(testbed: Testbed) -> None:
    path = "/apis/operator.openshift.io/v1/networks/cluster"
    base = testbed.client().get(path)
    for collectors, message in (
        ([f"10.0.0.{i}:2055" for i in range(1, 12)], "must have at most 10 items"),
        (["10.0.0.300:2055"], "should match"),
        ([], "should have at least 1 items"),
    ):
        obj = {**base, "spec": {**base["spec"], "exportNetworkFlows": {"netFlow": {"collectors": collectors}}}}
        result = testbed.kubectl("replace", "-f", "-", input=json.dumps(obj))
        assert result.returncode != 0 and message in result.stderr, result.stderr


def test_network_type_and_status_subresources_are_as_on_openshift(testbed: Testbed, sdn_testbed: Testbed) -> None:
    config = testbed.client().get("/apis/config.openshift.io/v1/networks/cluster")
    assert config["status"]["networkType"] == config["spec"]["networkType"] == "OVNKubernetes"
    sdn = sdn_testbed.client().get("/apis/config.openshift.io/v1/networks/cluster")
    assert sdn["status"]["networkType"] == "OpenShiftSDN"
    # config.openshift.io has no status subresource, operator.openshift.io has one
    assert not testbed.client().exists("/apis/config.openshift.io/v1/networks/cluster/status")
    assert testbed.client().exists("/apis/operator.openshift.io/v1/networks/cluster/status")


def test_openshift_sdn_nodes_carry_no_ovn_annotations(sdn_testbed: Testbed) -> None:
    nodes = json.loads(kubectl_ok(sdn_testbed, "get", "nodes", "-o", "json"))["items"]
    assert [n["metadata"]["name"] for n in nodes] == ["node-1", "node-2"]
    for node in nodes:
        assert not any(k.startswith("k8s.ovn.org/") for k in node["metadata"].get("annotations", {}))


def test_collector_service_and_endpoints(fresh_testbed: Testbed) -> None:
    service = json.loads(
        kubectl_ok(fresh_testbed, "get", "service", "-n", "flows-collector", "-l", "role=flows-collector", "-o", "json")
    )
    [svc] = service["items"]
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["ports"][0]["nodePort"] == 30001 and svc["spec"]["ports"][0]["protocol"] == "UDP"

    def endpoints() -> dict[str, bool]:
        slices = json.loads(
            kubectl_ok(
                fresh_testbed,
                "get",
                "endpointslices",
                "-n",
                "flows-collector",
                "-l",
                "kubernetes.io/service-name=flows-collector",
                "-o",
                "json",
            )
        )["items"]
        return {e["nodeName"]: e["conditions"]["ready"] for s in slices for e in s["endpoints"]}

    assert endpoints() == {"node-1": True, "node-2": True, "node-3": True}
    fresh_testbed.stop_collector("node-2")
    assert endpoints() == {"node-1": True, "node-2": False, "node-3": True}
    fresh_testbed.start_collector("node-2")
    assert endpoints() == {"node-1": True, "node-2": True, "node-3": True}


def test_consoleplugin_crd_accepts_a_plugin_with_a_user_token_proxy(fresh_testbed: Testbed) -> None:
    plugin = {
        "apiVersion": "console.openshift.io/v1",
        "kind": "ConsolePlugin",
        "metadata": {"name": "flowgate-test"},
        "spec": {
            "displayName": "Network Flows",
            "backend": {
                "type": "Service",
                "service": {"name": "flowgate-gateway", "namespace": "flowgate", "port": 8443},
            },
            "proxy": [
                {
                    "alias": "graphql",
                    "authorization": "UserToken",
                    "endpoint": {
                        "type": "Service",
                        "service": {"name": "flowgate-gateway", "namespace": "flowgate", "port": 8443},
                    },
                }
            ],
        },
    }
    created = json.loads(kubectl_ok(fresh_testbed, "create", "-o", "json", "-f", "-", input=json.dumps(plugin)))
    try:
        assert created["spec"]["backend"]["service"]["basePath"] == "/"  # the CRD's default
        bad = {**plugin, "metadata": {"name": "flowgate-bad"}, "spec": {**plugin["spec"], "displayName": ""}}
        assert "spec.displayName" in apply_refused(fresh_testbed, bad)
    finally:
        kubectl_ok(fresh_testbed, "delete", "consoleplugin", "flowgate-test")


def test_api_outage_keeps_port_and_data(fresh_testbed: Testbed) -> None:
    url = fresh_testbed.api_url
    fresh_testbed.stop_apiserver()
    try:
        down = fresh_testbed.kubectl("get", "nodes", "--request-timeout=2s")
        assert down.returncode != 0
    finally:
        fresh_testbed.start_apiserver()
    assert fresh_testbed.api_url == url
    assert kubectl_ok(fresh_testbed, "get", "nodes", "-o", "name").split() == [
        "node/node-1",
        "node/node-2",
        "node/node-3",
    ]


def test_reset_removes_flowexport_and_flows(testbed: Testbed) -> None:
    admin = testbed.client()
    admin.create(f"{FLOW_API}/flowexports", flow_export({"nodePort": 30001}))
    for node in testbed.node_names:
        admin.create(
            f"{FLOW_API}/flows", {"apiVersion": "flowgate.dev/v1alpha1", "kind": "Flow", "metadata": {"name": node}}
        )
    testbed.reset()
    assert not admin.exists(f"{FLOW_API}/flowexports/cluster")
    assert admin.get(f"{FLOW_API}/flows")["items"] == []


def test_a_second_testbed_in_the_same_dir_is_refused_and_leaves_the_first_running(testbed: Testbed) -> None:
    state = (testbed.dir / "testbed.json").read_text()
    second = Testbed(testbed.dir, nodes=1, progress=None)
    with pytest.raises(TestbedError, match="a testbed is already running in"):
        second.start()
    second.stop()  # as `flowgate demo` and the supervisor do on the way out
    assert (testbed.dir / "testbed.json").read_text() == state  # what `down` relies on is intact
    assert all(daemon.running() for daemon in testbed.daemons())
    assert testbed.client().healthy()


def test_ports_for_one_testbed_are_distinct() -> None:
    # etcd's client and peer ports and the API server's port are picked together.
    ports = free_ports(3)
    assert len(set(ports)) == 3 and all(ports)
