"""What every resolver gets: the gateway's services and the caller's token, however it came
(HTTP header, WebSocket connection_init payload, or the WebSocket upgrade request)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError
from starlette.requests import HTTPConnection

from gateway.access import Authorizer, Caller, bearer
from gateway.domain.errors import FlowgateError, InvalidArgument
from gateway.flows.control import FlowControl
from gateway.flows.hub import StatusHub
from gateway.server.metrics import Metrics

# kube-apiserver's service proxy strips Authorization, so clients coming that way use this one.
FLOWGATE_AUTH_HEADER = "x-flowgate-authorization"


@dataclass
class Services:
    hub: StatusHub
    control: FlowControl
    authorizer: Authorizer
    metrics: Metrics


@dataclass
class Context:
    services: Services
    request: HTTPConnection | None = None
    response: Any = None
    # Set by Strawberry from the WebSocket connection_init payload.
    connection_params: Mapping[str, Any] | None = field(default=None)

    def token(self) -> str | None:
        params = self.connection_params or {}
        for key, value in params.items():
            if key.lower() == "authorization" and isinstance(value, str) and bearer(value):
                return bearer(value)
        if self.request is None:
            return None
        headers = self.request.headers
        return bearer(headers.get(FLOWGATE_AUTH_HEADER)) or bearer(headers.get("authorization"))

    async def reader(self) -> Caller:
        """The caller, if they may read flow state (every operation needs that)."""
        return await self.services.authorizer.reader(self.token())

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Turn domain errors into GraphQL errors carrying extensions.code (and the field)."""
        try:
            yield
        except FlowgateError as exc:
            self.services.metrics.errors.labels(exc.code).inc()
            extensions: dict[str, Any] = {"code": exc.code}
            if isinstance(exc, InvalidArgument):
                extensions["field"] = exc.field
            raise GraphQLError(exc.message, extensions=extensions, original_error=exc) from exc
