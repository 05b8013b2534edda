"""The one GraphQL client of a flowgate gateway (on gql), shared by `kubectl flows --gateway`, the
tests and the example scripts: the `flows` query, `startFlows`/`stopFlows` and the
`nodeFlowStatus` subscription, sending the documents in documents/, with every failure turned
into one of two exceptions a caller can print as is: GatewayError (the gateway, or a proxy in
front of it, said no) and GatewayUnreachable (nothing answered). Results are the plain GraphQL
dicts, field names as in schema.graphql."""

from __future__ import annotations

import asyncio
import json
import math
import random
import ssl
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
from gql import Client, GraphQLRequest
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.exceptions import (
    TransportClosed,
    TransportConnectionFailed,
    TransportError,
    TransportProtocolError,
    TransportQueryError,
    TransportServerError,
)
from gql.transport.websockets import WebsocketsTransport

from gateway.client.documents import document
from gateway.client.endpoint import GatewayEndpoint
from gateway.domain.validation import StartRequest
from gateway.retry import Backoff

JSON = dict[str, Any]

# Answers of a proxy in front of the gateway that mean "no gateway there" rather than "no".
_UNREACHABLE_STATUSES = {404, 502, 503, 504}
# graphql-transport-ws close codes for a refused connection_init.
_WS_CLOSE_CODES = {4401: "UNAUTHENTICATED", 4403: "FORBIDDEN"}
# A gateway going away (SIGTERM in a rolling update) closes every WebSocket with 1001: its
# subscribers come back at once, each after a random delay within this many seconds, so that
# thousands of them spread over the other replicas instead of arriving in the same instant.
GOING_AWAY = 1001
RECONNECT_SPREAD = 2.0
MOVING_ATTEMPTS = 6  # dials after a 1001 that may fail: 1, 2, 4, 8, 16, 30 s apart (jittered)


class GatewayError(Exception):
    """The gateway (or a proxy in front of it) answered with an error. `message` is the
    sentence to show, `code` the GraphQL extensions.code (or one derived from the HTTP status)."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class GatewayUnreachable(Exception):
    """Nothing answered at the gateway's address (or the answer was not GraphQL)."""

    def __init__(self, endpoint: GatewayEndpoint, detail: str, *, established: bool = False) -> None:
        super().__init__(f"{endpoint.describe()}: {detail}")
        self.endpoint = endpoint
        self.detail = detail
        self.established = established  # True when a live subscription dropped


def start_variables(request: StartRequest) -> JSON:
    """startFlows' variables; no collector lets the gateway pick its default collector."""
    collector: JSON | None = None
    if request.node_port is not None:
        collector = {"nodePort": request.node_port}
    elif request.targets is not None:
        collector = {"targets": list(request.targets)}
    elif request.selector is not None:
        collector = {"selector": [{"key": k, "value": v} for k, v in request.selector]}
    if request.metrics_port is not None:
        collector = {**(collector or {}), "metricsPort": request.metrics_port}
    if request.metrics_target is not None:
        collector = {**(collector or {}), "metricsTarget": request.metrics_target}
    return {
        "type": request.type.name,
        "collector": collector,
        "sampling": request.sampling,
        "activeTimeoutSeconds": request.active_timeout_seconds,
        "cacheMaxFlows": request.cache_max_flows,
        # A duration is whole seconds on the wire (the gateway's Int); the CLI's parsing allows no less.
        "durationSeconds": None if request.duration_seconds is None else math.ceil(request.duration_seconds),
        "nodes": None if request.nodes is None else list(request.nodes),
        "nodeSelector": None
        if request.node_selector is None
        else [{"key": k, "value": v} for k, v in request.node_selector],
        "ignoreUnknownNodes": request.ignore_unknown_nodes,
    }


