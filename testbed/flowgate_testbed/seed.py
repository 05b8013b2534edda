"""What the testbed puts into a fresh API server: CRDs (flowgate's and the OpenShift ones flowgate
reads), flowgate's ClusterRoles with bindings for the test users, flowgate's admission policy, and
an OpenShift-like cluster (Network/cluster, nodes, the flows-collector Service and its
EndpointSlice)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from flowgate_testbed.cluster_api import JSON, ClusterApi, ClusterApiError
from flowgate_testbed.dataplane import (
    COLLECTOR_METRICS_NODE_PORT,
    COLLECTOR_METRICS_PORT,
    COLLECTOR_NODE_PORT,
    COLLECTOR_PORT,
    node_ip,
    pod_ip,
    pod_subnet,
)
from flowgate_testbed.errors import TestbedError

PACKAGE_MANIFESTS = Path(__file__).parent / "manifests"
REPO_DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
OVN_KUBERNETES = "OVNKubernetes"

COLLECTOR_NAMESPACE = "flows-collector"
COLLECTOR_SERVICE = "flows-collector"
COLLECTOR_LABELS = {"role": "flows-collector"}
COLLECTOR_PORT_NAME = "flows"
COLLECTOR_METRICS_PORT_NAME = "metrics"  # where node agents read the collector's counters
ENDPOINTSLICE_PATH = f"/apis/discovery.k8s.io/v1/namespaces/{COLLECTOR_NAMESPACE}/endpointslices/{COLLECTOR_SERVICE}"

# test user -> the ClusterRole the testbed binds it to (admin is in system:masters instead)
USER_ROLES = {"viewer": "flowgate-viewer", "gateway": "flowgate-gateway", "agent": "flowgate-agent"}
# flowgate's own service accounts (namespace flowgate), bound as deploy/ binds them
SERVICE_ACCOUNT_ROLES = {"flowgate-gateway": "flowgate-gateway", "flowgate-agent": "flowgate-agent"}
FLOWGATE_NAMESPACE = "flowgate"


def deploy_dir() -> Path:
    if not (REPO_DEPLOY / "crds").is_dir():
        raise TestbedError(
            f"flowgate's manifests were not found in {REPO_DEPLOY}; run the testbed from a flowgate source "
            "checkout installed with `pip install -e .` (`make venv`)."
        )
    return REPO_DEPLOY


def load_documents(paths: Iterable[Path]) -> list[JSON]:
    documents: list[JSON] = []
    for path in paths:
        with open(path) as stream:
            documents.extend(doc for doc in yaml.safe_load_all(stream) if doc)
    return documents


def crd_documents() -> list[JSON]:
    """flowgate's CRDs, the OpenShift fixtures the testbed carries, and the ones deploy/ needs to
    be validated against (deploy/testing/); kustomizations beside them are not CRDs."""
    paths = [
        *sorted((deploy_dir() / "crds").glob("*.yaml")),
        *sorted(PACKAGE_MANIFESTS.glob("*.yaml")),
        *sorted((deploy_dir() / "testing").glob("*.yaml")),
    ]
    return [doc for doc in load_documents(paths) if doc.get("kind") == "CustomResourceDefinition"]


def rbac_documents() -> list[JSON]:
    return load_documents(sorted((deploy_dir() / "rbac").glob("*.yaml")))


def admission_documents() -> list[JSON]:
    """deploy/admission: the policy confining each node agent to its own node, and its binding."""
    kinds = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
    return [d for d in load_documents(sorted((deploy_dir() / "admission").glob("*.yaml"))) if d.get("kind") in kinds]


def create(client: ClusterApi, collection: str, obj: JSON) -> JSON:
    """Create, or replace what is there (a leftover in a reused etcd)."""
    try:
        return client.create(collection, obj)
    except ClusterApiError as exc:
        if exc.status != 409:
            raise
    path = f"{collection}/{obj['metadata']['name']}"
    current = client.get(path)
    obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}}
    return client.request("PUT", path, obj)


def install_crds(client: ClusterApi, timeout: float = 30.0) -> list[str]:
    names = []
    for crd in crd_documents():
        create(client, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        names.append(crd["metadata"]["name"])
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending:
        for name in sorted(pending):
            status = client.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}").get("status") or {}
            conditions = {c["type"]: c for c in status.get("conditions") or []}
            if conditions.get("Established", {}).get("status") == "True":
                pending.discard(name)
            elif conditions.get("NamesAccepted", {}).get("status") == "False":
                raise TestbedError(f"CRD {name} was refused: {conditions['NamesAccepted'].get('message')}.")
        if pending and time.monotonic() > deadline:
            raise TestbedError(f"CRDs {', '.join(sorted(pending))} were not Established within {timeout:.0f} s.")
        if pending:
            time.sleep(0.05)
    wait_listable(client, deadline)
    return names


def wait_listable(client: ClusterApi, deadline: float) -> None:
    """Until every CRD's kind can be listed. Established (or a healthy API server just restarted)
    is not yet servable: lists answer 429 "storage is (re)initializing" until the kind's watch
    cache is built, and clients must find the cluster ready."""
    for crd in crd_documents():
        spec = crd["spec"]
        version = next(v["name"] for v in spec["versions"] if v.get("served", True))
        path = f"/apis/{spec['group']}/{version}/{spec['names']['plural']}?limit=1"
        while True:
            try:
                client.get(path)
                break
            except ClusterApiError as exc:
                if exc.status not in (429, 503) or time.monotonic() > deadline:
                    raise TestbedError(f"{spec['names']['plural']}.{spec['group']} cannot be listed: {exc}") from exc
                time.sleep(0.05)


def ensure_namespace(client: ClusterApi, namespace: str) -> None:
    if not client.exists(f"/api/v1/namespaces/{namespace}"):
        create(client, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})


def ensure_service_account(client: ClusterApi, name: str, namespace: str) -> None:
    ensure_namespace(client, namespace)
    if not client.exists(f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}"):
        create(
            client,
            f"/api/v1/namespaces/{namespace}/serviceaccounts",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}},
        )


def ensure_bound_object(
    client: ClusterApi, kind: str, name: str, namespace: str, node: str, service_account: str
) -> JSON:
    """A Secret or Pod a token can be bound to. The Pod runs as `service_account` and is scheduled
    (spec.nodeName) but nothing runs it: the API server only needs it to exist, and binds the
    node to the token."""
    collection = "secrets" if kind == "Secret" else "pods"
    path = f"/api/v1/namespaces/{namespace}/{collection}/{name}"
    if client.exists(path):
        found = client.get(path)
        scheduled = (found.get("spec") or {}).get("nodeName")
        if kind == "Pod" and scheduled != node:
            raise TestbedError(
                f"Pod {namespace}/{name} already runs on {scheduled}, not {node} (a pod's node cannot change); "
                "bind the token to a pod of another name."
            )
        return found
    body: JSON = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": namespace}}
    if kind == "Pod":
        body["spec"] = {
            "nodeName": node,
            "serviceAccountName": service_account,
            "containers": [{"name": "agent", "image": "flowgate"}],
        }
    return client.create(f"/api/v1/namespaces/{namespace}/{collection}", body)


def install_rbac(client: ClusterApi) -> None:
    for doc in rbac_documents():
        if doc.get("kind") == "ClusterRole":
            create(client, "/apis/rbac.authorization.k8s.io/v1/clusterroles", doc)
        elif doc.get("kind") == "ClusterRoleBinding":
            create(client, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", doc)
    for user, role in USER_ROLES.items():
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {
                "name": f"flowgate-testbed-{user}",
                "labels": {"app.kubernetes.io/part-of": "flowgate-testbed"},
            },
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        }
        create(client, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", binding)
    for account, role in SERVICE_ACCOUNT_ROLES.items():
        ensure_service_account(client, account, FLOWGATE_NAMESPACE)
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {
                "name": f"flowgate-testbed-sa-{account}",
                "labels": {"app.kubernetes.io/part-of": "flowgate-testbed"},
            },
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": FLOWGATE_NAMESPACE}],
        }
        create(client, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", binding)


def install_admission(client: ClusterApi) -> None:
    """The admission policies in deploy/admission (in force a moment later: `await_admission`)."""
    for doc in admission_documents():
        if doc["kind"] == "ValidatingAdmissionPolicy":
            create(client, "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies", doc)
        else:
            create(client, "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings", doc)


def await_admission(client: ClusterApi, timeout: float = 30.0) -> None:
    """Until the agent's own-node policy is in force. The API server loads a new policy in the
    background (within about two seconds), so it is probed until it refuses what it must: a
    dry-run Flow write by the agent's service account (impersonated, with no node in its
    identity)."""
    probe = {
        "apiVersion": "flowgate.dev/v1alpha1",
        "kind": "Flow",
        "metadata": {"name": "admission-probe"},
        "spec": {"nodeName": "admission-probe"},
    }
    agent = {"Impersonate-User": f"system:serviceaccount:{FLOWGATE_NAMESPACE}:flowgate-agent"}
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.request("POST", "/apis/flowgate.dev/v1alpha1/flows?dryRun=All", probe, headers=agent)
        except ClusterApiError as exc:
            if exc.status == 403 and "flowgate-agent-own-node" in str(exc.body):
                return
        if time.monotonic() > deadline:
            raise TestbedError(f"the API server did not enforce deploy/admission's policy within {timeout:.0f} s.")
        time.sleep(0.1)


def seed_network(client: ClusterApi, network_type: str, nodes: int) -> None:
    cluster_network = [{"cidr": "10.128.0.0/14", "hostPrefix": 24}]
    service_network = ["10.0.0.0/24"]
    # config.openshift.io has no status subresource: the status goes in with the object.
    create(
        client,
        "/apis/config.openshift.io/v1/networks",
        {
            "apiVersion": "config.openshift.io/v1",
            "kind": "Network",
            "metadata": {"name": "cluster"},
            "spec": {"clusterNetwork": cluster_network, "serviceNetwork": service_network, "networkType": network_type},
            "status": {
                "clusterNetwork": cluster_network,
                "serviceNetwork": service_network,
                "networkType": network_type,
                "clusterNetworkMTU": 1400,
            },
        },
    )
    create(
        client,
        "/apis/operator.openshift.io/v1/networks",
        {
            "apiVersion": "operator.openshift.io/v1",
            "kind": "Network",
            "metadata": {"name": "cluster"},
            "spec": {
                "managementState": "Managed",
                "clusterNetwork": cluster_network,
                "serviceNetwork": service_network,
                "defaultNetwork": {"type": network_type},
            },
        },
    )
    client.merge_patch(
        "/apis/operator.openshift.io/v1/networks/cluster/status",
        {"status": {"readyReplicas": nodes, "conditions": [{"type": "Available", "status": "True"}]}},
    )


def node_object(name: str, index: int, network_type: str) -> JSON:
    annotations: dict[str, str] = {}
    if network_type == OVN_KUBERNETES:
        annotations = {
            "k8s.ovn.org/node-primary-ifaddr": json.dumps({"ipv4": f"{node_ip(index)}/24"}),
            "k8s.ovn.org/host-cidrs": json.dumps([f"{node_ip(index)}/24"]),
            "k8s.ovn.org/node-subnets": json.dumps({"default": [pod_subnet(index)]}),
            "k8s.ovn.org/zone-name": name,
        }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/worker": "",
            },
            "annotations": annotations,
        },
        "spec": {"podCIDR": pod_subnet(index), "podCIDRs": [pod_subnet(index)]},
    }


def node_status(name: str, index: int) -> JSON:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "status": {
            "addresses": [{"type": "InternalIP", "address": node_ip(index)}, {"type": "Hostname", "address": name}],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "v1.36.3",
                "kubeProxyVersion": "",
                "containerRuntimeVersion": "",
                "kernelVersion": "",
                "osImage": "flowgate testbed",
                "bootID": "",
                "machineID": "",
                "systemUUID": "",
            },
        }
    }


def seed_nodes(client: ClusterApi, names: list[str], network_type: str) -> None:
    def seed(index: int, name: str) -> None:
        create(client, "/api/v1/nodes", node_object(name, index, network_type))
        client.merge_patch(f"/api/v1/nodes/{name}/status", node_status(name, index))

    # Thousands of nodes for scale tests: a few requests in flight at once.
    with ThreadPoolExecutor(max_workers=min(8, len(names) or 1)) as pool:
        for future in [pool.submit(seed, index, name) for index, name in enumerate(names, start=1)]:
            future.result()


def endpoint(name: str, index: int, ready: bool) -> JSON:
    return {
        "addresses": [pod_ip(index, 5)],
        "conditions": {"ready": ready, "serving": ready, "terminating": False},
        "nodeName": name,
        "targetRef": {"kind": "Pod", "namespace": COLLECTOR_NAMESPACE, "name": f"flows-collector-{name}"},
    }


def seed_collector(client: ClusterApi, names: list[str], metrics: bool = False) -> None:
    """The collector Service; with `metrics` (a real goflow2 on every node) also its port named
    `metrics`, where node agents read the collector's counters."""
    create(
        client,
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": COLLECTOR_NAMESPACE}},
    )
    ports: list[JSON] = [
        {
            "name": COLLECTOR_PORT_NAME,
            "protocol": "UDP",
            "port": COLLECTOR_PORT,
            "targetPort": COLLECTOR_PORT,
            "nodePort": COLLECTOR_NODE_PORT,
        }
    ]
    if metrics:
        ports.append(
            {
                "name": COLLECTOR_METRICS_PORT_NAME,
                "protocol": "TCP",
                "port": COLLECTOR_METRICS_PORT,
                "targetPort": COLLECTOR_METRICS_PORT,
                "nodePort": COLLECTOR_METRICS_NODE_PORT,
            }
        )
    create(
        client,
        f"/api/v1/namespaces/{COLLECTOR_NAMESPACE}/services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": COLLECTOR_SERVICE, "namespace": COLLECTOR_NAMESPACE, "labels": dict(COLLECTOR_LABELS)},
            "spec": {"type": "NodePort", "selector": {"app": "flows-collector"}, "ports": ports},
        },
    )
    write_endpointslice(client, names, {name: True for name in names}, metrics)


