"""flowgate's container image, built from this checkout's sources, and run the way the manifests in
deploy/ run it: the gateway as its Deployment says (non-root, no capabilities, the service
account's token, TLS from a Secret) answering GraphQL over HTTPS, and the node agent as its
DaemonSet says (root with DAC_OVERRIDE only, the host network, the node's OVS directory read-only)
configuring a node's real OVS and reporting Flow/<node> Emitting. Neither writes to the image's
file system, which the manifests mount read-only.

The image is built once per session (seconds when the store already holds it); see
tests/fixtures/image.py for how a pod spec becomes a `buildah run`."""

from __future__ import annotations

import hashlib
import json
import os
import re
import ssl
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flowgate_testbed.testbed import free_port
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.fixtures.credentials import service_account_dir
from tests.fixtures.gateway import serving_certificate
from tests.fixtures.image import ROOT, Container, ContainerProcess, Image, RunOptions, capability_names
from tests.fixtures.manifests import JSON, container, pod_spec, render_kustomize
from tests.fixtures.waiting import wait_for

# The first test here builds the image when the store holds none of these sources: minutes (a
# first build downloads Debian, Node and Python packages), beyond the suite's usual limit per test.
BUILD_TIMEOUT = 1800
pytestmark = [pytest.mark.ovs, pytest.mark.slow, pytest.mark.timeout(BUILD_TIMEOUT)]

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
MAX_IMAGE_MB = 350
UP_TO_DATE_WITHIN = 60.0  # seconds: hashing the sources; a build would take minutes
NODE_PORT = 30001
WITHIN = 20.0
FLOWS = "/apis/flowgate.dev/v1alpha1/flows"
EXPORTS = "/apis/flowgate.dev/v1alpha1/flowexports"
FLOWS_QUERY = "{ flows { enabled nodes { node state type endpoint message } } }"
START = """mutation Start($port: Int!) {
  startFlows(type: NETFLOW, collector: {nodePort: $port}, activeTimeoutSeconds: 1) { generation }
}"""
STOP = "mutation { stopFlows { generation } }"


def figure(name: str, value: float, unit: str = "s") -> None:
    print(f"figure: {name}: {value:.1f} {unit}")


# -- the image itself ----------------------------------------------------------------------------