def _status_message(status: int, body: str) -> str:
    """The `message` of a Kubernetes Status body, else the body's first line, else the status."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("message"), str) and doc["message"]:
        return str(doc["message"])
    first = body.strip().splitlines()[0].strip() if body.strip() else ""
    return first or f"HTTP {status}"


class _HttpStatusError(TransportServerError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, status)
        self.status = status
        self.message = message


class _Transport(AIOHTTPTransport):
    """AIOHTTPTransport that keeps the body of a non-GraphQL error answer: a proxy in front of the
    gateway explains a 403 or 503 there, and gql would otherwise drop it."""

    @classmethod
    async def _raise_response_error(cls, resp: aiohttp.ClientResponse, reason: str) -> None:
        body = await resp.text()
        if resp.status >= 400:
            raise _HttpStatusError(resp.status, _status_message(resp.status, body))
        raise TransportProtocolError(f"not a GraphQL answer ({reason}): {body[:200]}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception: gql wraps the socket error that says what actually happened."""
    return _chain(exc)[-1]


def query_error(errors: Sequence[Any] | None, fallback: str) -> GatewayError:
    """The first GraphQL error as a GatewayError; a sentence repeated by several errors (say,
    one per field) is reported once."""
    messages: list[str] = []
    code = "INTERNAL"
    for index, error in enumerate(errors or ()):
        if not isinstance(error, dict):
            continue
        if index == 0:
            code = str((error.get("extensions") or {}).get("code") or code)
        message = str(error.get("message") or "").strip()
        if message and message not in messages:
            messages.append(message)
    return GatewayError(code, "\n".join(messages) or fallback)


def _http_status_error(endpoint: GatewayEndpoint, status: int, message: str) -> Exception:
    if status == 401:
        return GatewayError("UNAUTHENTICATED", message, status=status)
    if status == 403:
        return GatewayError("FORBIDDEN", message, status=status)
    if status in _UNREACHABLE_STATUSES or status >= 500:
        return GatewayUnreachable(endpoint, f"HTTP {status}: {message}")
    return GatewayError("INTERNAL", f"HTTP {status}: {message}", status=status)


def _ws_handshake_status(exc: BaseException) -> tuple[int, str] | None:
    """websockets' InvalidStatus carries the refused handshake's HTTP response."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        body = getattr(response, "body", b"") or b""
        text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
        return status, _status_message(status, text)
    return None


def _ws_close(exc: BaseException) -> tuple[int, str] | None:
    """websockets' ConnectionClosed carries the close frame the server sent."""
    frame = getattr(exc, "rcvd", None)
    code = getattr(frame, "code", None)
    if isinstance(code, int):
        return code, str(getattr(frame, "reason", "") or "")
    return None


class _GoingAway(Exception):
    """The gateway closed a running subscription with 1001: it is shutting down."""


