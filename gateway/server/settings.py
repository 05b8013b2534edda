"""Everything `flowgate serve` can be told, each field documented once (the flags come from here)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from gateway.settings import SettingsError, duration, setting

LOG_LEVELS = ("debug", "info", "warning", "error")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class GatewaySettings:
    kubeconfig: str | None = setting(
        "kubeconfig of the gateway's own identity; without one, as kubectl: $KUBECONFIG, "
        "~/.kube/config, then the pod's service account",
        default=None,
        metavar="PATH",
    )
    context: str | None = setting("kubeconfig context to use", default=None)
    host: str = setting("address to listen on", default="127.0.0.1")
    port: int = setting("port to listen on", default=8443, parse=int)
    tls_cert: str | None = setting("serve HTTPS with this certificate (PEM)", default=None, metavar="FILE")
    tls_key: str | None = setting("private key of --tls-cert (PEM)", default=None, metavar="FILE")
    auth: str = setting(
        "user-token: every caller brings a bearer token the API server vouches for; none: everyone acts "
        "as the gateway itself (only with a loopback --host)",
        default="user-token",
        choices=("user-token", "none"),
    )
    allowed_origins: list[str] = setting(
        "a web origin (https://console.example.com) whose pages may open WebSockets; repeatable. "
        "WebSockets without an Origin header (the OpenShift console's proxy strips it) are always accepted",
        repeat=True,
        metavar="ORIGIN",
        flag="--allowed-origin",
    )
    auth_cache: float = setting(
        "how long one access decision per token is reused, and how often running subscriptions check "
        "theirs again (at most 30s, so a revoked permission never outlives it)",
        default=30.0,
        parse=duration,
        metavar="DURATION",
    )
    max_subscriptions_per_connection: int = setting(
        "subscriptions one WebSocket may run at once", default=20, parse=int, metavar="N"
    )
    connection_init_timeout: float = setting(
        "how long a new WebSocket may wait before sending connection_init",
        default=10.0,
        parse=duration,
        metavar="DURATION",
    )
    sharing: str = setting(
        "on: one watch per kind for everyone, answers served from derived state, each change executed "
        "once per distinct subscription; off: the naive baseline benchmarks compare against (a watch per "
        "subscriber, a LIST per query, an execution per message)",
        default="on",
        choices=("on", "off"),
    )
    log_level: str = setting("how much to log", default="info", choices=LOG_LEVELS)

    @property
    def authenticate(self) -> bool:
        return self.auth == "user-token"

    def validate(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise SettingsError("--tls-cert and --tls-key go together; give both or neither.")
        if self.auth == "none" and not is_loopback(self.host):
            raise SettingsError(
                f"--auth none lets every caller act as the gateway, so it is only allowed on a loopback address; "
                f"{self.host} is not one. Use --host 127.0.0.1 or --auth user-token."
            )
        if not 0.1 <= self.auth_cache <= 30:
            raise SettingsError(
                f"--auth-cache must be between 100ms and 30s, not {self.auth_cache:g}s; "
                "a revoked permission must not outlive 30 s."
            )
        if not 1 <= self.port <= 65535:
            raise SettingsError(f"--port must be 1-65535, not {self.port}.")
        if self.max_subscriptions_per_connection < 1:
            raise SettingsError("--max-subscriptions-per-connection must be at least 1.")
