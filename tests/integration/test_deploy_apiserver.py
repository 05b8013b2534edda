"""deploy/ against a real kube-apiserver: every object of both overlays, the example collector and
the chart is accepted by a server-side dry-run apply (strict field validation, admission, the
OpenShift CRDs from the test fixtures), and Pod Security admission says what each workload needs:
the gateway and the collector meet "restricted", the agent asks for the host network, the OVS
directory, root and DAC_OVERRIDE and nothing else."""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.manifests import JSON, Key, bin_path, container, dump, render_helm, render_kustomize, run

# The testbed's own flows-collector Service holds node ports 30001 (flows) and 30002 (metrics);
# the example collector takes others, as it would on a cluster that already runs a collector.
FREE_NODE_PORT = 30011
APPLIED = " serverside-applied (server dry run)"


def with_node_port(objects: dict[Key, JSON], port: int) -> dict[Key, JSON]:
    objects = copy.deepcopy(objects)
    for k, obj in objects.items():
        if k[0] == "Service" and obj["spec"].get("type") == "NodePort":
            for offset, entry in enumerate(obj["spec"]["ports"]):
                entry["nodePort"] = port + offset
    return objects


RENDERINGS: dict[str, Callable[[], dict[Key, JSON]]] = {
    "kustomize overlays/kubernetes": lambda: render_kustomize("overlays/kubernetes"),
    "kustomize overlays/openshift": lambda: render_kustomize("overlays/openshift"),
    "kustomize examples/collector": lambda: with_node_port(render_kustomize("examples/collector"), FREE_NODE_PORT),
    "helm kubernetes": lambda: render_helm(),
    "helm openshift+collector": lambda: render_helm(
        "openshift=true", "collector.enabled=true", f"collector.nodePort={FREE_NODE_PORT}"
    ),
}


def apply(testbed: Any, objects: dict[Key, JSON] | list[JSON], *, dry_run: bool = True) -> Any:
    argv = [
        str(bin_path("kubectl")),
        "--kubeconfig",
        str(testbed.kubeconfig("admin")),
        "apply",
        "--server-side",
        "--validate=strict",
        "--field-manager=flowgate-install-test",
        # The testbed installs the admission policy itself: the install takes its fields over.
        "--force-conflicts",
        "-f",
        "-",
    ]
    if dry_run:
        argv.insert(-2, "--dry-run=server")
    return run(argv, input=dump(objects), check=False)


# Namespaces an OpenShift cluster has, which objects of the OpenShift overlay go into.
OPENSHIFT_NAMESPACES = ("openshift-config-managed",)


def ensure_namespace(testbed: Any, objects: dict[Key, JSON]) -> None:
    """The namespace the objects live in, applied for real: a dry-run Namespace cannot hold the
    dry-run of what goes into it; and the OpenShift namespaces they use, as a cluster has them."""
    wanted = {k[1] for k in objects} & set(OPENSHIFT_NAMESPACES)
    namespaces = [obj for k, obj in objects.items() if k[0] == "Namespace"]
    namespaces += [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in sorted(wanted)]
    for obj in namespaces:
        result = apply(testbed, [obj], dry_run=False)
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_every_object_is_accepted_by_a_server_side_dry_run(testbed: Any, rendering: str) -> None:
    objects = RENDERINGS[rendering]()
    ensure_namespace(testbed, objects)
    result = apply(testbed, objects)
    assert result.returncode == 0, f"the API server refused {rendering}:\n{result.stderr}"
    assert "Warning" not in result.stderr, f"the API server warned about {rendering}:\n{result.stderr}"
    applied = [line.removesuffix(APPLIED) for line in result.stdout.splitlines() if line.endswith(APPLIED)]
    assert len(applied) == len(objects), result.stdout
    for kind, _, name in objects:
        assert any(
            line.split(".")[0].split("/")[0] == kind.lower() and line.endswith(f"/{name}") for line in applied
        ), f"{kind}/{name} is not in the dry-run's answer:\n{result.stdout}"


def agent_daemonset() -> dict[Key, JSON]:
    objects = render_kustomize("overlays/kubernetes")
    return {k: v for k, v in objects.items() if k == ("DaemonSet", "flowgate", "flowgate-agent")}


def misspelt_field(objects: dict[Key, JSON]) -> None:
    agent = container(next(iter(objects.values())), "agent")
    agent["securityContex"] = agent.pop("securityContext")


def scc_capabilities_as_a_string(objects: dict[Key, JSON]) -> None:
    objects[("SecurityContextConstraints", None, "flowgate-agent")]["allowedCapabilities"] = "DAC_OVERRIDE"


def taken_node_port(objects: dict[Key, JSON]) -> None:
    objects.update(with_node_port(objects, 30001))


