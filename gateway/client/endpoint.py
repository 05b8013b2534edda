"""Where a gateway is and how to present the caller's identity to it."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

GRAPHQL_PATH = "/graphql"
# A header of flowgate's own, read by the gateway like Authorization: some proxies in front of a
# gateway (kube-apiserver's service proxy) strip Authorization.
TOKEN_HEADER = "X-Flowgate-Authorization"


class EndpointError(Exception):
    """The gateway's address or TLS settings cannot be used; the message says which and why."""


@dataclass(frozen=True)
class GatewayEndpoint:
    """Everything a GraphQL client needs to talk to one gateway as one user."""

    url: str  # http(s)://…/graphql
    token: str | None = None
    ssl_context: ssl.SSLContext | None = None  # None: plain http, or the system's trust store
    via: str = "--gateway"  # how the address was chosen, for "where we looked" messages

    @property
    def ws_url(self) -> str:
        parts = urlsplit(self.url)
        scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
        return urlunsplit(parts._replace(scheme=scheme))

    def http_headers(self) -> dict[str, str]:
        headers = {"User-Agent": "flowgate-client"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
            headers[TOKEN_HEADER] = f"Bearer {self.token}"
        return headers

    def init_payload(self) -> dict[str, str]:
        """The WebSocket connection_init payload: proxies may strip the upgrade's headers."""
        return {"authorization": f"Bearer {self.token}"} if self.token else {}

    def describe(self) -> str:
        return f"{self.url} (from {self.via})"


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
        raise EndpointError(f"gateway URL {url!r} is not an http(s) URL; use e.g. https://flowgate.example:8443.")
    path = parts.path.rstrip("/")
    if not path.endswith(GRAPHQL_PATH):
        path = f"{path}{GRAPHQL_PATH}"
    return urlunsplit(parts._replace(path=path, query="", fragment=""))


def gateway_ssl(ca_file: str | None = None, insecure: bool = False) -> ssl.SSLContext:
    if insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise EndpointError(f"the CA bundle {ca_file} cannot be used: {exc}") from None


def endpoint(
    url: str, token: str | None = None, *, ca_file: str | None = None, insecure: bool = False, via: str = "--gateway"
) -> GatewayEndpoint:
    """A gateway endpoint from what a user types."""
    full = normalize_gateway_url(url)
    secure = full.startswith("https:")
    return GatewayEndpoint(
        url=full, token=token, ssl_context=gateway_ssl(ca_file, insecure) if secure else None, via=via
    )
