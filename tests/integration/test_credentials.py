"""Every credential form kubectl knows reaches the testbed's real API server through
kubernetes_asyncio: a token, a token file, a client certificate from the testbed's CA, an exec
plugin, a merged two-file KUBECONFIG and the in-cluster service account. A long-running gateway
keeps working when its token file is rotated under it and the old token is revoked."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.kube.api import ApiError, KubeApi
from gateway.kube.config import ClusterAccess, load_in_cluster, load_kubeconfig
from gateway.kube.resources import FLOWS, NODES
from tests.fixtures.credentials import (
    client_certificate_kubeconfig,
    exec_plugin_kubeconfig,
    rotate_token,
    service_account_dir,
    token_file_kubeconfig,
    token_kubeconfig,
    write_kubeconfig,
)
from tests.fixtures.gateway import Gateway, free_port, launch

GATEWAY_SA = "system:serviceaccount:flowgate:flowgate-gateway"


async def identity(access: ClusterAccess) -> str:
    """Who the API server says this is, after one real read with it."""
    async with KubeApi(access) as api:
        await api.list(NODES)
        return str((await api.whoami())["username"])


async def test_token(testbed: Any, tmp_path: Path) -> None:
    access = await load_kubeconfig(token_kubeconfig(testbed, tmp_path / "config", testbed.token("viewer")))
    assert await identity(access) == "viewer"


async def test_token_file(testbed: Any, tmp_path: Path) -> None:
    access = await load_kubeconfig(token_file_kubeconfig(testbed, tmp_path / "config", testbed.token("viewer")))
    assert await identity(access) == "viewer"


async def test_client_certificate(testbed: Any, tmp_path: Path) -> None:
    path = client_certificate_kubeconfig(testbed, tmp_path / "config", "alice", ("system:masters",))
    access = await load_kubeconfig(path)
    assert access.bearer_token is None
    assert await identity(access) == "alice"


async def test_exec_plugin(testbed: Any, tmp_path: Path) -> None:
    path = exec_plugin_kubeconfig(testbed, tmp_path / "config", testbed.token("viewer"))
    access = await load_kubeconfig(path)
    assert await identity(access) == "viewer"
    assert (tmp_path / "config.runs").read_text().count("run") == 1  # credential kept, not re-run per call


async def test_exec_plugin_runs_again_once_its_credential_expires(testbed: Any, tmp_path: Path) -> None:
    path = exec_plugin_kubeconfig(testbed, tmp_path / "config", testbed.token("viewer"), expires="2020-01-01T00:00:00Z")
    access = await load_kubeconfig(path)
    async with KubeApi(access) as api:
        await api.list(NODES)
        await api.list(NODES)
    assert (tmp_path / "config.runs").read_text().count("run") >= 2


async def test_merged_two_file_kubeconfig(testbed: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = write_kubeconfig(testbed, tmp_path / "a", {"token": testbed.token("viewer")}, name="a", current=False)
    second = write_kubeconfig(testbed, tmp_path / "b", {"token": testbed.token("admin")}, name="b")
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(first), str(second)]))
    assert await identity(await load_kubeconfig()) == "admin"  # b's current-context
    assert await identity(await load_kubeconfig(context="a")) == "viewer"


async def test_in_cluster(testbed: Any, tmp_path: Path) -> None:
    token = await asyncio.to_thread(testbed.service_account_token, "flowgate-gateway")
    folder = service_account_dir(testbed, tmp_path / "serviceaccount", token)
    host, port = testbed.api_url.removeprefix("https://").rsplit(":", 1)
    access = load_in_cluster(folder, {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port})
    assert access.namespace == "flowgate"
    assert await identity(access) == GATEWAY_SA
    async with KubeApi(access) as api:
        await api.list(FLOWS)  # flowgate-gateway's role lets it read Flows …
        with pytest.raises(ApiError) as refused:
            await api.create(FLOWS, {"apiVersion": "flowgate.dev/v1alpha1", "kind": "Flow", "metadata": {"name": "x"}})
        assert refused.value.forbidden  # … and write none


async def test_in_cluster_token_rotated_and_old_one_revoked_in_process(testbed: Any, tmp_path: Path) -> None:
    old = await asyncio.to_thread(testbed.service_account_token, "flowgate-gateway", bound_secret="old-token")
    folder = service_account_dir(testbed, tmp_path / "serviceaccount", old)
    host, port = testbed.api_url.removeprefix("https://").rsplit(":", 1)
    access = load_in_cluster(folder, {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port})
    async with KubeApi(access) as api:
        await api.list(NODES)
        new = await asyncio.to_thread(testbed.service_account_token, "flowgate-gateway", bound_secret="new-token")
        rotate_token(folder, new)
        await asyncio.to_thread(testbed.kubectl, "delete", "secret", "old-token", "-n", "flowgate")
        await revoked(testbed, old)
        await api.list(NODES)  # the same client, now with the new token
        assert access.bearer_token == new


async def revoked(testbed: Any, token: str) -> None:
    """Until the API server refuses `token` (deleting its bound object revokes it)."""
    probe = token_kubeconfig(testbed, Path(testbed.dir) / "probe-kubeconfig", token)
    for _ in range(100):
        async with KubeApi(await load_kubeconfig(probe)) as api:
            try:
                await api.list(NODES)
            except ApiError as exc:
                if exc.unauthorized:
                    return
        await asyncio.sleep(0.1)
    raise AssertionError("the old token was never revoked")


def serve_with_token_file(testbed: Any, tmp_path: Path, token: str) -> tuple[Any, Path]:
    """The real `flowgate serve` whose own identity is a kubeconfig tokenFile."""
    path = token_file_kubeconfig(testbed, tmp_path / "gateway-kubeconfig", token)
    return launch(testbed, tmp_path, kubeconfig=path), path.parent / f"{path.name}.token"


async def test_gateway_follows_its_rotated_token_file(testbed: Any, tmp_path: Path) -> None:
    """The gateway reviews each new caller's token as itself: once its old token is revoked, a
    new caller is served only if it reads the rotated file."""
    testbed.reset()
    old = await asyncio.to_thread(testbed.service_account_token, "flowgate-gateway", bound_secret="gw-old")
    gateway, token_file = serve_with_token_file(testbed, tmp_path, old)
    try:
        await asyncio.to_thread(gateway.wait_ready)
        assert (await gateway.query("{ flows { supported } }", user="viewer"))["flows"]["supported"]
        new = await asyncio.to_thread(testbed.service_account_token, "flowgate-gateway", bound_secret="gw-new")
        fresh = token_file.parent / "fresh"
        fresh.write_text(new)
        fresh.rename(token_file)
        await asyncio.to_thread(testbed.kubectl, "delete", "secret", "gw-old", "-n", "flowgate")
        await revoked(testbed, old)
        # A caller the gateway has not reviewed yet (the admin): a review as the gateway itself.
        assert (await gateway.query("{ flows { supported } }", user="admin"))["flows"]["supported"]
    finally:
        gateway.stop()


def in_a_private_mount(testbed: Any, script: str, env: dict[str, str], port: int, log: Path) -> Gateway:
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script], stdout=out, stderr=out, env=env
        )
    return Gateway(testbed, process, port, log, [])


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare for a private mount"
)
async def test_gateway_in_cluster_follows_the_kubelets_token_rotation(testbed: Any, tmp_path: Path) -> None:
    """`flowgate serve` with no kubeconfig at all, as in a pod: the service account files at the
    real path (a private mount namespace), the two env vars pointing at the testbed."""
    testbed.reset()
    old = await asyncio.to_thread(testbed.service_account_token, "flowgate-gateway", bound_secret="pod-old")
    folder = service_account_dir(testbed, tmp_path / "serviceaccount", old)
    host, api_port = testbed.api_url.removeprefix("https://").rsplit(":", 1)
    port = free_port()
    mount = "/var/run/secrets/kubernetes.io/serviceaccount"
    script = (
        f"mount -t tmpfs tmpfs /var/run/secrets 2>/dev/null || mount -t tmpfs tmpfs /run/secrets; mkdir -p {mount} && "
        f"mount --bind {folder} {mount} && exec {sys.executable} -m gateway.main serve --port {port}"
    )
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env.update(KUBERNETES_SERVICE_HOST=host, KUBERNETES_SERVICE_PORT=api_port, HOME=str(tmp_path))
    gateway = in_a_private_mount(testbed, script, env, port, tmp_path / "in-cluster-gateway.log")
    try:
        await asyncio.to_thread(gateway.wait_ready)
        assert (await gateway.query("{ flows { supported } }", user="viewer"))["flows"]["supported"]
        new = await asyncio.to_thread(testbed.service_account_token, "flowgate-gateway", bound_secret="pod-new")
        rotate_token(folder, new)
        await asyncio.to_thread(testbed.kubectl, "delete", "secret", "pod-old", "-n", "flowgate")
        await revoked(testbed, old)
        assert (await gateway.query("{ flows { supported } }", user="admin"))["flows"]["supported"]
    finally:
        gateway.stop()
