"""Reading a kubeconfig as kubectl does, and saying in a sentence what is wrong with one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.kube.config import KubeConfigError, load_kubeconfig


def kubeconfig(tmp_path: Path, user: dict[str, Any], cluster: dict[str, Any] | None = None) -> Path:
    doc = {
        "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443", **(cluster or {})}}],
        "users": [{"name": "u", "user": user}],
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_relative_token_file_is_read_beside_the_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("secret\n")
    path = kubeconfig(tmp_path, {"tokenFile": "token"})
    monkeypatch.chdir("/")
    assert load_kubeconfig(path).token == "secret"


@pytest.mark.parametrize(
    ("user", "cluster", "named"),
    [
        ({"tokenFile": "missing-token"}, None, "tokenFile"),
        ({"client-certificate": "missing.crt", "client-key": "missing.key"}, None, "client-certificate"),
        ({}, {"certificate-authority": "missing-ca.crt"}, "certificate-authority"),
        ({}, {"certificate-authority-data": "not base64!"}, "certificate-authority-data"),
    ],
)
def test_unreadable_credentials_are_a_sentence(
    tmp_path: Path, user: dict[str, Any], cluster: dict[str, Any] | None, named: str
) -> None:
    path = kubeconfig(tmp_path, user, cluster)
    with pytest.raises(KubeConfigError, match=named) as err:
        load_kubeconfig(path)
    assert str(err.value).startswith(f"kubeconfig {path}")
