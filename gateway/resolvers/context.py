"""What every resolver gets: the gateway's services and the caller's token, however it came
(HTTP header, WebSocket connection_init payload, or the WebSocket upgrade request)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError
from starlette.requests import HTTPConnection

from gateway.access import Authorizer, Caller, bearer
from gateway.domain.errors import FlowgateError, InvalidArgument
from gateway.kube.api import KubeApi
from gateway.kube.config import ClusterAccess
from gateway.metrics import Metrics
from gateway.service.hub import StatusHub
from gateway.service.switch import FlowSwitch

# Proxies that strip Authorization (kube-apiserver's service proxy) leave this one alone.
FLOWGATE_AUTH_HEADER = "x-flowgate-authorization"


def caller_api(access: ClusterAccess) -> Callable[[Caller], KubeApi]:
    """API clients acting as each caller (their token), or as the gateway itself when
    authentication is off. Writes go through them, so RBAC and audit see who asked."""

    def api_for(caller: Caller) -> KubeApi:
        return KubeApi(access.as_bearer(caller.token) if caller.token else access)

    return api_for


@dataclass
class Services:
    hub: StatusHub
    switch: FlowSwitch
    authorizer: Authorizer
    metrics: Metrics
    api_for: Callable[[Caller], KubeApi]
    # False: the naive baseline benchmarks measure against (see GatewaySettings.sharing).
    sharing: bool = True


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