def test_a_second_build_finds_the_image_up_to_date(flowgate_image: Image, tmp_path: Path) -> None:
    figure("image build at the start of this session (seconds when cached)", flowgate_image.build_seconds)
    iidfile = tmp_path / "iid"
    start = time.monotonic()
    result = subprocess.run(
        ["bash", str(ROOT / "hack" / "build-image.sh"), "--iidfile", str(iidfile)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.monotonic() - start
    figure("hack/build-image.sh with the image up to date", seconds)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"image localhost/flowgate:{VERSION} is up to date with the sources" in result.stdout
    assert "building" not in result.stdout
    assert iidfile.read_text().strip() == flowgate_image.id
    assert seconds < UP_TO_DATE_WITHIN


# Every distribution in the image's venv as name==version (pip is not there to ask).
INSTALLED = (
    "import importlib.metadata as m, re; "
    "print(' '.join(sorted({re.sub(r'[-_.]+', '-', d.metadata['Name']).lower() + '==' + d.version "
    "for d in m.distributions()})))"
)
GOFLOW2_VERSION = re.search(
    r"github.com/netsampler/goflow2/v2 (v\S+)", (ROOT / "hack" / "goflow2" / "go.mod").read_text()
).group(1)  # type: ignore[union-attr]


def locked_versions(lock: Path) -> dict[str, str]:
    """name -> version of every package requirements.lock pins for this platform (the image's:
    Linux, CPython 3.11), less the build backend the image uninstalls once flowgate is built."""
    pins = {}
    for line in lock.read_text().splitlines():
        if "==" not in line or line.startswith((" ", "#")):
            continue
        requirement = Requirement(line.rstrip(" \\"))
        if requirement.marker is None or requirement.marker.evaluate():
            pins[canonicalize_name(requirement.name)] = str(next(iter(requirement.specifier)).version)
    return {name: version for name, version in pins.items() if name not in ("setuptools", "wheel")}


def test_the_image_holds_flowgate_ovs_clients_and_goflow2_and_runs_as_1001(
    flowgate_image: Image, image_container: Container
) -> None:
    config = flowgate_image.config()
    assert config["User"] == "1001:0"
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.title"] == "flowgate"
    # Built from these sources; the commit it names is the one it was built at, which may be an
    # earlier one with the same image inputs.
    assert labels["dev.flowgate.source-hash"] == flowgate_image.source_hash
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", labels["org.opencontainers.image.revision"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", labels["org.opencontainers.image.created"])
    # What it is made of: the Python lock it installed, and the goflow2 it carries.
    lock = ROOT / "requirements.lock"
    assert labels["dev.flowgate.requirements-lock"] == f"sha256:{hashlib.sha256(lock.read_bytes()).hexdigest()}"
    assert labels["dev.flowgate.goflow2-version"] == GOFLOW2_VERSION

    def run(*argv: str) -> str:
        result = image_container.run(argv)
        assert result.returncode == 0, f"{' '.join(argv)} in the image: {result.stdout}{result.stderr}"
        return result.stdout + result.stderr

    assert run("flowgate", "--version").strip() == f"flowgate {VERSION}"
    assert run("id", "-u").strip() == "1001" and run("id", "-g").strip() == "0"
    assert "Open vSwitch" in run("ovs-vsctl", "--version")
    assert "Open vSwitch" in run("ovsdb-client", "--version")
    assert "GoFlow2" in run("goflow2", "-v")
    # Exactly the locked versions of every Python package, and nothing unlocked beside flowgate.
    installed = run("/opt/flowgate/bin/python", "-c", INSTALLED)
    assert dict(line.split("==") for line in installed.split()) == {**locked_versions(lock), "flowgate": VERSION}
    assert run("sh", "-c", "head -n 2 /usr/bin/gather").startswith("#!/bin/sh\n# flowgate must-gather")
    assert run("sh", "-c", "ls -A /var/lib/apt/lists").strip() == ""
    # Only what runs: no package manager's caches, no build tools, no pip.
    missing = run("sh", "-c", "for c in node npm gcc pip pip3 apt-get; do command -v $c || echo no-$c; done")
    assert missing.split() == ["no-node", "no-npm", "no-gcc", "no-pip", "no-pip3", "/usr/bin/apt-get"]
    size = flowgate_image.size_megabytes()
    figure("image size", size, "MB")
    assert size < MAX_IMAGE_MB


def test_a_write_to_the_images_file_system_is_seen(image_container: Container) -> None:
    """The check the tests below end with can fail."""
    since = time.time()
    assert image_container.run(["touch", "/opt/flowgate/written"], RunOptions(user="0:0")).returncode == 0
    try:
        assert "/opt/flowgate/written" in image_container.changed_since(since)
    finally:
        image_container.run(["rm", "/opt/flowgate/written"], RunOptions(user="0:0"))


# -- running it as the manifests say -------------------------------------------------------------


class HttpsGateway:
    """The gateway in the image, reached over HTTPS with the CA that signed its certificate."""

    def __init__(self, process: ContainerProcess, port: int, ca: Path, testbed: Any) -> None:
        self.process = process
        self.url = f"https://127.0.0.1:{port}"
        self.context = ssl.create_default_context(cafile=str(ca))
        self.testbed = testbed

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10, context=self.context) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def ready(self) -> bool:
        try:
            return self.get("/readyz")[0] == 200
        except OSError:
            return False

    def graphql(self, query: str, variables: JSON | None = None, user: str | None = "admin") -> JSON:
        headers = {"Content-Type": "application/json"}
        if user:
            headers["Authorization"] = f"Bearer {self.testbed.token(user)}"
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(self.url + "/graphql", data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.context) as response:
                answer: JSON = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            answer = json.loads(exc.read())
        return answer


def pod_service_account(testbed: Any, directory: Path, account: str, node: str | None = None) -> Path:
    """What the kubelet mounts for the pod's service account: a TokenRequest token, the CA, the
    namespace. With `node`, the token is bound to a pod scheduled there and carries its name, as a
    DaemonSet pod's does (the admission policy confines the agent to that node's Flow)."""
    if node is None:
        token = testbed.service_account_token(account)
    else:
        token = testbed.service_account_token(account, bound_pod=f"{account}-{node}", node=node)
    folder = service_account_dir(testbed, directory, token)
    folder.chmod(0o755)
    return folder


def api_server_env(testbed: Any) -> dict[str, str]:
    host, port = testbed.api_url.removeprefix("https://").rsplit(":", 1)
    return {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}


def manifests() -> dict[Any, JSON]:
    return render_kustomize("overlays/kubernetes")


