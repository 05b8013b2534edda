"""Where the API server is and who we are to it: kubeconfig files (as kubectl reads them) and
in-cluster service-account credentials."""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeConfigError(Exception):
    """The kubeconfig cannot be used; the message says which file and what is wrong."""


@dataclass(frozen=True)
class ClusterCredentials:
    server: str
    token: str | None = None
    ca_data: bytes | None = None
    client_cert_data: bytes | None = None
    client_key_data: bytes | None = None
    insecure: bool = False
    namespace: str = "default"
    context: str | None = None
    source: str = "in-cluster"

    def with_token(self, token: str) -> ClusterCredentials:
        """The same cluster, as another user (the caller of a gateway request)."""
        return replace(self, token=token, client_cert_data=None, client_key_data=None)

    def ssl_context(self) -> ssl.SSLContext:
        if self.insecure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_data:
            ctx = ssl.create_default_context(cadata=self.ca_data.decode())
        else:
            ctx = ssl.create_default_context()
        if self.client_cert_data and self.client_key_data:
            # ssl only loads key pairs from files; keep them private and short-lived.
            with tempfile.TemporaryDirectory() as tmp:
                cert, key = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
                cert.write_bytes(self.client_cert_data)
                key.write_bytes(self.client_key_data)
                key.chmod(0o600)
                ctx.load_cert_chain(cert, key)
        return ctx


def _data(entry: dict[str, Any], key: str, base: Path, source: str) -> bytes | None:
    """`<key>-data` (base64) or the file `<key>` names, relative to the kubeconfig as kubectl reads it."""
    if entry.get(f"{key}-data"):
        try:
            return base64.b64decode(entry[f"{key}-data"])
        except ValueError:
            raise KubeConfigError(f"kubeconfig {source}: {key}-data is not valid base64.") from None
    if entry.get(key):
        return _read(base / entry[key], key, source)
    return None


def _read(path: Path, what: str, source: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KubeConfigError(f"kubeconfig {source}: {what} {path} cannot be read: {exc.strerror}.") from None


def _named(items: list[dict[str, Any]] | None, name: str, what: str, source: str) -> dict[str, Any]:
    for item in items or []:
        if item.get("name") == name:
            return dict(item.get(what) or {})
    raise KubeConfigError(f"{source} has no {what} named {name!r}.")


def load_kubeconfig(path: str | os.PathLike[str] | None = None, context: str | None = None) -> ClusterCredentials:
    """Read a kubeconfig as kubectl does: --kubeconfig, else $KUBECONFIG (first file), else
    ~/.kube/config; --context, else current-context."""
    if path is None:
        env = os.environ.get("KUBECONFIG")
        path = env.split(os.pathsep)[0] if env else Path.home() / ".kube" / "config"
    source = str(path)
    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise KubeConfigError(f"kubeconfig {source} does not exist; pass --kubeconfig or set KUBECONFIG.") from None
    except (OSError, yaml.YAMLError) as exc:
        raise KubeConfigError(f"kubeconfig {source} cannot be read: {exc}") from None
    context_name = context or doc.get("current-context")
    if not context_name:
        raise KubeConfigError(f"kubeconfig {source} has no current-context; pass --context.")
    ctx = _named(doc.get("contexts"), context_name, "context", source)
    cluster = _named(doc.get("clusters"), ctx.get("cluster", ""), "cluster", source)
    user = _named(doc.get("users"), ctx.get("user", ""), "user", source) if ctx.get("user") else {}
    base = Path(path).resolve().parent
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = _read(base / user["tokenFile"], "tokenFile", source).decode().strip()
    if not cluster.get("server"):
        raise KubeConfigError(f"kubeconfig {source}: cluster {ctx.get('cluster')!r} has no server.")
    return ClusterCredentials(
        server=str(cluster["server"]).rstrip("/"),
        token=token,
        ca_data=_data(cluster, "certificate-authority", base, source),
        client_cert_data=_data(user, "client-certificate", base, source),
        client_key_data=_data(user, "client-key", base, source),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        namespace=ctx.get("namespace") or "default",
        context=context_name,
        source=source,
    )


def in_cluster() -> ClusterCredentials:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port or not (SERVICE_ACCOUNT_DIR / "token").exists():
        raise KubeConfigError("not running in a cluster and no kubeconfig given; pass --kubeconfig.")
    host = f"[{host}]" if ":" in host else host
    return ClusterCredentials(
        server=f"https://{host}:{port}",
        token=(SERVICE_ACCOUNT_DIR / "token").read_text().strip(),
        ca_data=(SERVICE_ACCOUNT_DIR / "ca.crt").read_bytes(),
        namespace=(SERVICE_ACCOUNT_DIR / "namespace").read_text().strip(),
    )


def load_credentials(kubeconfig: str | None = None, context: str | None = None) -> ClusterCredentials:
    """--kubeconfig / $KUBECONFIG / ~/.kube/config, falling back to in-cluster credentials."""
    if kubeconfig or os.environ.get("KUBECONFIG") or (Path.home() / ".kube" / "config").exists():
        return load_kubeconfig(kubeconfig, context)
    return in_cluster()
