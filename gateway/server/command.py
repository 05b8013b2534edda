"""`flowgate serve`: the GraphQL gateway on uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from typing import Any

from gateway import logs
from gateway.kube.config import KubeConfigError, load_access
from gateway.server.settings import GatewaySettings
from gateway.settings import SettingsError, add_arguments, from_arguments


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the GraphQL gateway",
        description=(
            "Serve flowgate's GraphQL API on /graphql (HTTP, GraphiQL, WebSocket), with /healthz, /readyz "
            "and /metrics. Callers authenticate with their Kubernetes bearer token; reads need "
            "`list flows.flowgate.dev`, writes go to the API server as the caller."
        ),
    )
    add_arguments(parser, GatewaySettings)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = from_arguments(GatewaySettings, args)
    try:
        settings.validate()
        access = asyncio.run(load_access(settings.kubeconfig, settings.context))
    except (SettingsError, KubeConfigError) as exc:
        print(f"flowgate serve: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    from gateway.server.app import create_app
    from gateway.server.websocket import LeanWebSocketProtocol

    logs.configure(settings.log_level, "%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app(access, settings)
    except ValueError as exc:  # e.g. a malformed --allowed-origin
        print(f"flowgate serve: {exc}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
        # The sans-I/O websockets backend without per-message deflate was the cheapest per
        # connection of the backends tried; lighter still with what it holds per connection cut.
        ws=LeanWebSocketProtocol,
        ws_per_message_deflate=False,
        ws_max_size=settings.max_message_bytes,
        ws_ping_interval=settings.websocket_ping_interval,
        ws_ping_timeout=settings.websocket_ping_timeout,
        log_level=settings.log_level,
        log_config=None,  # uvicorn's lines go through the gateway's one redacting handler
        lifespan="on",
        # Every console tab reconnects at once after a restart: a deep accept queue keeps the
        # kernel from refusing handshakes while the gateway works through them.
        backlog=4096,
        # No X-Forwarded-* to honour (a Service and the console's proxy pass connections through),
        # and one coroutine less held by every idle WebSocket.
        proxy_headers=False,
        # After SIGTERM: WebSockets are closed at once (1001, gateway/server/websocket.py); what
        # is still running after this is cancelled, so a rolling update never waits on a client.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout),
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1
