"""The OLM bundle (bundle/): generated from deploy/ by hack/generate-bundle.py, so a regeneration
must give exactly what is checked in; checked by operator-framework/api's own validators
(hack/olm: pkg/manifests loads it, pkg/validation's bundle, OperatorHub and good-practices suites
judge it); its image reference names what it is given everywhere; every object it holds accepted
by a server-side dry run on a real API server that has OLM's own CRDs (from the same Go module);
and `flowgate addon`, the add-on Deployment that installs what OLM cannot (the agent DaemonSet,
its SCC, the admission policy), does so with exactly the permissions the CSV grants it.

OLM itself (its operators, which unpack a bundle, resolve it and run its Deployments) cannot run
here: no kubelet runs pods on the testbed. What a running OLM would add is untested."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.manifests import ROOT, bin_path, dump, run
from tests.fixtures.waiting import wait_for

BUNDLE = ROOT / "bundle"
CSV = BUNDLE / "manifests" / "flowgate.clusterserviceversion.yaml"
GENERATE = [sys.executable, str(ROOT / "hack" / "generate-bundle.py")]
DIGEST = "registry.example.com/flowgate@sha256:" + "ab" * 32
# A false positive of the deprecated-API check: it flags every RBAC rule naming endpointslices or
# events (whose v1beta1 APIs went in Kubernetes 1.25), whatever version the caller uses; flowgate
# uses discovery.k8s.io/v1 and events.k8s.io/v1 only.
ALLOWED_WARNINGS = ("this bundle is using APIs which were deprecated and removed in v1.25",)


def validate(directory: Path) -> subprocess.CompletedProcess[str]:
    return run([str(bin_path("olm-validate")), str(directory)], check=False)


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_the_bundle_is_what_deploy_makes() -> None:
    result = run([*GENERATE, "--check"], check=False)
    assert result.returncode == 0, result.stderr


def test_the_check_fails_on_a_stale_bundle(tmp_path: Path) -> None:
    """--check can fail: on a copy of bundle/ with one object edited, and one file too many."""
    copy = tmp_path / "bundle"
    shutil.copytree(BUNDLE, copy)
    service = copy / "manifests" / "flowgate-gateway_v1_service.yaml"
    service.write_text(service.read_text().replace("8443", "8444"))
    (copy / "manifests" / "stray.yaml").write_text("kind: ConfigMap\n")
    result = run([*GENERATE, "--check", "--output", str(copy)], check=False)
    assert result.returncode == 1
    assert "manifests/flowgate-gateway_v1_service.yaml" in result.stderr and "stray.yaml" in result.stderr
    assert "run `make bundle`" in result.stderr


def test_operator_frameworks_validators_pass_including_operatorhub_and_good_practices() -> None:
    result = validate(BUNDLE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "by 9 validators" in result.stdout
    findings = [line for line in result.stdout.splitlines() if line.startswith(("ERROR", "WARN"))]
    unexpected = [line for line in findings if not any(allowed in line for allowed in ALLOWED_WARNINGS)]
    assert not unexpected, "\n".join(unexpected)


@pytest.mark.parametrize(
    ("spoil", "said"),
    [
        (lambda csv: csv["spec"].pop("provider"), "csv.Spec.Provider.Name not specified"),
        (
            lambda csv: csv["metadata"]["annotations"].update(categories="Flows"),
            "not in the set of standard categories",
        ),
        (lambda csv: csv["spec"]["customresourcedefinitions"]["owned"].pop(), "is present in bundle"),
    ],
    ids=["no provider", "unknown category", "a CRD the CSV does not own"],
)
def test_the_validators_refuse_a_spoilt_bundle(tmp_path: Path, spoil: Any, said: str) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(BUNDLE, copy)
    path = copy / CSV.relative_to(BUNDLE)
    csv = load(path)
    spoil(csv)
    path.write_text(yaml.safe_dump(csv, sort_keys=False))
    result = validate(copy)
    assert result.returncode == 1, result.stdout
    assert said in result.stdout


def test_the_image_given_is_the_one_every_container_runs_and_relatedimages_names(tmp_path: Path) -> None:
    result = run([*GENERATE, "--image", DIGEST, "--output", str(tmp_path / "bundle")], check=False)
    assert result.returncode == 0, result.stderr
    csv = load(tmp_path / "bundle" / CSV.relative_to(BUNDLE))
    images = {
        c["image"]
        for d in csv["spec"]["install"]["spec"]["deployments"]
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {DIGEST}
    assert csv["spec"]["relatedImages"] == [{"name": "flowgate", "image": DIGEST}]
    assert csv["metadata"]["annotations"]["containerImage"] == DIGEST
    addon = next(d for d in csv["spec"]["install"]["spec"]["deployments"] if d["name"] == "flowgate-addon")
    assert f"--image={DIGEST}" in addon["spec"]["template"]["spec"]["containers"][0]["args"]
    refused = run([*GENERATE, "--image", "not an image", "--output", str(tmp_path / "other")], check=False)
    assert refused.returncode == 1 and "is not an image reference" in refused.stderr
    assert not (tmp_path / "other").exists()


def test_the_csv_carries_what_deploy_declares() -> None:
    csv = load(CSV)
    spec = csv["spec"]
    deployments = {d["name"]: d for d in spec["install"]["spec"]["deployments"]}
    assert set(deployments) == {"flowgate-gateway", "flowgate-addon"}
    cluster = {p["serviceAccountName"]: p["rules"] for p in spec["install"]["spec"]["clusterPermissions"]}
    roles = {r["metadata"]["name"]: r for r in yaml.safe_load_all((ROOT / "deploy/rbac/clusterroles.yaml").read_text())}
    assert cluster["flowgate-gateway"] == roles["flowgate-gateway"]["rules"]
    assert cluster["flowgate-agent"] == roles["flowgate-agent"]["rules"]
    assert {m["type"]: m["supported"] for m in spec["installModes"]} == {
        "OwnNamespace": False,
        "SingleNamespace": False,
        "MultiNamespace": False,
        "AllNamespaces": True,
    }
    assert csv["metadata"]["annotations"]["console.openshift.io/plugins"] == '["flowgate"]'
    assert spec["minKubeVersion"] and spec["icon"][0]["mediatype"] == "image/svg+xml"
    owned = {c["kind"]: c for c in spec["customresourcedefinitions"]["owned"]}
    assert {d["path"] for d in owned["FlowExport"]["specDescriptors"]} >= {"type", "collector", "collector.nodePort"}
    assert {d["path"] for d in owned["Flow"]["statusDescriptors"]} >= {"state", "endpoint", "message"}
    kinds = {load(p)["kind"] for p in (BUNDLE / "manifests").glob("*.yaml")}
    assert {"ConsolePlugin", "ServiceMonitor", "PrometheusRule", "CustomResourceDefinition"} <= kinds
    assert not kinds & {"DaemonSet", "SecurityContextConstraints", "ValidatingAdmissionPolicy", "Namespace"}


# -- on a real API server ---------------------------------------------------------------------


def kubectl(testbed: Any, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return run(
        [str(bin_path("kubectl")), "--kubeconfig", str(testbed.kubeconfig("admin")), *args], input=input, check=False
    )


@pytest.fixture(scope="module")
def olm_crds(testbed: Any) -> list[str]:
    """OLM's own CRDs, as operator-framework/api carries them, installed in the testbed."""
    crds = [d for d in yaml.safe_load_all(run([str(bin_path("olm-validate")), "-crds"]).stdout) if d]
    result = kubectl(testbed, "apply", "--server-side", "--field-manager=flowgate-test", "-f", "-", input=dump(crds))
    assert result.returncode == 0, result.stderr
    names = [c["metadata"]["name"] for c in crds]
    seen: dict[str, str] = {}

    def established() -> bool:
        for name in names:
            got = kubectl(
                testbed, "get", f"crd/{name}", "-o", "jsonpath={.status.conditions[?(@.type=='Established')].status}"
            )
            seen[name] = got.stdout.strip() or got.stderr.strip()
        return all(value == "True" for value in seen.values())

    try:
        wait_for(established, 60, "OLM's CRDs established", interval=0.5)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; they said {seen}") from None
    return names