@pytest.mark.parametrize(
    ("objects", "spoil", "refusal"),
    [
        (
            agent_daemonset,
            misspelt_field,
            '.spec.template.spec.containers[name="agent"].securityContex: field not declared in schema',
        ),
        (
            lambda: {
                k: v for k, v in render_kustomize("overlays/openshift").items() if k[0] == "SecurityContextConstraints"
            },
            scc_capabilities_as_a_string,
            "allowedCapabilities",
        ),
        (lambda: render_kustomize("examples/collector"), taken_node_port, "provided port is already allocated"),
    ],
    ids=["misspelt field", "SCC field of the wrong type", "node port taken"],
)
def test_the_dry_run_refuses_a_spoilt_object(
    testbed: Any, objects: Callable[[], dict[Key, JSON]], spoil: Callable[[dict[Key, JSON]], None], refusal: str
) -> None:
    """The dry run above can fail: the same call refuses what the API server would refuse."""
    rendered = objects()
    spoil(rendered)
    result = apply(testbed, rendered)
    assert result.returncode != 0, result.stdout
    assert refusal in result.stderr


# -- Pod Security admission ----------------------------------------------------------------------


def pod_security_namespace(testbed: Any, level: str) -> str:
    """A namespace whose Pod Security admission warns at `level`; unique, since the testbed runs no
    namespace controller and a deleted namespace stays Terminating."""
    name = f"psa-{level}-{uuid.uuid4().hex[:8]}"
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                "pod-security.kubernetes.io/warn": level,
                "pod-security.kubernetes.io/warn-version": "latest",
            },
        },
    }
    result = apply(testbed, [namespace], dry_run=False)
    assert result.returncode == 0, result.stderr
    return name


def violations(stderr: str) -> dict[str, str]:
    """Pod Security's warning, `would violate PodSecurity "restricted:latest": a (why), b (why)`,
    as {a: why, b: why}; {} without a warning."""
    match = re.search(r'would violate PodSecurity "[^"]+": (.*)', stderr)
    if not match:
        return {}
    found: dict[str, str] = {}
    depth, start, text = 0, 0, match.group(1).strip()
    for i, char in enumerate(text + ","):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            item = text[start:i].strip()
            name, _, why = item.partition(" (")
            found[name] = why.removesuffix(")")
            start = i + 1
    return found


def warnings_in(testbed: Any, obj: JSON, namespace: str) -> dict[str, str]:
    obj = copy.deepcopy(obj)
    obj["metadata"]["namespace"] = namespace
    result = apply(testbed, [obj])
    assert result.returncode == 0, result.stderr
    return violations(result.stderr)


@pytest.fixture(scope="module")
def restricted(testbed: Any) -> str:
    return pod_security_namespace(testbed, "restricted")


@pytest.fixture(scope="module")
def baseline(testbed: Any) -> str:
    return pod_security_namespace(testbed, "baseline")


def workloads() -> dict[Key, JSON]:
    objects = {**render_kustomize("overlays/kubernetes", "examples/collector")}
    return {k: v for k, v in objects.items() if k[0] in ("Deployment", "DaemonSet")}


def test_pod_security_warns_a_spoilt_gateway(testbed: Any, restricted: str) -> None:
    """The warnings below can appear: a gateway that keeps its capabilities is refused "restricted"."""
    gateway = workloads()[("Deployment", "flowgate", "flowgate-gateway")]
    del container(gateway, "gateway")["securityContext"]["capabilities"]
    assert "unrestricted capabilities" in warnings_in(testbed, gateway, restricted)


@pytest.mark.parametrize("name", ["flowgate-gateway", "flows-collector"])
def test_the_gateway_and_collector_meet_the_restricted_pod_security_standard(
    testbed: Any, restricted: str, name: str
) -> None:
    obj = next(v for k, v in workloads().items() if k[2] == name)
    assert warnings_in(testbed, obj, restricted) == {}


def test_the_agent_asks_restricted_for_host_network_ovs_directory_root_and_dac_override_only(
    testbed: Any, restricted: str
) -> None:
    agent = workloads()[("DaemonSet", "flowgate", "flowgate-agent")]
    found = warnings_in(testbed, agent, restricted)
    assert found == {
        "host namespaces": "hostNetwork=true",
        "unrestricted capabilities": 'container "agent" must not include "DAC_OVERRIDE" in securityContext.capabilities.add',
        "restricted volume types": 'volume "ovs-run" uses restricted volume type "hostPath"',
        "runAsNonRoot != true": 'container "agent" must not set securityContext.runAsNonRoot=false',
        "runAsUser=0": 'container "agent" must not set runAsUser=0',
    }


def test_the_agent_asks_baseline_for_host_network_and_the_ovs_directory_only(testbed: Any, baseline: str) -> None:
    agent = workloads()[("DaemonSet", "flowgate", "flowgate-agent")]
    assert warnings_in(testbed, agent, baseline) == {
        "host namespaces": "hostNetwork=true",
        "hostPath volumes": 'volume "ovs-run"',
    }


def test_on_openshift_the_agent_adds_only_the_selinux_type_spc_t(testbed: Any, restricted: str) -> None:
    agent = render_kustomize("overlays/openshift")[("DaemonSet", "flowgate", "flowgate-agent")]
    found = warnings_in(testbed, agent, restricted)
    assert found.pop("seLinuxOptions") == 'container "agent" set forbidden securityContext.seLinuxOptions: type "spc_t"'
    assert set(found) == {
        "host namespaces",
        "unrestricted capabilities",
        "restricted volume types",
        "runAsNonRoot != true",
        "runAsUser=0",
    }