@contextmanager
def gateway_in_image(image_container: Container, testbed: Any, tmp_path: Path) -> Iterator[HttpsGateway]:
    """`flowgate serve` as the Deployment runs it; only --host and --port differ (the host network
    is shared, and the test listens on loopback only)."""
    deployment = manifests()[("Deployment", "flowgate", "flowgate-gateway")]
    pod, spec = pod_spec(deployment), container(deployment, "gateway")
    tls = serving_certificate(tmp_path / "gateway-tls")
    options = image_container.pod_options(
        pod,
        spec,
        volumes={"tls": tls},
        env=api_server_env(testbed),
        service_account=pod_service_account(testbed, tmp_path / "gateway-sa", "flowgate-gateway"),
    )
    port = free_port()
    argv = image_container.pod_command(spec, options.env, {"--host": "127.0.0.1", "--port": str(port)})
    process = image_container.start(argv, f"gateway-{port}", options)
    gateway = HttpsGateway(process, port, tls / "tls.crt", testbed)
    try:
        wait_for(lambda: gateway.ready() or not process.running(), 60, "the gateway's /readyz answering 200")
        assert process.running(), f"the gateway exited {process.popen.returncode}:\n{process.log_tail()}"
        yield gateway
    except BaseException:
        process.stop()
        raise
    process.stop()
    # A clean shutdown; uvicorn then ends by the signal it caught, as a kubelet expects.
    log = process.log.read_text()
    assert "Application shutdown complete." in log and "Finished server process" in log, process.log_tail()
    assert "subprocess exited on terminated" in process.buildah_log.read_text(), process.log_tail()


def agent_in_image(
    image_container: Container, testbed: Any, tmp_path: Path, node: str, *, capabilities: list[str] | None = None
) -> ContainerProcess:
    """`flowgate agent` as the DaemonSet runs it on `node`, with the node's OVS run directory as its
    hostPath volume; `capabilities` replaces what the manifest adds (to show what is needed)."""
    daemonset = manifests()[("DaemonSet", "flowgate", "flowgate-agent")]
    pod, spec = pod_spec(daemonset), container(daemonset, "agent")
    options = image_container.pod_options(
        pod,
        spec,
        volumes={"ovs-run": testbed.ovs_rundir(node)},
        # hostNetwork: the pod's IP is the host's, here the shared loopback (a free port below)
        field_refs={"spec.nodeName": node, "status.podIP": "127.0.0.1"},
        env=api_server_env(testbed),
        service_account=pod_service_account(
            testbed, tmp_path / f"agent-sa-{node}-{time.monotonic_ns()}", "flowgate-agent", node
        ),
    )
    if capabilities is not None:
        options.cap_drop = sorted(image_container.default_capabilities() - set(capabilities))
        options.cap_add = sorted(capabilities)
    argv = image_container.pod_command(spec, options.env, {"--metrics-address": f"127.0.0.1:{free_port()}"})
    assert f"--node={node}" in argv
    return image_container.start(argv, f"agent-{node}-{time.monotonic_ns()}", options)


def flow_states(testbed: Any) -> dict[str, JSON]:
    items = testbed.client().get(FLOWS).get("items", [])
    return {item["metadata"]["name"]: item.get("status") or {} for item in items}


def wait_states(testbed: Any, expected: dict[str, str], generation: int | None = None) -> dict[str, JSON]:
    def reached() -> dict[str, JSON] | None:
        flows = flow_states(testbed)
        ok = all(
            flows.get(node, {}).get("state") == state
            and (generation is None or flows[node].get("observedGeneration") == generation)
            for node, state in expected.items()
        )
        return flows if ok else None

    result: dict[str, JSON] = wait_for(reached, WITHIN, f"Flow states {expected}")
    return result


