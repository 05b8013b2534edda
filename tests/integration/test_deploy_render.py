"""deploy/ rendered as users render it (the real kubectl's kustomize, the real helm): the chart and
the overlays make the same objects, the chart's copies of the CRDs and ClusterRoles are current,
the values schema refuses what it does not know, and every workload asks for no more privilege
than it needs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.manifests import (
    CHART,
    JSON,
    ROOT,
    Key,
    bin_path,
    container,
    helm_template_argv,
    pod_spec,
    render_helm,
    render_kustomize,
    run,
)

# (the chart's --set values, the kustomize directories under deploy/ that make the same objects)
VARIANTS = {
    "kubernetes": ((), ("overlays/kubernetes",)),
    "openshift": (("openshift=true",), ("overlays/openshift",)),
    "openshift+collector": (("openshift=true", "collector.enabled=true"), ("overlays/openshift", "examples/collector")),
    "kubernetes+collector": (("collector.enabled=true",), ("overlays/kubernetes", "examples/collector")),
}

GATEWAY = ("Deployment", "flowgate", "flowgate-gateway")
AGENT = ("DaemonSet", "flowgate", "flowgate-agent")
COLLECTOR = ("DaemonSet", "flowgate", "flows-collector")
SCC = ("SecurityContextConstraints", None, "flowgate-agent")
OVS_RUN = "/var/run/openvswitch"


def sync_script(root: Path, *args: str) -> Any:
    return run(["bash", str(root / "hack" / "sync-chart-crds.sh"), *args], check=False)


def test_the_charts_copies_of_the_crds_and_clusterroles_are_current() -> None:
    result = sync_script(ROOT, "--check")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (CHART / "crds").iterdir()) == sorted(
        p.name for p in (ROOT / "deploy" / "crds").glob("*.yaml") if p.name != "kustomization.yaml"
    )


def test_the_sync_check_fails_on_a_stale_copy_and_the_sync_repairs_it(tmp_path: Path) -> None:
    """--check can fail: on a copy of the repository's deploy/ and hack/, with one CRD changed."""
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    (tmp_path / "hack").mkdir()
    shutil.copy2(ROOT / "hack" / "sync-chart-crds.sh", tmp_path / "hack")
    crd = tmp_path / "deploy" / "crds" / "flows.flowgate.dev.yaml"
    crd.write_text(crd.read_text() + "# changed\n")
    copy = tmp_path / "deploy" / "helm" / "flowgate" / "crds" / "flows.flowgate.dev.yaml"
    before = copy.read_text()

    stale = sync_script(tmp_path, "--check")
    assert stale.returncode == 1
    assert "deploy/helm/flowgate/crds/flows.flowgate.dev.yaml" in stale.stderr
    assert "run hack/sync-chart-crds.sh" in stale.stderr
    assert copy.read_text() == before, "--check must change nothing"

    assert sync_script(tmp_path).returncode == 0
    assert copy.read_text() == crd.read_text()
    assert sync_script(tmp_path, "--check").returncode == 0


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_helm_renders_exactly_what_kustomize_renders(variant: str) -> None:
    values, directories = VARIANTS[variant]
    chart = render_helm(*values)
    kustomize = render_kustomize(*directories)
    assert sorted(chart.keys(), key=str) == sorted(kustomize.keys(), key=str)
    differing = [k for k in chart if chart[k] != kustomize[k]]
    assert not differing, f"the chart and kustomize render these differently: {differing}"
    kinds = {k[0] for k in chart}
    assert {"CustomResourceDefinition", "Namespace", "ClusterRole", "Deployment", "DaemonSet"} <= kinds
    assert ("openshift=true" in values) == ({"ConsolePlugin", "SecurityContextConstraints"} <= kinds)


def test_helm_lint_passes_for_every_variant() -> None:
    for values, _ in VARIANTS.values():
        argv = [str(bin_path("helm")), "lint", "--strict", str(CHART)]
        for value in values:
            argv += ["--set", value]
        result = run(argv, check=False)
        assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stdout}{result.stderr}"
        assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("gateway.replica=3", "replica"),  # a typo of gateway.replicas
        ("gateway.logLevel=loud", "logLevel"),
        ("image.pullPolicy=Sometimes", "pullPolicy"),
        ("collector.nodePort=0", "nodePort"),
    ],
)
def test_the_values_schema_refuses_what_it_does_not_know(value: str, said: str) -> None:
    result = run(helm_template_argv(value), check=False)
    assert result.returncode != 0, f"helm rendered with --set {value}"
    assert "values don't meet the specifications of the schema" in result.stderr
    assert said in result.stderr
    assert not result.stdout.strip()


# -- least privilege, as written in the manifests ------------------------------------------------


def renderings() -> dict[str, dict[Key, JSON]]:
    return {
        "kustomize openshift+collector": render_kustomize("overlays/openshift", "examples/collector"),
        "kustomize kubernetes": render_kustomize("overlays/kubernetes"),
        "helm kubernetes+collector": render_helm("collector.enabled=true"),
    }


