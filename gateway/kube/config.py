"""How flowgate reaches a cluster, through kubernetes_asyncio: a kubeconfig as kubectl reads it
(merged `KUBECONFIG=a:b` lists, contexts, tokens, token files, client certificates, exec plugins,
auth-provider refresh) or the pod's in-cluster service account.

Long-running processes keep their identity fresh without restarting: a token file (the in-cluster
projected token the kubelet rotates, or a kubeconfig `tokenFile`) is read again as soon as it
changes on disk, and an exec plugin runs again when the credential it printed expires."""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubernetes_asyncio.client import Configuration

if TYPE_CHECKING:
    # Imported where a kubeconfig is read: a pod using its service account (the node agent's
    # DaemonSet) never loads the kubeconfig loader or YAML.
    from kubernetes_asyncio.config.kube_config import KubeConfigLoader, KubeConfigMerger

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
HOST_ENV = "KUBERNETES_SERVICE_HOST"
PORT_ENV = "KUBERNETES_SERVICE_PORT"
# How often an OIDC/GCP auth-provider token is checked for expiry (the loader refreshes it then).
AUTH_PROVIDER_CHECK_SECONDS = 10.0


class KubeConfigError(Exception):
    """The cluster cannot be reached with what was given; the message says which file and why."""


@dataclass(frozen=True)
class ClusterAccess:
    """One cluster as one identity: a kubernetes_asyncio Configuration plus what flowgate tells
    users about where it came from."""

    configuration: Configuration
    source: str  # "kubeconfig /path (context ctx)" or "in-cluster service account"
    namespace: str = "default"
    context: str | None = None

    @property
    def server(self) -> str:
        return str(self.configuration.host)

    @property
    def has_credentials(self) -> bool:
        return bool(self.configuration.api_key.get("BearerToken") or self.configuration.cert_file)

    @property
    def bearer_token(self) -> str | None:
        """The current bearer token, if this identity is one (not a client certificate)."""
        value = self.configuration.api_key.get("BearerToken")
        if not value:
            return None
        text = str(value)
        return text[7:] if text.lower().startswith("bearer ") else text

    def as_bearer(self, token: str) -> ClusterAccess:
        """The same cluster and TLS trust, acting as the holder of `token` (a gateway caller)."""
        configuration = copy.copy(self.configuration)
        configuration.api_key = {"BearerToken": f"Bearer {token}"}
        configuration.api_key_prefix = {}
        configuration.cert_file = None
        configuration.key_file = None
        configuration.refresh_api_key_hook = None
        return replace(self, configuration=configuration, source=f"a caller's token on {self.server}")