class FlowgateClient:
    """One gateway, one user. Each call opens its own connection: a CLI makes one call, and a
    test or script gets no hidden state between calls."""

    def __init__(self, endpoint: GatewayEndpoint, *, timeout: float = 30.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout

    async def flows(self) -> JSON:
        return (await self._execute("Flows"))["flows"]  # type: ignore[no-any-return]

    async def start_flows(self, request: StartRequest) -> JSON:
        return (await self._execute("StartFlows", start_variables(request)))["startFlows"]  # type: ignore[no-any-return]

    async def stop_flows(self) -> JSON:
        return (await self._execute("StopFlows"))["stopFlows"]  # type: ignore[no-any-return]

    async def export_projection(self, request: StartRequest) -> JSON:
        """What starting `request` would cost (a query: nothing changes)."""
        return (await self._execute("ExportProjection", start_variables(request)))["exportProjection"]  # type: ignore[no-any-return]

    def _ssl(self) -> ssl.SSLContext | bool:
        return self.endpoint.ssl_context if self.endpoint.ssl_context is not None else True

    def http_transport(self) -> AIOHTTPTransport:
        """A gql transport for queries and mutations, carrying the caller's token."""
        return _Transport(url=self.endpoint.url, headers=self.endpoint.http_headers(), ssl=self._ssl())

    def ws_transport(self) -> WebsocketsTransport:
        """A gql transport for subscriptions (graphql-transport-ws), the token in connection_init."""
        return WebsocketsTransport(
            url=self.endpoint.ws_url,
            headers=self.endpoint.http_headers(),
            ssl=self.endpoint.ssl_context or self.endpoint.ws_url.startswith("wss:"),
            init_payload=self.endpoint.init_payload(),
            # gql offers the legacy graphql-ws protocol first unless told otherwise.
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
            connect_timeout=self.timeout,
            ack_timeout=self.timeout,
            # Client pings notice a gateway that vanished without closing the connection.
            ping_interval=30,
            pong_timeout=15,
        )

    async def _execute(self, operation: str, variables: JSON | None = None) -> JSON:
        transport = self.http_transport()
        request = GraphQLRequest(document(operation), variable_values=variables, operation_name=operation)
        try:
            async with Client(transport=transport, execute_timeout=self.timeout) as session:
                result: JSON = await session.execute(request)
                return result
        except TransportQueryError as exc:
            raise query_error(exc.errors, str(exc)) from None
        except _HttpStatusError as exc:
            raise _http_status_error(self.endpoint, exc.status, exc.message) from None
        except TransportServerError as exc:
            raise _http_status_error(self.endpoint, exc.code or 500, str(exc)) from None
        except TransportProtocolError as exc:
            raise GatewayUnreachable(self.endpoint, f"the answer was not GraphQL: {_first_line(exc)}") from None
        except TimeoutError:  # before OSError, of which it is a subclass
            raise GatewayUnreachable(self.endpoint, f"no answer within {self.timeout:g}s") from None
        except (TransportError, aiohttp.ClientError, OSError) as exc:
            raise GatewayUnreachable(self.endpoint, _first_line(_root_cause(exc))) from None

    async def node_flow_status(self, node: str | None = None) -> AsyncIterator[JSON]:
        """The subscription: first every node's (or the named node's) current status, then each
        change. Ends only by cancellation or an exception. A gateway going away (1001) is left for
        another at once: subscribed again after a short random delay, and the new snapshot brings
        every node's current status again, with whatever changed meanwhile. While the other
        replicas take in everyone who moved, a dial may fail: it is tried again with jittered
        backoff for up to about a minute before the failure is raised."""
        moving: Backoff | None = None  # set from a 1001 until the first status after it
        while True:
            try:
                async for status in self._node_flow_status(node):
                    moving = None
                    yield status
            except _GoingAway:
                moving = Backoff(1.0, 30.0, jitter=0.5)
                await asyncio.sleep(random.uniform(0, RECONNECT_SPREAD))
            except GatewayUnreachable:
                if moving is None or moving.failures >= MOVING_ATTEMPTS:
                    raise
                await asyncio.sleep(moving.next())

    async def _node_flow_status(self, node: str | None) -> AsyncIterator[JSON]:
        transport = self.ws_transport()
        request = GraphQLRequest(
            document("NodeFlowStatus"), variable_values={"node": node}, operation_name="NodeFlowStatus"
        )
        established = False
        try:
            async with Client(transport=transport, execute_timeout=None) as session:
                established = True
                async for data in session.subscribe(request):
                    yield data["nodeFlowStatus"]
            raise GatewayUnreachable(self.endpoint, "the gateway ended the subscription", established=True)
        except TransportQueryError as exc:
            raise query_error(exc.errors, str(exc)) from None
        except (TimeoutError, TransportError, OSError) as exc:
            raise self._ws_failure(exc, established) from None

    def _ws_failure(self, exc: BaseException, established: bool) -> Exception:
        if established and any((_ws_close(link) or (0,))[0] == GOING_AWAY for link in _chain(exc)):
            return _GoingAway()
        for link in _chain(exc):
            status = _ws_handshake_status(link)
            if status is not None:
                return _http_status_error(self.endpoint, *status)
            close = _ws_close(link)
            if close is not None and close[0] in _WS_CLOSE_CODES:
                code, reason = close
                return GatewayError(_WS_CLOSE_CODES[code], reason or _WS_CLOSE_CODES[code].capitalize())
        if isinstance(exc, TimeoutError):
            return GatewayUnreachable(self.endpoint, f"no answer within {self.timeout:g}s", established=established)
        if isinstance(exc, TransportClosed | TransportConnectionFailed):
            return GatewayUnreachable(self.endpoint, _first_line(_root_cause(exc)), established=established)
        return GatewayUnreachable(self.endpoint, _first_line(exc), established=established)
