"""Generates the OLM bundle in bundle/ from deploy/, so the two never drift:

    .venv/bin/python hack/generate-bundle.py [--image REF] [--check]     (make bundle)

The objects are deploy/overlays/openshift as the real kubectl renders it, placed where OLM takes
them: the gateway Deployment goes into the ClusterServiceVersion's install strategy, the service
accounts' ClusterRoles and Roles into its (cluster)permissions, the Namespace into its
suggested-namespace template, and the kinds a bundle may carry (CRDs, the ConsolePlugin, Services,
the PodDisruptionBudget, the user-facing ClusterRoles, ServiceMonitors, PrometheusRule, ...) into
manifests/. What OLM cannot install from a bundle (the agent DaemonSet, its SecurityContextConstraints
and the ValidatingAdmissionPolicy) goes into gateway/addon/manifests.yaml, which the add-on
Deployment (`flowgate addon`, in the CSV) applies. deploy/olm/csv.yaml adds the description,
icon and display names.

--image names the image every container runs and the bundle's relatedImages (default: the one
deploy/base names); pass what you pushed, by digest, e.g.
--image registry.example.com/flowgate@sha256:...  --check changes nothing and fails when bundle/ or
gateway/addon/manifests.yaml differ from what deploy/ makes."""

from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "bundle"
ADDON_MANIFESTS = ROOT / "gateway" / "addon" / "manifests.yaml"
OLM = ROOT / "deploy" / "olm"
PACKAGE = "flowgate"
NAMESPACE = "flowgate"
ADDON = "flowgate-addon"
JSON = dict[str, Any]
IMAGE_REF = re.compile(
    r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})$"
)

