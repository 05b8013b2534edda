"""The gateway's Starlette app: one Strawberry GraphQL view on /graphql for HTTP (the bundled
GraphiQL in a browser) and WebSocket (graphql-transport-ws and legacy graphql-ws), the Network
Flows page at /, the console plugin's files at /plugin/, and /healthz, /readyz and /metrics. The informers start with the app and stop with it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from gateway import web
from gateway.access import Authorizer, Caller
from gateway.domain.errors import FlowgateError
from gateway.kube.api import KubeApi
from gateway.kube.config import ClusterAccess
from gateway.metrics import CONTENT_TYPE, Metrics
from gateway.resolvers.context import Context, Services, caller_api
from gateway.schema.extensions import is_internal
from gateway.schema.root import schema
from gateway.server.answers import QueryAnswers
from gateway.server.collector import CollectorPolicy
from gateway.server.live import LiveConnection, LiveOperations, wants_live
from gateway.server.origin import normalize_allowed_origins, refusal, scope_headers, websocket_allowed
from gateway.server.security_headers import SecurityHeaders
from gateway.server.settings import GatewaySettings
from gateway.service.audit import AuditLog
from gateway.service.hub import StatusHub, flow_informers
from gateway.service.switch import FlowSwitch
from gateway.watch.informer import InformerSet


class GatewayGraphQL(GraphQL[Context, None]):
    """The GraphQL view with flowgate's context: services, and whatever carries the caller's token."""

    def __init__(self, services: Services, settings: GatewaySettings) -> None:
        super().__init__(
            schema,
            keep_alive=True,
            keep_alive_interval=15,
            connection_init_wait_timeout=timedelta(seconds=settings.connection_init_timeout),
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
            allowed_origins=tuple(settings.allowed_origins),
        )
        self.services = services

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        return Context(services=self.services, request=request, response=response)

    def is_websocket_origin_allowed(self, request: WebSocket, origin: str) -> bool:
        # The legacy graphql-ws protocol (Strawberry's own sockets) follows the same rule.
        return websocket_allowed(self.get_websocket_headers(request), frozenset(self.allowed_origins))

    async def reject_websocket(self, request: WebSocket) -> WebSocket:
        await deny_websocket(request, refusal(self.get_websocket_headers(request)))
        return request

    async def render_graphql_ide(self, request: Request) -> Response:
        # GraphiQL from the gateway's own files: Strawberry's page loads it from a CDN, which a
        # disconnected cluster cannot reach.
        page = web.built(web.GRAPHIQL, "graphiql.html")
        if page is None:
            return HTMLResponse(web.NOT_BUILT.format(what="GraphiQL"), status_code=503)
        return FileResponse(page, headers=NO_CACHE)


async def deny_websocket(websocket: WebSocket, sentence: str) -> None:
    """Refuses a handshake with 403 and the reason as its body (ASGI's WebSocket denial response),
    so a client that shows HTTP answers (gql, websockets, curl) says why."""
    await websocket.send_denial_response(PlainTextResponse(sentence + "\n", status_code=403))


class RequestMetrics:
    """Counts every HTTP request and WebSocket connection by path and final status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        status = {"code": "101" if scope["type"] == "websocket" else "500", "accepted": ""}

        async def send_counting(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = str(message["status"])
            elif message["type"] == "websocket.accept":
                status["code"], status["accepted"] = "101", "yes"
            elif message["type"] == "websocket.close" and not status["accepted"]:
                status["code"] = "403"  # closed before accepting: refused handshake
            await send(message)

        try:
            await self.app(scope, receive, send_counting)
        finally:
            path = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
            method = scope.get("method", "WS")
            self.metrics.http_requests.labels(path, method, status["code"]).inc()


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Refuses HTTP request bodies over `limit` bytes with 413 before reading them whole: at once
    when Content-Length says so, else as soon as the streamed bytes pass the limit. A GraphQL
    request is a few kilobytes; a 60 MB one would otherwise be read and parsed in full."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        try:
            too_large = declared is not None and int(declared) > self.limit
        except ValueError:
            too_large = True  # a Content-Length that is not a number is refused too
        if too_large:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = (
            f'{{"errors": [{{"message": "The request body is larger than the gateway accepts ({self.limit} bytes); '
            'a GraphQL request needs a few kilobytes.", "extensions": {"code": "PAYLOAD_TOO_LARGE"}}]}'
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class ExpectedErrorsFilter(logging.Filter):
    """Strawberry logs every error with a traceback; a refused token, a bad argument or a document
    that does not fit the schema is an answer, not a fault, so only internal errors (a resolver
    failing without a flowgate code) reach the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, GraphQLError) and not is_internal(record.msg):
            return False
        error: BaseException | None = record.msg if isinstance(record.msg, BaseException) else None
        while isinstance(error, GraphQLError):
            error = error.original_error
        return not isinstance(error, FlowgateError)


KNOWN_PATHS = frozenset({"/", "/graphql", "/healthz", "/readyz", "/metrics"})
NO_CACHE = {"Cache-Control": "no-cache"}  # pages name hashed assets: always ask for the current one


def create_app(
    access: ClusterAccess,
    settings: GatewaySettings | None = None,
    *,
    api: KubeApi | None = None,
    api_for: Callable[[Caller], KubeApi] | None = None,
) -> Starlette:
    """The gateway for the cluster `access` reaches (its own identity). `api` and `api_for`
    replace the API clients it would make (its own, and one per caller) in tests."""
    settings = settings or GatewaySettings()
    execution_log = logging.getLogger("strawberry.execution")
    if not any(isinstance(f, ExpectedErrorsFilter) for f in execution_log.filters):
        execution_log.addFilter(ExpectedErrorsFilter())
    api = api or KubeApi(access)
    informers = flow_informers(api, silence_timeout=settings.watch_silence_timeout)
    metrics = Metrics()
    hub = StatusHub(informers, on_lag=metrics.event_lag.observe, clock=api.server_time)
    # The audit trail's watch is not part of readiness: flow state is served without it.
    audit = AuditLog.on_api(api, silence_timeout=settings.watch_silence_timeout)
    audit_watch = InformerSet([audit.informer])
    authorizer = Authorizer(api if settings.authenticate else None, ttl=settings.auth_cache)
    services = Services(
        hub=hub,
        switch=FlowSwitch(hub),
        authorizer=authorizer,
        metrics=metrics,
        api_for=api_for or caller_api(access),
        audit=audit,
        sharing=settings.sharing == "on",
    )
    graphql_app = GatewayGraphQL(services, settings)
    collector = CollectorPolicy(freeze=settings.gc_freeze == "on", on_collect=metrics.gc_policy_collections.inc)
    live = LiveOperations(hub, collector=collector)
    metrics.track(
        hub,
        authorizer,
        subscribers=lambda: live.subscriber_count + graphql_app_subscribers(hub, live),
        others=audit_watch,
        pending=lambda: max(live.most_pending(), hub.most_pending()),
    )
    started = time.time()
    allowed_origins = normalize_allowed_origins(settings.allowed_origins)

    async def execute_other(context: Context, payload: dict[str, Any]) -> str:
        """A query or mutation sent over the socket, executed as over HTTP."""
        result = await schema.execute(
            payload["query"],
            variable_values=payload.get("variables"),
            context_value=context,
            operation_name=payload.get("operationName"),
        )
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        return json.dumps(body)

    def live_socket(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """graphql-transport-ws on /graphql, ahead of the routing and middleware stack: ten
        thousand idle subscribers each keep the call chain from the server down to their
        connection suspended, so it is kept short (this returns the connection's own coroutine)."""
        headers = scope_headers(scope.get("headers") or ())
        if not websocket_allowed(headers, allowed_origins):
            sentence = refusal(headers)
            logging.getLogger(__name__).warning("%s", sentence)
            metrics.http_requests.labels("/graphql", "WS", "403").inc()
            return deny_websocket(WebSocket(scope, receive, send), sentence)
        metrics.http_requests.labels("/graphql", "WS", "101").inc()
        connection = LiveConnection(
            scope,
            receive,
            send,
            services,
            live,
            init_timeout=settings.connection_init_timeout,
            max_subscriptions=settings.max_subscriptions_per_connection,
            execute_other=execute_other,
        )
        return connection.serve()

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        waiting = [str(i.resource) for i in informers.informers if not i.ready]
        # Ready once every node is derived as well, so that the first tab a new replica is sent
        # (a rolling update hands it thousands) does not wait for that (tens of ms at 5,000 nodes).
        if not hub.derived:
            waiting.append("node statuses")
        body = {"ready": not waiting, "waiting": waiting, "uptimeSeconds": round(time.time() - started, 1)}
        return JSONResponse(body, status_code=200 if not waiting else 503)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    async def index(request: Request) -> Response:
        page = web.built(web.UI, "index.html")
        if page is None:
            return HTMLResponse(web.NOT_BUILT.format(what="the Network Flows page"), status_code=503)
        return FileResponse(page, headers=NO_CACHE)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        unwatch_collector = metrics.watch_collector()
        informers.start()
        deriving = asyncio.create_task(hub.derive_when_synced(), name="derive node statuses")
        audit_watch.start()
        live.start()
        live.collector.started()
        try:
            yield
        finally:
            deriving.cancel()
            unwatch_collector()
            await live.stop()
            hub.close()
            await audit_watch.stop()
            await informers.stop()
            await api.close()

    app = GatewayApp(
        routes=[
            Route("/", index),
            Route("/graphql", QueryAnswers(services, graphql_app), methods=["GET", "POST"]),
            # The legacy graphql-ws protocol (and the naive baseline): Strawberry, per subscriber.
            WebSocketRoute("/graphql", graphql_app),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            # Hashed file names: cached by browsers as long as they like.
            Mount("/assets", StaticFiles(directory=web.UI / "assets", check_dir=False)),
            Mount("/graphiql-assets", StaticFiles(directory=web.GRAPHIQL / "graphiql-assets", check_dir=False)),
            # The console plugin's files: the ConsolePlugin's backend (basePath /plugin/).
            Mount("/plugin", StaticFiles(directory=web.PLUGIN, check_dir=False)),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestMetrics, metrics=metrics)
    if services.sharing:
        app.live_socket = live_socket
    app.state.services = services
    app.state.live = live
    return app


def graphql_app_subscribers(hub: StatusHub, live: LiveOperations) -> int:
    """Subscriptions Strawberry serves itself (the legacy graphql-ws protocol): the hub's
    mailboxes, less the one each live group holds."""
    return max(0, hub.subscriber_count - len(live.groups))


class GatewayApp(Starlette):
    """The Starlette app, with graphql-transport-ws connections on /graphql handed to the live
    operations (`live_socket`, unless sharing is off) before the middleware stack."""

    live_socket: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.live_socket is not None
            and scope["type"] == "websocket"
            and scope["path"] == "/graphql"
            and wants_live(scope)
        ):
            connection = self.live_socket(scope, receive, send)
            del scope  # held by this frame for the connection's life otherwise (see LiveConnection)
            await connection
        else:
            await super().__call__(scope, receive, send)
