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
        "a web origin (https://app.example.com) whose pages may open WebSockets to the gateway directly; "
        "repeatable. Not needed for the OpenShift console: its proxy brings the user's bearer token, and "
        "handshakes with a bearer token, without an Origin or from the gateway's own origin are always accepted",
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
    max_request_bytes: int = setting(
        "largest HTTP request body accepted; larger ones are refused with 413 before they are read",
        default=1024 * 1024,
        parse=int,
        metavar="BYTES",
    )
    max_message_bytes: int = setting(
        "largest WebSocket message accepted; a larger one closes the connection (1009)",
        default=1024 * 1024,
        parse=int,
        metavar="BYTES",
    )
    websocket_ping_interval: float = setting(
        "ping every WebSocket this often, to find peers that went away without closing",
        default=20.0,
        parse=duration,
        metavar="DURATION",
    )
    websocket_ping_timeout: float = setting(
        "close a WebSocket whose peer has not answered a ping for this long (a client that reads nothing answers none)",
        default=20.0,
        parse=duration,
        metavar="DURATION",
    )
    watch_silence_timeout: float = setting(
        "restart a watch of the API server that brings no event and no bookmark for this long "
        "(the API server sends a bookmark about once a minute)",
        default=90.0,
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
    gc_freeze: str = setting(
        "on: objects alive after start-up and after each wave of connections are frozen out of the garbage "
        "collector's walks, and collected once half of the frozen connections are gone; off: Python's "
        "collector as it comes (what benchmarks compare against)",
        default="on",
        choices=("on", "off"),
    )
    shutdown_timeout: float = setting(
        "on SIGTERM the gateway stops listening and closes every WebSocket with 1001 (going away), so clients "
        "reconnect to another replica at once; HTTP requests in flight get this long to finish",
        default=10.0,
        parse=duration,
        metavar="DURATION",
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
        for flag, value in (
            ("--max-request-bytes", self.max_request_bytes),
            ("--max-message-bytes", self.max_message_bytes),
        ):
            if value < 4096:
                raise SettingsError(f"{flag} must be at least 4096, not {value}: every GraphQL request must fit.")
        if self.watch_silence_timeout < 1:
            raise SettingsError(f"--watch-silence-timeout must be at least 1s, not {self.watch_silence_timeout:g}s.")
