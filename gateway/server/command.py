"""`flowgate serve`: the GraphQL gateway on uvicorn."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys

from gateway.kube.config import KubeConfigError, load_credentials

DEFAULT_PORT = 8443


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the GraphQL gateway",
        description=(
            "Serve flowgate's GraphQL API on /graphql (HTTP, GraphiQL, WebSocket), with /healthz, /readyz "
            "and /metrics. Callers authenticate with their Kubernetes bearer token; reads need "
            "`list flows.flowgate.dev`, writes go to the API server as the caller."
        ),
    )
    parser.add_argument(
        "--kubeconfig", help="kubeconfig of the gateway's own identity (default: as kubectl, then in-cluster)"
    )
    parser.add_argument("--context", help="kubeconfig context to use")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on (default: %(default)s)")
    parser.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--tls-key", metavar="FILE", help="private key of --tls-cert (PEM)")
    parser.add_argument(
        "--auth",
        choices=("user-token", "none"),
        default="user-token",
        help="user-token: every caller brings a bearer token the API server vouches for (default); "
        "none: everyone acts as the gateway itself (only with a loopback --host)",
    )
    parser.add_argument(
        "--allowed-origin",
        metavar="ORIGIN",
        action="append",
        default=[],
        help="a web origin (https://console.example.com) whose pages may open WebSockets; repeatable",
    )
    parser.add_argument(
        "--auth-cache-seconds",
        type=float,
        default=30.0,
        metavar="S",
        help="how long one access decision per token is reused, and how often running subscriptions "
        "re-check theirs (0.1-30, default: %(default)s)",
    )
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    parser.set_defaults(run=run)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    if bool(args.tls_cert) != bool(args.tls_key):
        print("flowgate serve: --tls-cert and --tls-key go together; give both or neither.", file=sys.stderr)
        return 2
    if args.auth == "none" and not is_loopback(args.host):
        print(
            f"flowgate serve: --auth none lets every caller act as the gateway, so it is only allowed on a "
            f"loopback address; {args.host} is not one. Use --host 127.0.0.1 or --auth user-token.",
            file=sys.stderr,
        )
        return 2
    if not 0.1 <= args.auth_cache_seconds <= 30:
        print(
            f"flowgate serve: --auth-cache-seconds must be between 0.1 and 30, not {args.auth_cache_seconds:g}; "
            "a revoked permission must not outlive 30 s.",
            file=sys.stderr,
        )
        return 2
    try:
        credentials = load_credentials(args.kubeconfig, args.context)
    except KubeConfigError as exc:
        print(f"flowgate serve: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    from gateway.server.app import ServerSettings, create_app

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = ServerSettings(
        auth=args.auth == "user-token",
        allowed_origins=tuple(args.allowed_origin),
        auth_ttl=args.auth_cache_seconds,
    )
    try:
        app = create_app(credentials, settings)
    except ValueError as exc:  # e.g. a malformed --allowed-origin
        print(f"flowgate serve: {exc}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        ssl_certfile=args.tls_cert,
        ssl_keyfile=args.tls_key,
        # The sans-I/O websockets backend without per-message deflate was the cheapest per
        # connection of the backends tried.
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        log_level=args.log_level,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1