def test_the_gateway_runs_in_the_image_as_its_deployment_says(
    image_container: Container, testbed: Any, tmp_path: Path
) -> None:
    testbed.reset()
    since = time.time()
    with gateway_in_image(image_container, testbed, tmp_path) as gateway:
        status = gateway.process.status()
        assert status["Uid"].split() == ["1001"] * 4 and status["Gid"].split() == ["0"] * 4
        # No capability to use. (buildah keeps SETUID in the bounding set of a non-root command, which
        # the kubelet, dropping ALL, would not; with allowPrivilegeEscalation false nothing can gain it.)
        assert capability_names(status["CapEff"]) == set() and capability_names(status["CapPrm"]) == set()

        seen = gateway.graphql(FLOWS_QUERY, user="viewer")
        assert not seen.get("errors"), seen
        assert [n["node"] for n in seen["data"]["flows"]["nodes"]] == testbed.node_names
        assert gateway.graphql(FLOWS_QUERY, user="nobody")["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert gateway.graphql(FLOWS_QUERY, user=None)["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

        # The web UI built into the image: the standalone page and the console plugin's manifest.
        code, page = gateway.get("/")
        assert code == 200 and b"<html" in page.lower()
        code, manifest = gateway.get("/plugin/plugin-manifest.json")
        assert code == 200 and json.loads(manifest)["name"] == "flowgate"
    assert image_container.changed_since(since) == [], "the gateway wrote to the image's file system"


def test_gateway_and_agents_in_the_image_switch_a_nodes_real_ovs(
    image_container: Container, fresh_ovs_testbed: Any, tmp_path: Path
) -> None:
    tb = fresh_ovs_testbed
    since = time.time()
    with gateway_in_image(image_container, tb, tmp_path) as gateway:
        agents = {node: agent_in_image(image_container, tb, tmp_path, node) for node in tb.node_names}
        try:
            wait_states(tb, dict.fromkeys(tb.node_names, "Disabled"))
            status = agents["node-1"].status()
            assert status["Uid"].split() == ["0"] * 4
            assert capability_names(status["CapEff"]) == {"DAC_OVERRIDE"}
            assert capability_names(status["CapBnd"]) == {"DAC_OVERRIDE"}

            marks = {node: len(tb.read_flow_records(node)) for node in tb.node_names}
            started = gateway.graphql(START, {"port": NODE_PORT})
            assert not started.get("errors"), started
            generation = started["data"]["startFlows"]["generation"]
            flows = wait_states(tb, dict.fromkeys(tb.node_names, "Emitting"), generation)
            for node in tb.node_names:
                endpoint = f"{tb.node_ip(node)}:{NODE_PORT}"
                assert flows[node]["endpoint"] == endpoint
                assert tb.ovs_vsctl(node, "get", "netflow", "br-int", "targets").strip() == f'["{endpoint}"]'
            # What OVS now exports reaches each node's own collector.
            for node in tb.node_names:
                wait_for(
                    lambda n=node: any(
                        r.get("type") == "NETFLOW_V5" and r.get("sampler_address") == tb.node_ip(n)
                        for r in tb.read_flow_records(n)[marks[n] :]
                    ),
                    WITHIN,
                    f"NetFlow records from {node}'s br-int at its collector",
                    interval=0.2,
                )
            seen = gateway.graphql(FLOWS_QUERY, user="viewer")
            assert {n["node"]: n["state"] for n in seen["data"]["flows"]["nodes"]} == dict.fromkeys(
                tb.node_names, "EMITTING"
            )

            stopped = gateway.graphql(STOP)
            assert not stopped.get("errors"), stopped
            wait_states(tb, dict.fromkeys(tb.node_names, "Disabled"), stopped["data"]["stopFlows"]["generation"])
            for node in tb.node_names:
                assert tb.ovs_vsctl(node, "get", "bridge", "br-int", "netflow").strip() == "[]"
        finally:
            codes = {node: agent.stop() for node, agent in agents.items()}
    assert codes == dict.fromkeys(tb.node_names, 0), codes
    assert "received SIGTERM; stopping and leaving OVS as it is" in agents["node-1"].log.read_text()
    assert image_container.changed_since(since) == [], "the gateway or an agent wrote to the image's file system"


@contextmanager
def socket_owned_by_someone_else(path: Path) -> Iterator[None]:
    """ovsdb-server's socket as OpenShift has it: owned by the openvswitch user (here 800:801),
    srwxr-x---, so root reaches it only with DAC_OVERRIDE."""
    before = path.stat()
    os.chown(path, 800, 801)
    path.chmod(0o750)
    try:
        yield
    finally:
        os.chown(path, before.st_uid, before.st_gid)
        path.chmod(before.st_mode & 0o7777)


def test_the_agent_needs_dac_override_and_nothing_more_for_a_socket_it_does_not_own(
    image_container: Container, fresh_ovs_testbed: Any, tmp_path: Path
) -> None:
    tb = fresh_ovs_testbed
    node = "node-1"
    tb.client().create(
        EXPORTS,
        {
            "apiVersion": "flowgate.dev/v1alpha1",
            "kind": "FlowExport",
            "metadata": {"name": "cluster"},
            "spec": {"type": "NetFlow", "collector": {"nodePort": NODE_PORT}},
        },
    )
    with socket_owned_by_someone_else(tb.ovs_rundir(node) / "db.sock"):
        without = agent_in_image(image_container, tb, tmp_path, node, capabilities=[])
        try:
            flows = wait_states(tb, {node: "Error"})
            assert capability_names(without.status()["CapEff"]) == set()
        finally:
            code = without.stop()
        assert code == 0, without.log_tail()
        assert flows[node]["message"] == (
            "OVS not reachable at unix:/var/run/openvswitch/db.sock: database connection failed (Permission denied)."
        )
        assert tb.ovs_vsctl(node, "get", "bridge", "br-int", "netflow").strip() == "[]"

        # The manifest's capabilities: DAC_OVERRIDE, and it works.
        agent = agent_in_image(image_container, tb, tmp_path, node)
        try:
            flows = wait_states(tb, {node: "Emitting"})
            assert capability_names(agent.status()["CapEff"]) == {"DAC_OVERRIDE"}
        finally:
            code = agent.stop()
        assert code == 0, agent.log_tail()
        assert flows[node]["endpoint"] == f"{tb.node_ip(node)}:{NODE_PORT}"
    tb.reset()
