"""Reading a kubeconfig as kubectl does, through kubernetes_asyncio (merged KUBECONFIG lists,
contexts, tokens, token files read beside the kubeconfig, client certificates, exec plugins), the
in-cluster service account, and a sentence for what is wrong with either. No API server is
needed: what is checked is the identity each form yields. (The integration tier uses every form
against the testbed's real API server.)"""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.kube.config import KubeConfigError, load_access, load_in_cluster, load_kubeconfig

SERVER = "https://127.0.0.1:6443"


def kubeconfig(
    path: Path,
    user: dict[str, Any],
    cluster: dict[str, Any] | None = None,
    *,
    name: str = "c",
    current: str | None = "c",
) -> Path:
    doc: dict[str, Any] = {
        "contexts": [{"name": name, "context": {"cluster": f"k-{name}", "user": f"u-{name}", "namespace": "ops"}}],
        "clusters": [{"name": f"k-{name}", "cluster": {"server": SERVER, **(cluster or {})}}],
        "users": [{"name": f"u-{name}", "user": user}],
    }
    if current:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))
    return path


async def test_token_user(tmp_path: Path) -> None:
    access = await load_kubeconfig(kubeconfig(tmp_path / "config", {"token": "t0k"}))
    assert access.bearer_token == "t0k" and access.server == SERVER
    assert access.namespace == "ops" and access.context == "c"
    assert f"kubeconfig {tmp_path / 'config'} (context c)" == access.source


async def test_relative_token_file_is_read_beside_the_kubeconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text("secret\n")
    path = kubeconfig(tmp_path / "config", {"tokenFile": "token"})
    monkeypatch.chdir("/")
    access = await load_kubeconfig(path)
    assert access.bearer_token == "secret"
    (tmp_path / "token").write_text("rotated")
    await access.configuration.get_api_key_with_prefix("BearerToken")  # what every request does
    assert access.bearer_token == "rotated"


async def test_client_certificate_user_has_no_bearer_token(tmp_path: Path) -> None:
    user = {
        "client-certificate-data": base64.b64encode(b"CERT").decode(),
        "client-key-data": base64.b64encode(b"KEY").decode(),
    }
    access = await load_kubeconfig(kubeconfig(tmp_path / "config", user))
    assert access.bearer_token is None and access.has_credentials
    files = (Path(access.configuration.cert_file), Path(access.configuration.key_file))
    assert [f.read_bytes() for f in files] == [b"CERT", b"KEY"]


async def test_exec_plugin_runs_and_its_token_is_used(tmp_path: Path) -> None:
    plugin = tmp_path / "credential-plugin"
    plugin.write_text(
        f"#!{sys.executable}\n"
        "import json, os\n"
        "assert json.loads(os.environ['KUBERNETES_EXEC_INFO'])['kind'] == 'ExecCredential'\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', 'kind': 'ExecCredential',\n"
        "                  'status': {'token': 'from-plugin'}}))\n"
    )
    plugin.chmod(0o755)
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": str(plugin),
            "interactiveMode": "Never",
            "provideClusterInfo": True,
        }
    }
    access = await load_kubeconfig(kubeconfig(tmp_path / "config", user))
    assert access.bearer_token == "from-plugin"


async def test_merged_kubeconfig_list_takes_the_first_current_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = kubeconfig(tmp_path / "a", {"token": "token-a"}, name="a", current="b")
    second = kubeconfig(tmp_path / "b", {"token": "token-b"}, name="b", current=None)
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(first), str(tmp_path / "absent"), str(second)]))
    access = await load_kubeconfig()
    assert access.bearer_token == "token-b" and access.context == "b"
    other = await load_kubeconfig(context="a")
    assert other.bearer_token == "token-a"
    assert "KUBECONFIG" in access.source


async def test_kubeconfig_is_found_as_kubectl_finds_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    (tmp_path / ".kube").mkdir()
    kubeconfig(tmp_path / ".kube" / "config", {"token": "home"})
    assert (await load_access()).bearer_token == "home"


@pytest.mark.parametrize(
    ("user", "cluster", "named"),
    [
        ({"tokenFile": "missing-token"}, None, "missing-token"),
        ({"client-certificate": "missing.crt", "client-key": "missing.key"}, None, "missing.crt"),
        ({}, {"certificate-authority": "missing-ca.crt"}, "missing-ca.crt"),
        (
            {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "no-such-plugin"}},
            None,
            "no-such-plugin",
        ),
    ],
)
async def test_unusable_credentials_are_a_sentence(
    tmp_path: Path, user: dict[str, Any], cluster: dict[str, Any] | None, named: str
) -> None:
    path = kubeconfig(tmp_path / "config", user, cluster)
    with pytest.raises(KubeConfigError, match=named) as err:
        await load_kubeconfig(path)
    assert str(err.value).startswith(f"kubeconfig {path}") or str(err.value).startswith("the token file")


@pytest.mark.parametrize(
    ("doc", "sentence"),
    [
        ("- just a list", "is not a kubeconfig"),
        ("a: [unclosed", "is not valid YAML"),
        ("clusters: []\ncontexts: []\nusers: []\n", "has no current-context; pass --context"),
    ],
)
async def test_broken_kubeconfigs_are_a_sentence(tmp_path: Path, doc: str, sentence: str) -> None:
    path = tmp_path / "config"
    path.write_text(doc)
    with pytest.raises(KubeConfigError, match=sentence):
        await load_kubeconfig(path)


async def test_unknown_context_and_missing_file(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "config", {"token": "x"})
    with pytest.raises(KubeConfigError, match="has no context named 'other'"):
        await load_kubeconfig(path, context="other")
    with pytest.raises(KubeConfigError, match="does not exist; pass --kubeconfig or set KUBECONFIG"):
        await load_kubeconfig(tmp_path / "absent")


def service_account(tmp_path: Path, token: str = "sa-token") -> Path:
    folder = tmp_path / "serviceaccount"
    folder.mkdir()
    (folder / "token").write_text(token)
    (folder / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n...\n")
    (folder / "namespace").write_text("flowgate\n")
    return folder


async def test_in_cluster_reads_the_service_account_and_follows_token_rotation(tmp_path: Path) -> None:
    folder = service_account(tmp_path)
    access = load_in_cluster(folder, {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"})
    assert access.server == "https://10.0.0.1:443" and access.namespace == "flowgate"
    assert access.bearer_token == "sa-token" and access.configuration.ssl_ca_cert == str(folder / "ca.crt")
    replacement = folder / "token.new"
    replacement.write_text("rotated-token")
    replacement.rename(folder / "token")
    await access.configuration.get_api_key_with_prefix("BearerToken")
    assert access.bearer_token == "rotated-token"
    ipv6 = load_in_cluster(folder, {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"})
    assert ipv6.server == "https://[fd00::1]:443"


def test_in_cluster_without_the_environment_is_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="not running in a cluster"):
        load_in_cluster(service_account(tmp_path), {})


def test_caller_identity_drops_the_clients_certificate(tmp_path: Path) -> None:
    folder = service_account(tmp_path)
    access = load_in_cluster(folder, {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"})
    caller = access.as_bearer("alice-token")
    assert caller.bearer_token == "alice-token" and caller.configuration.refresh_api_key_hook is None
    assert caller.configuration.ssl_ca_cert == access.configuration.ssl_ca_cert
    assert access.bearer_token == "sa-token"  # the gateway's own identity is untouched
