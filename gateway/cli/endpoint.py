"""Where the gateway is and how to present the user's identity to it.

By default the gateway is reached through the Kubernetes API server's service proxy with the
current kubeconfig context, so nothing else needs configuring and RBAC applies to the proxy hop
too. The API server strips `Authorization` before proxying (kubernetes#38775), so the user's token
also travels in a header of its own on HTTP and in the `connection_init` payload on WebSockets;
the gateway verifies it with the API server either way."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field, replace
from urllib.parse import quote, urlsplit, urlunsplit

from gateway.kube.config import ClusterCredentials, KubeConfigError, load_kubeconfig

GATEWAY_ENV = "FLOWGATE_GATEWAY"
DEFAULT_NAMESPACE = "flowgate"
DEFAULT_SERVICE = "flowgate-gateway"
DEFAULT_SERVICE_PORT = 8443
GRAPHQL_PATH = "/graphql"
# A header of our own survives the service proxy; the gateway reads it like Authorization.
TOKEN_HEADER = "X-Flowgate-Authorization"


class EndpointError(Exception):
    """The gateway's address or the caller's credentials cannot be worked out locally."""


@dataclass(frozen=True)
class GatewayEndpoint:
    """Everything a GraphQL client needs to talk to one gateway as one user. Any client (this
    CLI, a console-plugin test, a script) builds one of these and hands it to FlowgateClient."""

    url: str  # http(s)://…/graphql
    token: str | None = None
    ssl_context: ssl.SSLContext | None = None  # None: plain http, or the system's trust store
    via: str = "--gateway"  # how the address was chosen, for "where we looked" messages
    # Credentials for the hop before the gateway (the API server's proxy), if any.
    proxy_token: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def ws_url(self) -> str:
        parts = urlsplit(self.url)
        scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
        return urlunsplit(parts._replace(scheme=scheme))

    @property
    def through_service_proxy(self) -> bool:
        return self.via == "service-proxy"

    def http_headers(self) -> dict[str, str]:
        headers = {"User-Agent": "kubectl-flows", **self.extra_headers}
        bearer = self.proxy_token or self.token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        if self.token:
            headers[TOKEN_HEADER] = f"Bearer {self.token}"
        return headers

    def ws_headers(self) -> dict[str, str]:
        # The handshake is an HTTP request the API server authenticates like any other.
        return self.http_headers()

    def init_payload(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"} if self.token else {}

    def describe(self) -> str:
        if self.through_service_proxy:
            return f"{self.url} (the API server's service proxy)"
        return self.url


def service_proxy_url(
    server: str, namespace: str = DEFAULT_NAMESPACE, service: str = DEFAULT_SERVICE, port: int = DEFAULT_SERVICE_PORT
) -> str:
    """The gateway's /graphql behind kube-apiserver's service proxy (`https:` because the
    gateway serves TLS; the API server then connects to it with TLS)."""
    base = server.rstrip("/")
    name = quote(f"https:{service}:{port}", safe=":")
    return f"{base}/api/v1/namespaces/{quote(namespace, safe='')}/services/{name}/proxy{GRAPHQL_PATH}"


def normalize_gateway_url(url: str) -> str:
    """Accept `host:port`, `https://host:port` or a full …/graphql URL (the console's plugin
    proxy path included) and return the /graphql URL over http(s)."""
    text = url.strip()
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    if parts.scheme in ("ws", "wss"):
        parts = parts._replace(scheme={"ws": "http", "wss": "https"}[parts.scheme])
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EndpointError(f"--gateway {url!r} is not an http(s) URL; use e.g. https://flowgate.example:8443.")
    path = parts.path.rstrip("/")
    if not path.endswith(GRAPHQL_PATH):
        path = f"{path}{GRAPHQL_PATH}"
    return urlunsplit(parts._replace(path=path, query="", fragment=""))


def parse_service(text: str) -> tuple[str, int]:
    """`NAME` or `NAME:PORT` for --service."""
    name, sep, port = text.partition(":")
    if not name or (sep and not (port.isdigit() and 1 <= int(port) <= 65535)):
        raise EndpointError(f"--service {text!r} must be NAME or NAME:PORT.")
    return name, int(port) if sep else DEFAULT_SERVICE_PORT


def _gateway_ssl(ca_file: str | None, insecure: bool) -> ssl.SSLContext:
    if insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise EndpointError(f"--certificate-authority {ca_file}: {exc}") from None


@dataclass(frozen=True)
class ConnectionOptions:
    """The connection flags, as the user gave them (None = not given)."""

    gateway: str | None = None
    token: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    service: str | None = None
    certificate_authority: str | None = None
    insecure_skip_tls_verify: bool = False


def resolve_endpoint(options: ConnectionOptions, environ: dict[str, str] | None = None) -> GatewayEndpoint:
    """--gateway / $FLOWGATE_GATEWAY win; otherwise the API server's service proxy of the
    kubeconfig's cluster. The token is --token, else the kubeconfig user's."""
    env = os.environ if environ is None else environ
    gateway = options.gateway or env.get(GATEWAY_ENV) or None
    if gateway:
        url = normalize_gateway_url(gateway)
        token = options.token
        if token is None:
            token = _kubeconfig_token(options)
        secure = url.startswith("https:")
        return GatewayEndpoint(
            url=url,
            token=token,
            ssl_context=_gateway_ssl(options.certificate_authority, options.insecure_skip_tls_verify)
            if secure
            else None,
            via="--gateway" if options.gateway else GATEWAY_ENV,
        )
    try:
        creds = load_kubeconfig(options.kubeconfig, options.context)
    except KubeConfigError as exc:
        raise EndpointError(
            f"{str(exc).rstrip('.')}; or point at the gateway with --gateway URL or {GATEWAY_ENV}=URL."
        ) from None
    namespace = options.namespace or DEFAULT_NAMESPACE
    service, port = parse_service(options.service or DEFAULT_SERVICE)
    token = options.token or creds.token
    if options.insecure_skip_tls_verify or options.certificate_authority:
        creds = _override_tls(creds, options)
    return GatewayEndpoint(
        url=service_proxy_url(creds.server, namespace, service, port),
        token=token,
        ssl_context=creds.ssl_context() if creds.server.startswith("https:") else None,
        via="service-proxy",
        # The kubeconfig identity authenticates the proxy hop; --token (if given) is who acts.
        proxy_token=creds.token or token,
    )


def _override_tls(creds: ClusterCredentials, options: ConnectionOptions) -> ClusterCredentials:
    if options.insecure_skip_tls_verify:
        return replace(creds, insecure=True)
    assert options.certificate_authority is not None
    try:
        with open(options.certificate_authority, "rb") as handle:
            return replace(creds, ca_data=handle.read())
    except OSError as exc:
        raise EndpointError(f"--certificate-authority {options.certificate_authority}: {exc}") from None


def _kubeconfig_token(options: ConnectionOptions) -> str | None:
    """With --gateway the kubeconfig only lends its user's token; a missing default kubeconfig
    is fine (a gateway run with --auth none needs none), an explicitly named one must load."""
    explicit = bool(options.kubeconfig or options.context)
    try:
        return load_kubeconfig(options.kubeconfig, options.context).token
    except (KubeConfigError, OSError) as exc:
        if explicit:
            raise EndpointError(str(exc)) from None
        return None