# Where each kind of deploy/ goes: the CSV, a bundle manifest, or the add-on's manifests.
IN_CSV = {"Namespace", "Deployment", "ServiceAccount"}
FOR_ADDON = {"DaemonSet", "SecurityContextConstraints", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
# Namespaced objects that belong in another namespace than flowgate's: OLM would put them into the
# install namespace, where they mean nothing. Installed by hand (deploy/README.md says how).
NOT_IN_BUNDLE = {("ConfigMap", "flowgate-dashboard")}
# The kinds OLM installs from a bundle's manifests/ (operator-lifecycle-manager's catalog operator:
# its own steps plus pkg/controller/operators/catalog/supportedresources.go).
BUNDLE_KINDS = {
    "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service",
    "ConfigMap", "Secret", "ServiceAccount", "PrometheusRule", "ServiceMonitor", "PodDisruptionBudget",
    "PriorityClass", "VerticalPodAutoscaler", "ConsoleYAMLSample", "ConsoleQuickStart", "ConsoleCLIDownload",
    "ConsoleLink", "ConsolePlugin", "NetworkPolicy",
}  # fmt: skip


def fail(message: str) -> None:
    print(f"flowgate: {message}", file=sys.stderr)
    sys.exit(1)


def kubectl() -> str:
    path = Path(os.environ.get("FLOWGATE_BIN_DIR") or ROOT / ".bin") / "kubectl"
    if not path.exists():
        fail(f"kubectl is missing at {path}; run `make binaries`.")
    return str(path)


def rendered() -> list[JSON]:
    proc = subprocess.run(
        [kubectl(), "kustomize", str(ROOT / "deploy" / "overlays" / "openshift")], capture_output=True, text=True
    )
    if proc.returncode != 0:
        fail(f"kubectl kustomize deploy/overlays/openshift failed:\n{proc.stderr}")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def pick(objects: list[JSON], kind: str, name: str) -> JSON:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    fail(f"deploy/overlays/openshift renders no {kind}/{name}, which the bundle needs.")
    raise AssertionError


def with_image(obj: JSON, image: str) -> JSON:
    obj = copy.deepcopy(obj)
    for container in obj["spec"]["template"]["spec"]["containers"]:
        container["image"] = image
    return obj


def bound_rules(objects: list[JSON], account: str) -> tuple[list[JSON], list[JSON]]:
    """(namespaced rules, cluster rules) the service account is bound to in deploy/."""
    roles = {(o["kind"], o["metadata"]["name"]): o for o in objects if o["kind"] in ("Role", "ClusterRole")}
    namespaced: list[JSON] = []
    cluster: list[JSON] = []
    for binding in (o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        if not any(s.get("kind") == "ServiceAccount" and s.get("name") == account for s in binding.get("subjects", [])):
            continue
        role = roles[(binding["roleRef"]["kind"], binding["roleRef"]["name"])]
        (namespaced if binding["kind"] == "RoleBinding" else cluster).extend(role["rules"])
    return namespaced, cluster


def descriptors(schema: JSON, prefix: str = "", depth: int = 2) -> list[JSON]:
    """One descriptor per field (two levels deep), for the console's forms and views."""
    found: list[JSON] = []
    for name, field in (schema.get("properties") or {}).items():
        path = f"{prefix}{name}"
        if field.get("enum"):
            x = [f"urn:alm:descriptor:com.tectonic.ui:select:{v}" for v in field["enum"]]
        elif field.get("type") == "integer":
            x = ["urn:alm:descriptor:com.tectonic.ui:number"]
        elif field.get("type") == "boolean":
            x = ["urn:alm:descriptor:com.tectonic.ui:booleanSwitch"]
        else:
            x = ["urn:alm:descriptor:text"]
        descriptor: JSON = {"path": path, "displayName": re.sub(r"(?<!^)(?=[A-Z])", " ", name).capitalize()}
        if field.get("description"):
            descriptor["description"] = field["description"]
        found.append({**descriptor, "x-descriptors": x})
        if depth > 1 and field.get("type") == "object" and field.get("properties"):
            found += descriptors(field, f"{path}.", depth - 1)
    return found


def owned_crd(crd: JSON, meta: JSON) -> JSON:
    served = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    schema = served["schema"]["openAPIV3Schema"]["properties"]
    owned = {
        "name": crd["metadata"]["name"],
        "version": served["name"],
        "kind": crd["spec"]["names"]["kind"],
        "displayName": meta["displayName"],
        "description": meta["description"],
    }
    spec = descriptors(schema.get("spec") or {})
    status = descriptors(schema.get("status") or {})
    if spec:
        owned["specDescriptors"] = spec
    if status:
        owned["statusDescriptors"] = status
    return owned


def addon_deployment(image: str) -> JSON:
    """The add-on Deployment: `flowgate addon` applies what OLM cannot install from a bundle."""
    labels = {"app.kubernetes.io/name": "flowgate", "app.kubernetes.io/component": "addon"}
    return {
        "name": ADDON,
        "label": {**labels, "app.kubernetes.io/part-of": "flowgate"},
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "Recreate"},
            "template": {
                "metadata": {"labels": {**labels, "app.kubernetes.io/part-of": "flowgate"}},
                "spec": {
                    "serviceAccountName": ADDON,
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "containers": [
                        {
                            "name": "addon",
                            "image": image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["flowgate", "addon"],
                            "args": [f"--namespace={NAMESPACE}", f"--image={image}", "--resync=10m"],
                            "resources": {
                                "requests": {"cpu": "5m", "memory": "48Mi"},
                                "limits": {"cpu": "100m", "memory": "128Mi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "runAsNonRoot": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }


def addon_rules(addon: list[JSON]) -> tuple[list[JSON], list[JSON]]:
    """What `flowgate addon` needs to server-side apply exactly its objects: create (which
    resourceNames cannot narrow) and get/patch of those names only."""
    plural = {
        "DaemonSet": ("apps", "daemonsets"),
        "SecurityContextConstraints": ("security.openshift.io", "securitycontextconstraints"),
        "ValidatingAdmissionPolicy": ("admissionregistration.k8s.io", "validatingadmissionpolicies"),
        "ValidatingAdmissionPolicyBinding": ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"),
    }
    namespaced: list[JSON] = []
    cluster: list[JSON] = []
    for obj in addon:
        group, resource = plural[obj["kind"]]
        rules = namespaced if obj["metadata"].get("namespace") else cluster
        rules.append({"apiGroups": [group], "resources": [resource], "verbs": ["create"]})
        rules.append(
            {
                "apiGroups": [group],
                "resources": [resource],
                "resourceNames": [obj["metadata"]["name"]],
                "verbs": ["get", "patch"],
            }
        )
    return namespaced, cluster


def manifest_name(obj: JSON) -> str:
    if obj["kind"] == "CustomResourceDefinition":
        group, plural = obj["spec"]["group"], obj["spec"]["names"]["plural"]
        return f"{group}_{plural}.yaml"
    api = obj["apiVersion"].replace("/", "_").replace(".", "_")
    return f"{obj['metadata']['name']}_{api}_{obj['kind'].lower()}.yaml"


def build(image: str) -> tuple[dict[str, str], str]:
    """{path under bundle/: text}, and the add-on's manifests."""
    objects = rendered()
    meta = yaml.safe_load((OLM / "csv.yaml").read_text())
    ver = version()
    gateway = with_image(pick(objects, "Deployment", "flowgate-gateway"), image)
    namespace = pick(objects, "Namespace", NAMESPACE)
    objects = [o for o in objects if (o["kind"], o["metadata"]["name"]) not in NOT_IN_BUNDLE]
    unplaced = [
        f"{o['kind']}/{o['metadata']['name']}"
        for o in objects
        if o["kind"] not in IN_CSV | FOR_ADDON | BUNDLE_KINDS or o["metadata"].get("namespace") not in (None, NAMESPACE)
    ]
    if unplaced:
        fail(
            f"deploy/overlays/openshift renders {', '.join(unplaced)}, which neither OLM nor the add-on installs "
            "where it belongs; place them in hack/generate-bundle.py."
        )
    addon = [with_image(o, image) if o["kind"] == "DaemonSet" else o for o in objects if o["kind"] in FOR_ADDON]
    accounts = [o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount"]
    bound_roles = set()
    bound_bindings = set()
    for binding in (o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        if any(s.get("kind") == "ServiceAccount" and s.get("name") in accounts for s in binding.get("subjects", [])):
            bound_bindings.add((binding["kind"], binding["metadata"]["name"]))
            bound_roles.add((binding["roleRef"]["kind"], binding["roleRef"]["name"]))
    permissions: list[JSON] = []
    cluster_permissions: list[JSON] = []
    for account in accounts:
        namespaced, cluster = bound_rules(objects, account)
        if namespaced:
            permissions.append({"serviceAccountName": account, "rules": namespaced})
        if cluster:
            cluster_permissions.append({"serviceAccountName": account, "rules": cluster})
    addon_namespaced, addon_cluster = addon_rules(addon)
    permissions.append({"serviceAccountName": ADDON, "rules": addon_namespaced})
    cluster_permissions.append({"serviceAccountName": ADDON, "rules": addon_cluster})

    manifests = [
        o
        for o in objects
        if o["kind"] in BUNDLE_KINDS - {"ServiceAccount"}
        and (o["kind"], o["metadata"]["name"]) not in bound_roles | bound_bindings
    ]
    crds = [o for o in manifests if o["kind"] == "CustomResourceDefinition"]
    plugin = pick(objects, "ConsolePlugin", "flowgate")
    template = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": NAMESPACE, "labels": namespace["metadata"]["labels"]},
    }
    examples = [
        meta["crds"][c["metadata"]["name"]]["example"] for c in crds if "example" in meta["crds"][c["metadata"]["name"]]
    ]
    csv: JSON = {
        "apiVersion": "operators.coreos.com/v1alpha1",
        "kind": "ClusterServiceVersion",
        "metadata": {
            "name": f"{PACKAGE}.v{ver}",
            "annotations": {
                "alm-examples": json.dumps(examples),
                "capabilities": meta["capabilities"],
                "categories": meta["categories"],
                "containerImage": image,
                "description": " ".join(meta["description"].split("\n\n", 1)[0].split()),
                "console.openshift.io/plugins": json.dumps([plugin["metadata"]["name"]]),
                "operatorframework.io/suggested-namespace": NAMESPACE,
                "operatorframework.io/suggested-namespace-template": json.dumps(template, sort_keys=True),
                "operatorframework.io/cluster-monitoring": "true",
                "operatorframework.io/internal-objects": json.dumps(
                    [c["metadata"]["name"] for c in crds if meta["crds"][c["metadata"]["name"]].get("internal")]
                ),
            },
            "labels": {"operatorframework.io/arch.amd64": "supported", "operatorframework.io/os.linux": "supported"},
        },
        "spec": {
            "displayName": meta["displayName"],
            "description": meta["description"],
            "version": ver,
            "minKubeVersion": meta["minKubeVersion"],
            "maturity": meta["maturity"],
            "provider": meta["provider"],
            "keywords": meta["keywords"],
            "icon": [
                {"base64data": base64.b64encode((OLM / "icon.svg").read_bytes()).decode(), "mediatype": "image/svg+xml"}
            ],
            "installModes": [
                {"type": "OwnNamespace", "supported": False},
                {"type": "SingleNamespace", "supported": False},
                {"type": "MultiNamespace", "supported": False},
                # flowgate's objects are cluster-scoped and its agents run on every node.
                {"type": "AllNamespaces", "supported": True},
            ],
            "customresourcedefinitions": {
                "owned": [
                    owned_crd(c, meta["crds"][c["metadata"]["name"]])
                    for c in sorted(crds, key=lambda c: c["metadata"]["name"])
                ]
            },
            "install": {
                "strategy": "deployment",
                "spec": {
                    "deployments": [
                        {
                            "name": gateway["metadata"]["name"],
                            "label": gateway["metadata"]["labels"],
                            "spec": gateway["spec"],
                        },
                        addon_deployment(image),
                    ],
                    "permissions": permissions,
                    "clusterPermissions": cluster_permissions,
                },
            },
            "relatedImages": [{"name": PACKAGE, "image": image}],
        },
    }
    files = {f"manifests/{PACKAGE}.clusterserviceversion.yaml": dump(csv)}
    for obj in manifests:
        files[f"manifests/{manifest_name(obj)}"] = dump(obj)
    annotations = {
        "operators.operatorframework.io.bundle.mediatype.v1": "registry+v1",
        "operators.operatorframework.io.bundle.manifests.v1": "manifests/",
        "operators.operatorframework.io.bundle.metadata.v1": "metadata/",
        "operators.operatorframework.io.bundle.package.v1": PACKAGE,
        "operators.operatorframework.io.bundle.channels.v1": meta["channel"],
        "operators.operatorframework.io.bundle.channel.default.v1": meta["channel"],
    }
    files["metadata/annotations.yaml"] = dump({"annotations": annotations})
    labels = "".join(f"LABEL {k}={v}\n" for k, v in annotations.items())
    files["bundle.Containerfile"] = (
        "# flowgate's OLM bundle image, made by hack/generate-bundle.py: build it from bundle/ with\n"
        "#   buildah bud -f bundle.Containerfile -t <registry>/flowgate-bundle:<version> bundle/\n"
        f"FROM scratch\n{labels}COPY manifests /manifests/\nCOPY metadata /metadata/\n"
    )
    addon_text = (
        "# What OLM cannot install from a bundle, applied by `flowgate addon` (the add-on Deployment in\n"
        "# the ClusterServiceVersion): made by hack/generate-bundle.py from deploy/overlays/openshift.\n"
        + dump_all(addon)
    )
    return files, addon_text


def dump(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=False, width=120)


def dump_all(objs: list[JSON]) -> str:
    return yaml.safe_dump_all(objs, sort_keys=False, width=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--image", help="the image every container runs and relatedImages names (default: deploy/base's)"
    )
    parser.add_argument(
        "--check", action="store_true", help="change nothing; fail when bundle/ is not what deploy/ makes"
    )
    parser.add_argument("--output", type=Path, default=BUNDLE, help="where to write the bundle (default: bundle/)")
    args = parser.parse_args()
    image = args.image or f"localhost/flowgate:{version()}"
    if not IMAGE_REF.match(image):
        fail(
            f"--image {image!r} is not an image reference; write it as REGISTRY/NAME:TAG or REGISTRY/NAME@sha256:DIGEST."
        )
    files, addon = build(image)
    if args.check:
        stale = [
            path
            for path, text in files.items()
            if not (args.output / path).is_file() or (args.output / path).read_text() != text
        ]
        extra = [
            str(p.relative_to(args.output))
            for p in args.output.rglob("*")
            if p.is_file() and str(p.relative_to(args.output)) not in files
        ]
        if not ADDON_MANIFESTS.is_file() or ADDON_MANIFESTS.read_text() != addon:
            stale.append(str(ADDON_MANIFESTS.relative_to(ROOT)))
        if stale or extra:
            fail(
                f"bundle/ is not what deploy/ makes (differs: {', '.join(sorted(stale)) or 'none'}; not generated: {', '.join(sorted(extra)) or 'none'}); run `make bundle`."
            )
        print(f"flowgate: bundle/ matches deploy/ ({len(files)} files)")
        return 0
    with tempfile.TemporaryDirectory(dir=args.output.parent if args.output.parent.exists() else None) as tmp:
        for path, text in files.items():
            (Path(tmp) / path).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / path).write_text(text)
        shutil.rmtree(args.output, ignore_errors=True)
        shutil.copytree(tmp, args.output)
    if args.output == BUNDLE:
        ADDON_MANIFESTS.write_text(addon)
    print(f"flowgate: wrote {args.output} ({len(files)} files) for image {image}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