ENDPOINTS_PER_SLICE = 1000  # the API's limit per EndpointSlice


def write_endpointslice(client: ClusterApi, names: list[str], ready: dict[str, bool], metrics: bool = False) -> None:
    """There is no controller-manager, so the testbed keeps the collector's EndpointSlices itself
    (one per thousand nodes, as the EndpointSlice controller splits them)."""
    ports: list[JSON] = [{"name": COLLECTOR_PORT_NAME, "protocol": "UDP", "port": COLLECTOR_PORT}]
    if metrics:
        ports.append({"name": COLLECTOR_METRICS_PORT_NAME, "protocol": "TCP", "port": COLLECTOR_METRICS_PORT})
    endpoints = [endpoint(name, index, ready.get(name, True)) for index, name in enumerate(names, start=1)]
    for part, start in enumerate(range(0, len(endpoints), ENDPOINTS_PER_SLICE)):
        slice_: dict[str, Any] = {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": COLLECTOR_SERVICE if part == 0 else f"{COLLECTOR_SERVICE}-{part}",
                "namespace": COLLECTOR_NAMESPACE,
                "labels": {
                    "kubernetes.io/service-name": COLLECTOR_SERVICE,
                    "endpointslice.kubernetes.io/managed-by": "testbed.flowgate.dev",
                },
            },
            "addressType": "IPv4",
            "endpoints": endpoints[start : start + ENDPOINTS_PER_SLICE],
            "ports": ports,
        }
        create(client, f"/apis/discovery.k8s.io/v1/namespaces/{COLLECTOR_NAMESPACE}/endpointslices", slice_)
