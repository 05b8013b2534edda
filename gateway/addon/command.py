"""`flowgate addon`: what the OLM bundle's add-on Deployment runs. A bundle may carry a
ClusterServiceVersion's Deployments and a fixed list of other kinds; flowgate's node agent is a
DaemonSet, and it needs its SecurityContextConstraints and the ValidatingAdmissionPolicy that
confines it to its own node, none of which OLM installs. This applies them (manifests.yaml beside
this file, made from deploy/ by hack/generate-bundle.py) with server-side apply as field manager
flowgate-addon, the DaemonSet running this add-on's own image, and applies them again every
resync so that a deleted or edited object is put back. It never deletes anything."""

from __future__ import annotations

import argparse
import asyncio
import copy
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.kube.api import ApiError, ApiUnreachable, KubeApi
from gateway.kube.config import KubeConfigError, load_access
from gateway.kube.resources import Resource
from gateway.settings import add_arguments, duration, from_arguments, setting

log = logging.getLogger("flowgate.addon")
MANIFESTS = Path(__file__).with_name("manifests.yaml")
FIELD_MANAGER = "flowgate-addon"
APPLY_PATCH = "application/apply-patch+yaml"
RESOURCES = {
    "DaemonSet": Resource("apps", "v1", "daemonsets", "DaemonSet", namespaced=True),
    "SecurityContextConstraints": Resource(
        "security.openshift.io", "v1", "securitycontextconstraints", "SecurityContextConstraints"
    ),
    "ValidatingAdmissionPolicy": Resource(
        "admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", "ValidatingAdmissionPolicy"
    ),
    "ValidatingAdmissionPolicyBinding": Resource(
        "admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings", "ValidatingAdmissionPolicyBinding"
    ),
}


@dataclass(frozen=True)
class AddonSettings:
    image: str = setting("the image the agent DaemonSet runs (the add-on's own, as the bundle names it)", default="")
    namespace: str = setting("the namespace flowgate is installed in (the DaemonSet goes there)", default="flowgate")
    kubeconfig: str | None = setting(
        "kubeconfig to use; without one, as kubectl: $KUBECONFIG, ~/.kube/config, then the pod's service account",
        default=None,
        metavar="PATH",
    )
    resync: float = setting("apply everything again this often", default=600.0, parse=duration, metavar="DURATION")
    once: bool = False  # --once (a switch, added in register): apply once and exit
    log_level: str = setting("how much to log", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


def objects(image: str, namespace: str, manifests: Path = MANIFESTS) -> list[dict[str, Any]]:
    """The objects to apply, the DaemonSet set to `image` and every namespaced one to `namespace`."""
    import yaml  # for this command only: `flowgate agent` never loads it

    found = []
    for doc in yaml.safe_load_all(manifests.read_text()):
        if not doc:
            continue
        obj = copy.deepcopy(doc)
        if obj["kind"] not in RESOURCES:
            raise ValueError(f"{manifests} holds a {obj['kind']}, which flowgate addon does not apply")
        if RESOURCES[obj["kind"]].namespaced:
            obj["metadata"]["namespace"] = namespace
        if obj["kind"] == "DaemonSet" and image:
            for container in obj["spec"]["template"]["spec"]["containers"]:
                container["image"] = image
        found.append(obj)
    return found


async def apply_all(api: KubeApi, items: list[dict[str, Any]]) -> list[str]:
    """Server-side apply each object; the sentences of what failed (empty when all were applied)."""
    failures = []
    for obj in items:
        resource = RESOURCES[obj["kind"]]
        meta = obj["metadata"]
        what = f"{obj['kind']}/{meta['name']}"
        try:
            await api.request(
                "PATCH",
                resource.path(meta["name"], meta.get("namespace")),
                params={"fieldManager": FIELD_MANAGER, "force": "true"},
                body=obj,
                content_type=APPLY_PATCH,
            )
            log.info("applied %s", what)
        except (ApiError, ApiUnreachable) as exc:
            failures.append(f"could not apply {what}: {exc}")
    return failures


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "addon",
        help="install what OLM cannot (the agent DaemonSet, its SCC, the admission policy) and keep it there",
        description=(
            "Server-side apply the node agent's DaemonSet, its SecurityContextConstraints and the "
            "ValidatingAdmissionPolicy confining each agent to its own node, then again every --resync. "
            "The OLM bundle's add-on Deployment runs this."
        ),
    )
    add_arguments(parser, AddonSettings)
    parser.add_argument("--once", action="store_true", help="apply once and exit (0 when everything was applied)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = from_arguments(AddonSettings, args)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s addon: %(message)s", stream=sys.stderr
    )
    import yaml

    try:
        items = objects(settings.image, settings.namespace)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"flowgate addon: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_run(settings, items))


async def _run(settings: AddonSettings, items: list[dict[str, Any]]) -> int:
    try:
        access = await load_access(settings.kubeconfig)
    except KubeConfigError as exc:
        log.error("%s", exc)
        return 2
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    async with KubeApi(access) as api:
        while True:
            failures = await apply_all(api, items)
            for failure in failures:
                log.error("%s; trying again in %gs", failure, settings.resync)
            if settings.once:
                return 1 if failures else 0
            try:
                async with asyncio.timeout(settings.resync):
                    await stopping.wait()
                return 0
            except TimeoutError:
                pass