def pod_security(obj: JSON) -> JSON:
    context: JSON = pod_spec(obj).get("securityContext") or {}
    return context


@pytest.mark.parametrize(
    "rendering", ["kustomize openshift+collector", "kustomize kubernetes", "helm kubernetes+collector"]
)
def test_every_container_drops_everything_it_does_not_need(rendering: str) -> None:
    objects = renderings()[rendering]
    workloads = {k: v for k, v in objects.items() if k[0] in ("Deployment", "DaemonSet", "StatefulSet", "Job", "Pod")}
    assert {GATEWAY, AGENT} <= workloads.keys()
    for k, obj in workloads.items():
        spec = pod_spec(obj)
        assert not spec.get("hostPID") and not spec.get("hostIPC"), k
        assert bool(spec.get("hostNetwork")) == (k == AGENT), f"{k}: only the agent uses the host network"
        host_paths = [v for v in spec.get("volumes", []) if "hostPath" in v]
        if k == AGENT:
            assert [v["hostPath"]["path"] for v in host_paths] == [OVS_RUN]
        else:
            assert not host_paths, f"{k}: only the agent mounts a host directory"
        for c in spec.get("initContainers", []) + spec["containers"]:
            where = f"{k} container {c['name']}"
            context = c.get("securityContext") or {}
            assert context.get("allowPrivilegeEscalation") is False, where
            assert not context.get("privileged"), where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            added = context.get("capabilities", {}).get("add") or []
            assert added == (["DAC_OVERRIDE"] if k == AGENT else []), where
            seccomp = (context.get("seccompProfile") or pod_security(obj).get("seccompProfile") or {}).get("type")
            assert seccomp == "RuntimeDefault", where
            assert not any(p.get("hostPort") for p in c.get("ports", [])), where
            limits = (c.get("resources") or {}).get("limits") or {}
            assert {"cpu", "memory"} <= limits.keys(), f"{where} has no CPU and memory limits"
            for mount in c.get("volumeMounts", []):
                if any(v["name"] == mount["name"] for v in host_paths):
                    assert mount.get("readOnly") is True, f"{where} mounts {mount['mountPath']} writable"
            if k != AGENT:
                assert context.get("runAsNonRoot") is True or pod_security(obj).get("runAsNonRoot") is True, where
                assert context.get("runAsUser", 1) != 0, where
    # The agent is root only to reach ovsdb-server's socket; the gateway and collector are not.
    assert container(objects[AGENT], "agent")["securityContext"]["runAsUser"] == 0
    assert pod_spec(objects[GATEWAY])["serviceAccountName"] == "flowgate-gateway"
    assert pod_spec(objects[AGENT])["serviceAccountName"] == "flowgate-agent"
    if COLLECTOR in objects:
        assert pod_spec(objects[COLLECTOR]).get("automountServiceAccountToken") is False


def test_the_agents_scc_allows_only_what_the_agent_uses() -> None:
    objects = render_kustomize("overlays/openshift")
    scc = objects[SCC]
    assert scc["allowPrivilegedContainer"] is False
    assert scc["allowPrivilegeEscalation"] is False
    assert (scc["allowHostPID"], scc["allowHostIPC"], scc["allowHostPorts"]) == (False, False, False)
    assert (scc["allowHostNetwork"], scc["allowHostDirVolumePlugin"]) == (True, True)
    assert scc["allowedCapabilities"] == ["DAC_OVERRIDE"]
    assert scc["defaultAddCapabilities"] is None
    assert scc["requiredDropCapabilities"] == ["ALL"]
    assert scc["readOnlyRootFilesystem"] is True
    assert "*" not in scc["volumes"] and "hostPath" in scc["volumes"]
    assert scc["seccompProfiles"] == ["runtime/default"]
    # Granted to nobody by the SCC itself: only the agent's service account, through a Role.
    assert scc["users"] == [] and scc["groups"] == []
    role = objects[("Role", "flowgate", "flowgate-agent-scc")]
    assert role["rules"] == [
        {
            "apiGroups": ["security.openshift.io"],
            "resources": ["securitycontextconstraints"],
            "resourceNames": ["flowgate-agent"],
            "verbs": ["use"],
        }
    ]
    binding = objects[("RoleBinding", "flowgate", "flowgate-agent-scc")]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "flowgate-agent", "namespace": "flowgate"}]
    annotations = objects[AGENT]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["openshift.io/required-scc"] == "flowgate-agent"
    # What the SCC admits covers what the agent asks for.
    agent = container(objects[AGENT], "agent")["securityContext"]
    assert set(agent["capabilities"]["add"]) <= set(scc["allowedCapabilities"])
    volume_types = {next(t for t in v if t != "name") for v in pod_spec(objects[AGENT])["volumes"]}
    assert volume_types <= set(scc["volumes"])