def bundle_objects() -> list[Any]:
    return [load(p) for p in sorted((BUNDLE / "manifests").glob("*.yaml"))]


@pytest.mark.slow
def test_every_bundle_object_and_an_install_are_accepted_by_a_server_side_dry_run(
    testbed: Any, olm_crds: list[str]
) -> None:
    assert "clusterserviceversions.operators.coreos.com" in olm_crds
    # How an admin installs it from a catalog: an OperatorGroup for all namespaces and a Subscription.
    install = [
        {
            "apiVersion": "operators.coreos.com/v1",
            "kind": "OperatorGroup",
            "metadata": {"name": "flowgate"},
            "spec": {},
        },
        {
            "apiVersion": "operators.coreos.com/v1alpha1",
            "kind": "Subscription",
            "metadata": {"name": "flowgate"},
            "spec": {
                "name": "flowgate",
                "channel": "stable",
                "source": "flowgate-catalog",
                "sourceNamespace": "openshift-marketplace",
            },
        },
    ]
    addon = [d for d in yaml.safe_load_all((ROOT / "gateway" / "addon" / "manifests.yaml").read_text()) if d]
    objects = bundle_objects() + install + addon
    result = kubectl(
        testbed,
        "apply",
        "--server-side",
        "--dry-run=server",
        "--validate=strict",
        "--force-conflicts",
        "--field-manager=flowgate-bundle-test",
        "-n",
        "flowgate",
        "-f",
        "-",
        input=dump(objects),
    )
    assert result.returncode == 0, f"the API server refused the bundle:\n{result.stderr}"
    assert "Warning" not in result.stderr, result.stderr
    applied = [line for line in result.stdout.splitlines() if line.endswith("serverside-applied (server dry run)")]
    assert len(applied) == len(objects), result.stdout
    assert any(line.startswith("clusterserviceversion.operators.coreos.com/flowgate.v0.1.0") for line in applied)


