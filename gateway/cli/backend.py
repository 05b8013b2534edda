"""Where `kubectl flows` gets its answers: the API server itself with the kubeconfig's identity
(the default, like any kubectl plugin; nothing else needs installing), or a flowgate gateway
(`--gateway URL`). Both give the same answers in the same shapes: the cluster path runs the very
service layer the gateway runs (validation, network support, status derivation)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TypeVar

from gateway.cli.shapes import node_json, projection_json, state_json
from gateway.client import FlowgateClient, GatewayError, GatewayUnreachable
from gateway.domain.errors import FlowgateError, Unavailable
from gateway.domain.validation import StartRequest
from gateway.kube.api import ApiError, ApiUnreachable, KubeApi
from gateway.kube.config import ClusterAccess
from gateway.service.hub import StatusHub, flow_informers
from gateway.service.switch import CLI_REPORTER, FlowSwitch

JSON = dict[str, Any]
T = TypeVar("T")


class Refused(Exception):
    """The cluster or the gateway answered no; `message` is the sentence to print."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Unreachable(Exception):
    """Nothing answered where `kubectl flows` looked."""

    def __init__(self, where: str, detail: str, *, established: bool = False) -> None:
        super().__init__(f"{where}: {detail}")
        self.where = where
        self.detail = detail
        self.established = established  # a live watch dropped, rather than never connecting


class Backend(Protocol):
    where: str

    def server_time(self) -> float:
        """The API server's clock now, as well as this backend can tell (deadlines are on it)."""
        ...

    async def flows(self) -> JSON: ...

    async def start(self, request: StartRequest) -> JSON: ...

    async def stop(self) -> JSON: ...

    async def dry_run(self, request: StartRequest) -> JSON: ...

    def watch(self, node: str | None) -> AsyncIterator[JSON]: ...


def _listing_refused(exc: ApiError, where: str) -> Refused:
    if exc.not_found:
        return Refused(
            "NOT_INSTALLED",
            f"flowgate is not installed in the cluster at {where}: the API server does not serve "
            "flows.flowgate.dev. Install flowgate's CRDs (deploy/) first.",
        )
    if exc.forbidden:
        return Refused("FORBIDDEN", exc.message.rstrip(".") + ".")
    if exc.unauthorized:
        return Refused(
            "UNAUTHENTICATED", "The API server did not accept your credentials (expired or unknown); log in again."
        )
    return Refused("INTERNAL", f"The API server refused to list flow export state: {exc.message}")


class ClusterBackend:
    """The API server, as the kubeconfig's user: RBAC and audit apply to that user directly."""

    def __init__(self, access: ClusterAccess, *, timeout: float = 30.0) -> None:
        self.access = access
        self.timeout = timeout
        self.where = f"the Kubernetes API server at {access.server} (from {access.source})"
        self._clock_offset = 0.0  # learnt from the API server's answers (their Date headers)

    def server_time(self) -> float:
        return time.time() + self._clock_offset

    @contextlib.asynccontextmanager
    async def _listed(self) -> AsyncIterator[tuple[KubeApi, StatusHub]]:
        """Every kind flow state is derived from, listed once, as this user."""
        async with KubeApi(self.access, timeout=self.timeout) as api:
            informers = flow_informers(api)
            hub = StatusHub(informers, clock=api.server_time)
            try:
                await informers.list_once()
            except ApiError as exc:
                raise _listing_refused(exc, self.access.server) from None
            except ApiUnreachable as exc:
                raise Unreachable(self.where, str(exc)) from None
            try:
                yield api, hub
            finally:
                self._clock_offset = api.clock.offset
                hub.close()
                await informers.stop()

    async def flows(self) -> JSON:
        async with self._listed() as (_, hub):
            return _domain(lambda: state_json(hub.state()))

    async def start(self, request: StartRequest) -> JSON:
        async with self._listed() as (api, hub):
            try:
                return state_json(await FlowSwitch(hub, reporter=CLI_REPORTER).start(api, request))
            except FlowgateError as exc:
                raise _refusal(exc, self.where) from None

    async def stop(self) -> JSON:
        async with self._listed() as (api, hub):
            try:
                return state_json(await FlowSwitch(hub, reporter=CLI_REPORTER).stop(api))
            except FlowgateError as exc:
                raise _refusal(exc, self.where) from None

    async def dry_run(self, request: StartRequest) -> JSON:
        async with self._listed() as (_, hub):
            return _domain(lambda: projection_json(FlowSwitch(hub, reporter=CLI_REPORTER).dry_run(request)))

    async def watch(self, node: str | None) -> AsyncIterator[JSON]:
        """Every node's status, then each change; the informers ride out API server outages."""
        async with self._listed() as (_, hub):
            hub.informers.start()  # watching from the listed versions on
            mailbox = _domain(lambda: hub.subscribe(node))
            async for status in mailbox:
                yield node_json(status)


def _domain(call: Callable[[], T]) -> T:
    try:
        return call()
    except FlowgateError as exc:
        raise Refused(exc.code, exc.message) from None


def _refusal(exc: FlowgateError, where: str) -> Exception:
    if isinstance(exc, Unavailable) and isinstance(exc.__cause__, ApiUnreachable):
        return Unreachable(where, str(exc.__cause__))
    return Refused(exc.code, exc.message)


class GatewayBackend:
    """A flowgate gateway, over its GraphQL API."""

    def __init__(self, client: FlowgateClient) -> None:
        self.client = client
        self.where = f"the flowgate gateway at {client.endpoint.describe()}"

    def server_time(self) -> float:
        return time.time()  # this machine's clock: the gateway reports `ended` itself

    async def _call(self, call: Any) -> JSON:
        try:
            result: JSON = await call
            return result
        except GatewayError as exc:
            raise Refused(exc.code, exc.message) from None
        except GatewayUnreachable as exc:
            raise Unreachable(self.where, exc.detail) from None

    async def flows(self) -> JSON:
        return await self._call(self.client.flows())

    async def start(self, request: StartRequest) -> JSON:
        return await self._call(self.client.start_flows(request))

    async def stop(self) -> JSON:
        return await self._call(self.client.stop_flows())

    async def dry_run(self, request: StartRequest) -> JSON:
        return await self._call(self.client.export_projection(request))

    async def watch(self, node: str | None) -> AsyncIterator[JSON]:
        try:
            async for event in self.client.node_flow_status(node):
                yield event
        except GatewayError as exc:
            raise Refused(exc.code, exc.message) from None
        except GatewayUnreachable as exc:
            raise Unreachable(self.where, exc.detail, established=exc.established) from None
