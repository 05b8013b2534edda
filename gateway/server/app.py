"""The gateway's Starlette app: one Strawberry GraphQL view on /graphql for HTTP (GraphiQL in a
browser) and WebSocket (graphql-transport-ws and legacy graphql-ws), plus /healthz, /readyz and
/metrics. The caches start with the app and stop with it."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from gateway.access import Authorizer
from gateway.domain.errors import FlowgateError
from gateway.flows.control import FlowControl
from gateway.flows.hub import StatusHub, watch_caches
from gateway.kube.client import KubeClient
from gateway.kube.config import ClusterCredentials
from gateway.resolvers.context import Context, Services
from gateway.schema import schema
from gateway.server.metrics import CONTENT_TYPE, Metrics


@dataclass
class ServerSettings:
    auth: bool = True  # False: `--auth none`, everyone acts as the gateway (loopback only)
    allowed_origins: Sequence[str] = ()
    max_subscriptions_per_connection: int = 20
    connection_init_timeout: float = 10.0
    auth_ttl: float = 30.0


class GatewayGraphQL(GraphQL[Context, None]):
    """The GraphQL view with flowgate's context: services, and whatever carries the caller's token."""

    def __init__(self, services: Services, settings: ServerSettings) -> None:
        super().__init__(
            schema,
            keep_alive=True,
            keep_alive_interval=15,
            connection_init_wait_timeout=timedelta(seconds=settings.connection_init_timeout),
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
            allowed_origins=settings.allowed_origins,
        )
        self.services = services

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        return Context(services=self.services, request=request, response=response)


class RequestMetrics:
    """Counts every HTTP request and WebSocket connection by path and final status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        status = {"code": "101" if scope["type"] == "websocket" else "500"}

        async def send_counting(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = str(message["status"])
            elif message["type"] == "websocket.close" and status["code"] == "101":
                status["code"] = "403"  # closed before accepting: refused handshake
            elif message["type"] == "websocket.accept":
                status["code"] = "101"
            await send(message)

        try:
            await self.app(scope, receive, send_counting)
        finally:
            path = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
            method = scope.get("method", "WS")
            self.metrics.http_requests.labels(path, method, status["code"]).inc()


class ExpectedErrorsFilter(logging.Filter):
    """Strawberry logs every error with a traceback; a refused token or a bad argument is an
    answer, not a fault, so only errors without a flowgate code reach the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        error: BaseException | None = record.msg if isinstance(record.msg, BaseException) else None
        while isinstance(error, GraphQLError):
            error = error.original_error
        return not isinstance(error, FlowgateError)


KNOWN_PATHS = frozenset({"/", "/graphql", "/healthz", "/readyz", "/metrics"})


def create_app(credentials: ClusterCredentials, settings: ServerSettings | None = None) -> Starlette:
    settings = settings or ServerSettings()
    execution_log = logging.getLogger("strawberry.execution")
    if not any(isinstance(f, ExpectedErrorsFilter) for f in execution_log.filters):
        execution_log.addFilter(ExpectedErrorsFilter())
    client = KubeClient(credentials)
    caches = watch_caches(client)
    metrics = Metrics()
    hub = StatusHub(caches, on_lag=metrics.event_lag.observe)
    authorizer = Authorizer(client if settings.auth else None, ttl=settings.auth_ttl)
    metrics.track(hub, authorizer)
    services = Services(hub=hub, control=FlowControl(hub, credentials), authorizer=authorizer, metrics=metrics)
    graphql_app = GatewayGraphQL(services, settings)
    started = time.time()

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        waiting = [str(c.resource) for c in caches.caches if not c.ready]
        body = {"ready": not waiting, "waiting": waiting, "uptimeSeconds": round(time.time() - started, 1)}
        return JSONResponse(body, status_code=200 if not waiting else 503)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    async def index(request: Request) -> Response:
        return RedirectResponse("/graphql")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        caches.start()
        try:
            yield
        finally:
            hub.close()
            await caches.stop()
            await client.close()

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/graphql", graphql_app, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql_app),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.state.services = services
    return app