class _TokenFile:
    """A bearer token read from a file and read again whenever the file changes (the kubelet
    rotates projected service-account tokens by swapping the file in place)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self.token = self._read()

    def _read(self) -> str:
        try:
            info = self.path.stat()
            token = self.path.read_text().strip()
        except OSError as exc:
            raise KubeConfigError(f"the token file {self.path} cannot be read: {exc.strerror}.") from None
        if not token:
            raise KubeConfigError(f"the token file {self.path} is empty.")
        self._seen = (info.st_ino, info.st_mtime_ns, info.st_size)
        return token

    def current(self) -> str:
        try:
            info = self.path.stat()
        except OSError:
            return self.token  # mid-rotation: keep the last good token
        if (info.st_ino, info.st_mtime_ns, info.st_size) != self._seen:
            try:
                self.token = self._read()
            except KubeConfigError:
                pass
        return self.token


def _token_file_hook(token_file: _TokenFile) -> Callable[[Configuration], None]:
    def refresh(configuration: Configuration) -> None:
        configuration.api_key["BearerToken"] = f"Bearer {token_file.current()}"

    return refresh


def _loader_hook(loader: KubeConfigLoader, user: Mapping[str, Any]) -> Callable[[Configuration], Awaitable[None]]:
    """Keep an exec-plugin or auth-provider credential fresh: the plugin runs again only once the
    credential it printed has expired (kubectl keeps one without an expiry for the whole run)."""
    next_check = 0.0

    async def refresh(configuration: Configuration) -> None:
        nonlocal next_check
        if "exec" in user:
            expiry = getattr(loader, "exec_plugin_expiry", None)
            if expiry is None:
                return
            await loader.load_from_exec_plugin()  # a no-op until the credential expires
        else:
            now = time.monotonic()
            if now < next_check:
                return
            next_check = now + AUTH_PROVIDER_CHECK_SECONDS
            await loader._load_authentication()
        if getattr(loader, "token", None):
            configuration.api_key["BearerToken"] = loader.token

    return refresh


def kubeconfig_paths(path: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> list[Path]:
    """--kubeconfig, else every file of $KUBECONFIG (merged as kubectl merges them), else
    ~/.kube/config."""
    if path:
        return [Path(path)]
    listed = [Path(p).expanduser() for p in environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return listed or [Path.home() / ".kube" / "config"]


def _describe(paths: list[Path]) -> str:
    return str(paths[0]) if len(paths) == 1 else "KUBECONFIG " + os.pathsep.join(map(str, paths))


def _merged(paths: list[Path]) -> KubeConfigMerger:
    import yaml
    from kubernetes_asyncio.config.kube_config import KubeConfigMerger

    existing = [p for p in paths if p.exists()]
    if not existing:
        where = f"kubeconfig {paths[0]} does not exist" if len(paths) == 1 else f"none of {_describe(paths)} exists"
        raise KubeConfigError(f"{where}; pass --kubeconfig or set KUBECONFIG.")
    for path in existing:
        try:
            doc = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise KubeConfigError(f"kubeconfig {path} cannot be read: {exc.strerror}.") from None
        except yaml.YAMLError as exc:
            raise KubeConfigError(f"kubeconfig {path} is not valid YAML: {exc}") from None
        if doc is not None and not isinstance(doc, dict):
            raise KubeConfigError(f"kubeconfig {path} is not a kubeconfig (a YAML mapping is expected).")
    return KubeConfigMerger(os.pathsep.join(str(p) for p in existing))


def _entry(items: Any, name: str) -> dict[str, Any] | None:
    for item in items or []:
        value = getattr(item, "value", item)
        if isinstance(value, Mapping) and value.get("name") == name:
            return dict(value)
    return None


async def load_kubeconfig(
    path: str | os.PathLike[str] | None = None,
    context: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ClusterAccess:
    """A kubeconfig as kubectl reads it. $KUBECONFIG is read at call time (kubernetes_asyncio
    reads it once, at import)."""
    env = os.environ if environ is None else environ
    paths = kubeconfig_paths(path, env)
    source = _describe(paths)
    merger = _merged(paths)
    merged = merger.config.value if merger.config is not None else {}
    context_name = context or merged.get("current-context")
    if not context_name:
        raise KubeConfigError(f"kubeconfig {source} has no current-context; pass --context.")
    ctx = _entry(merged.get("contexts"), context_name)
    if ctx is None:
        raise KubeConfigError(f"kubeconfig {source} has no context named {context_name!r}.")
    ctx_body = dict(ctx.get("context") or {})
    cluster = _entry(merged.get("clusters"), str(ctx_body.get("cluster", "")))
    if cluster is None:
        raise KubeConfigError(f"kubeconfig {source}: context {context_name!r} names no known cluster.")
    if not (cluster.get("cluster") or {}).get("server"):
        raise KubeConfigError(f"kubeconfig {source}: cluster {ctx_body.get('cluster')!r} has no server.")
    user = dict((_entry(merged.get("users"), str(ctx_body.get("user", ""))) or {}).get("user") or {})
    configuration = Configuration()
    from kubernetes_asyncio.config.config_exception import ConfigException
    from kubernetes_asyncio.config.kube_config import KubeConfigLoader

    loader = KubeConfigLoader(config_dict=merger.config, config_base_path=None, active_context=context_name)
    try:
        await loader.load_and_set(configuration)
    except KubeConfigError:
        raise
    except (ConfigException, OSError, ValueError, KeyError, TypeError, AssertionError) as exc:
        why = str(exc).strip() or type(exc).__name__
        raise KubeConfigError(f"kubeconfig {source} (context {context_name}) cannot be used: {why}") from None
    if user.get("tokenFile") and not user.get("token"):
        # Read beside the kubeconfig that names it (as kubectl does) and again whenever it changes.
        base = Path(str(getattr(loader._user, "path", "") or paths[0])).parent
        token_file = _TokenFile(base / str(user["tokenFile"]))
        configuration.api_key["BearerToken"] = f"Bearer {token_file.token}"
        configuration.refresh_api_key_hook = _token_file_hook(token_file)
    elif "exec" in user or "auth-provider" in user:
        configuration.refresh_api_key_hook = _loader_hook(loader, user)
    token = configuration.api_key.get("BearerToken")
    if token:
        configuration.api_key["BearerToken"] = str(token).strip()
    return ClusterAccess(
        configuration,
        source=f"kubeconfig {source} (context {context_name})",
        namespace=str(ctx_body.get("namespace") or "default"),
        context=context_name,
    )


def load_in_cluster(
    directory: str | os.PathLike[str] = SERVICE_ACCOUNT_DIR, environ: Mapping[str, str] | None = None
) -> ClusterAccess:
    """The pod's service account: the API server from the two env vars, its CA and namespace
    from `directory`, the token from there too, read again whenever the kubelet rotates it."""
    env = os.environ if environ is None else environ
    host, port = env.get(HOST_ENV), env.get(PORT_ENV)
    folder = Path(directory)
    if not host or not port:
        raise KubeConfigError(
            f"not running in a cluster ({HOST_ENV}/{PORT_ENV} are not set) and no kubeconfig was found; "
            "pass --kubeconfig or set KUBECONFIG."
        )
    token_file = _TokenFile(folder / "token")
    ca = folder / "ca.crt"
    if not ca.is_file() or not ca.read_bytes().strip():
        raise KubeConfigError(f"the service account's CA certificate {ca} is missing or empty.")
    configuration = Configuration()
    configuration.host = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    configuration.ssl_ca_cert = str(ca)
    configuration.api_key = {"BearerToken": f"Bearer {token_file.token}"}
    configuration.refresh_api_key_hook = _token_file_hook(token_file)
    namespace_file = folder / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.is_file() else "default"
    return ClusterAccess(configuration, source="in-cluster service account", namespace=namespace or "default")


async def load_access(
    kubeconfig: str | None = None, context: str | None = None, environ: Mapping[str, str] | None = None
) -> ClusterAccess:
    """As kubectl: --kubeconfig, $KUBECONFIG, ~/.kube/config; with none of them, in-cluster."""
    env = os.environ if environ is None else environ
    if kubeconfig or env.get("KUBECONFIG") or (Path.home() / ".kube" / "config").exists():
        return await load_kubeconfig(kubeconfig, context, env)
    if context:
        raise KubeConfigError(f"--context {context} needs a kubeconfig, and none was found.")
    return load_in_cluster(environ=env)