@pytest.mark.slow
def test_the_dry_run_refuses_a_csv_olm_would_refuse(testbed: Any, olm_crds: list[str]) -> None:
    csv = load(CSV)
    csv["spec"]["installModes"][0]["supported"] = "no"
    result = kubectl(
        testbed, "apply", "--server-side", "--dry-run=server", "-n", "flowgate", "-f", "-", input=dump([csv])
    )
    assert result.returncode != 0 and "installModes" in result.stderr, result.stderr


def addon_identity(testbed: Any, directory: Path) -> Path:
    """A kubeconfig for service account flowgate-addon holding exactly the CSV's permissions for it."""
    spec = load(CSV)["spec"]["install"]["spec"]
    rules = {p["serviceAccountName"]: p["rules"] for p in spec["permissions"]}["flowgate-addon"]
    cluster_rules = {p["serviceAccountName"]: p["rules"] for p in spec["clusterPermissions"]}["flowgate-addon"]
    subject = [{"kind": "ServiceAccount", "name": "flowgate-addon", "namespace": "flowgate"}]
    meta = {"name": "flowgate-addon-test"}
    objects = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {**meta, "namespace": "flowgate"},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {**meta, "namespace": "flowgate"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": meta["name"]},
            "subjects": subject,
        },
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta, "rules": cluster_rules},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": meta["name"]},
            "subjects": subject,
        },
    ]
    token = testbed.service_account_token("flowgate-addon")
    applied = kubectl(
        testbed, "apply", "--server-side", "--field-manager=flowgate-test", "-f", "-", input=dump(objects)
    )
    assert applied.returncode == 0, applied.stderr
    path = directory / "kubeconfig-addon"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "c", "cluster": {"server": testbed.api_url, "certificate-authority": str(testbed.ca_file)}}
                ],
                "users": [{"name": "addon", "user": {"token": token}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "addon"}}],
                "current-context": "c",
            }
        )
    )
    return path


def addon(kubeconfig: Path, image: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "gateway.main", "addon", "--once", "--image", image, "--kubeconfig", str(kubeconfig)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT)


@pytest.mark.slow
def test_the_addon_installs_what_olm_cannot_with_only_the_csvs_permissions(testbed: Any, tmp_path: Path) -> None:
    kubeconfig = addon_identity(testbed, tmp_path)
    admin = testbed.client()
    try:
        first = addon(kubeconfig, DIGEST)
        assert first.returncode == 0, first.stderr
        daemonset = admin.get("/apis/apps/v1/namespaces/flowgate/daemonsets/flowgate-agent")
        assert [c["image"] for c in daemonset["spec"]["template"]["spec"]["containers"]] == [DIGEST]
        scc = admin.get("/apis/security.openshift.io/v1/securitycontextconstraints/flowgate-agent")
        assert scc["allowedCapabilities"] == ["DAC_OVERRIDE"]
        policy = admin.get("/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/flowgate-agent-own-node")
        assert any(m["manager"] == "flowgate-addon" for m in policy["metadata"]["managedFields"])
        # Deleted or edited behind its back: the next pass puts it back as the manifests say.
        admin.delete("/apis/apps/v1/namespaces/flowgate/daemonsets/flowgate-agent")
        admin.merge_patch(
            "/apis/security.openshift.io/v1/securitycontextconstraints/flowgate-agent", {"allowHostPID": True}
        )
        again = addon(kubeconfig, DIGEST)
        assert again.returncode == 0, again.stderr
        assert admin.get("/apis/apps/v1/namespaces/flowgate/daemonsets/flowgate-agent")["metadata"]["name"]
        assert (
            admin.get("/apis/security.openshift.io/v1/securitycontextconstraints/flowgate-agent")["allowHostPID"]
            is False
        )
        # Its rights reach exactly its own objects.
        account = "system:serviceaccount:flowgate:flowgate-addon"
        for verb, what in (
            ("patch", "daemonsets/other"),
            ("delete", "daemonsets/flowgate-agent"),
            ("patch", "deployments/flowgate-gateway"),
        ):
            can = kubectl(testbed, "auth", "can-i", verb, what, "-n", "flowgate", f"--as={account}")
            assert can.stdout.strip() == "no", f"flowgate-addon may {verb} {what}"
    finally:
        kubectl(
            testbed,
            "delete",
            "--ignore-not-found",
            "-n",
            "flowgate",
            "daemonset/flowgate-agent",
            "role/flowgate-addon-test",
            "rolebinding/flowgate-addon-test",
        )
        kubectl(
            testbed,
            "delete",
            "--ignore-not-found",
            "securitycontextconstraints/flowgate-agent",
            "clusterrole/flowgate-addon-test",
            "clusterrolebinding/flowgate-addon-test",
        )
