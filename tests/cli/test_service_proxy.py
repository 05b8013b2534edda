"""The plugin's default route, end to end: no --gateway, so `kubectl flows` goes through the
kube-apiserver's service proxy to the gateway Service with the kubeconfig's credentials. The API
server strips Authorization on that hop, so this shows the token really arrives another way (a
header of our own over HTTP, connection_init over WebSocket) and that RBAC on services/proxy
applies.

The API server refuses to proxy to loopback, so the gateway listens on this machine's own
non-loopback address, behind a selector-less Service with hand-written endpoints (the testbed
runs no controller-manager)."""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Kubectl, LineReader, flow_status

pytestmark = pytest.mark.usefixtures("kubectl_binary")

NAMESPACE = "flowgate"
SERVICE = "flowgate-gateway"


def host_address() -> str | None:
    """An IPv4 address of this machine that is not loopback (scope global)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        fields = line.split()
        if "inet" in fields:
            return fields[fields.index("inet") + 1].split("/")[0]
    return None


def serving_cert(directory: Path, address: str) -> tuple[Path, Path]:
    cert, key = directory / "tls.crt", directory / "tls.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={SERVICE}",
         "-addext", f"subjectAltName=IP:{address},DNS:{SERVICE}.{NAMESPACE}.svc",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2, context=insecure) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the gateway at {url} was not ready within {timeout}s:\n{log.read_text()}")


def apply(admin: Kubectl, *objects: dict[str, Any]) -> None:
    admin.ok("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))


@pytest.fixture
def proxied_gateway(testbed: Any, start_gateway: Callable[..., Any], tmp_path: Path) -> Iterator[Any]:
    """A TLS gateway on this machine's address, reachable as services/https:flowgate-gateway:8443."""
    address = host_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address, and the API server never proxies to loopback")
    testbed.reset()
    cert, key = serving_cert(tmp_path, address)
    gateway = start_gateway(testbed, "--host", address, "--tls-cert", str(cert), "--tls-key", str(key), wait=False)
    wait_ready(f"https://{address}:{gateway.port}", gateway.process, gateway.log)
    admin = Kubectl(Path(testbed.kubeconfig("admin")), None)
    if admin("get", "namespace", NAMESPACE).returncode != 0:
        admin.ok("create", "namespace", NAMESPACE)
    # The proxy resolves the Service through Endpoints and only to addresses of existing Pods,
    # so a Pod object stands for the gateway's pod (no kubelet runs it; its status carries the IP).
    pod = "flowgate-gateway-0"
    apply(
        admin,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": pod, "namespace": NAMESPACE},
            "spec": {"containers": [{"name": "gateway", "image": "flowgate"}]},
        },
    )
    admin.ok(
        "patch", "-n", NAMESPACE, "pod", pod, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"podIP": address, "podIPs": [{"ip": address}]}}),
    )  # fmt: skip
    meta = {"name": SERVICE, "namespace": NAMESPACE}
    apply(
        admin,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {"ports": [{"name": "https", "port": 8443, "targetPort": gateway.port, "protocol": "TCP"}]},
        },
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": meta,
            "subsets": [
                {
                    "addresses": [{"ip": address, "targetRef": {"kind": "Pod", "namespace": NAMESPACE, "name": pod}}],
                    "ports": [{"name": "https", "port": gateway.port, "protocol": "TCP"}],
                }
            ],
        },
    )
    try:
        yield gateway
    finally:
        for kind, name in (("service", SERVICE), ("endpoints", SERVICE), ("pod", pod)):
            admin("delete", "-n", NAMESPACE, kind, name, "--ignore-not-found", "--grace-period=0", "--force")


def test_default_route_is_the_api_servers_service_proxy(
    proxied_gateway: Any, testbed: Any, watch_processes: list[LineReader]
) -> None:
    admin = Kubectl(Path(testbed.kubeconfig("admin")), None)  # no FLOWGATE_GATEWAY: the default route
    started = admin("flows", "start", "netflow", "--node-port", "30001")
    assert started.returncode == 0, started.stderr
    assert sorted(row[0] for row in started.rows()) == testbed.node_names

    viewer = Kubectl(Path(testbed.kubeconfig("viewer")), None)
    status = viewer("flows", "status")
    assert status.returncode == 0, status.stderr
    assert {row[1] for row in status.rows()} == {"pending"}
    refused = viewer("flows", "stop")
    assert refused.returncode == 1 and 'User "viewer" may not update' in refused.stderr, refused.stderr

    # The subscription over a WebSocket through the same proxy.
    watch = viewer.popen("flows", "status", "--watch", "--node", "node-2")
    watch_processes.append(watch)
    assert watch.next_line(timeout=30).split() == ["NAME", "STATUS", "TYPE", "ENDPOINT"]
    assert watch.next_line(timeout=10).split() == ["node-2", "pending", "netflow"]
    flow_status(admin, "node-2", "Emitting", "NetFlow", "10.1.2.3:30001")
    assert watch.next_line(timeout=10).split() == ["node-2", "emitting", "netflow", "10.1.2.3:30001"]
    assert watch.interrupt() == 0


def test_service_proxy_refusals_and_a_missing_service(proxied_gateway: Any, testbed: Any) -> None:
    nobody = Kubectl(Path(testbed.kubeconfig("nobody")), None)
    result = nobody("flows", "status")
    assert result.returncode == 1
    # The API server's own sentence: it names the verb and the resource (services/proxy).
    assert "services/proxy" in result.stderr and "nobody" in result.stderr, result.stderr

    admin = Kubectl(Path(testbed.kubeconfig("admin")), None)
    missing = admin("flows", "status", "--service", "no-such-gateway")
    assert missing.returncode == 3, missing.stderr
    assert "services/https:no-such-gateway:8443/proxy/graphql" in missing.stderr
    assert "service proxy" in missing.stderr and "--gateway URL or FLOWGATE_GATEWAY" in missing.stderr
