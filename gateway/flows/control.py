"""Start and stop flow export: check the network, validate, then write FlowExport/cluster as the
calling user, so the API server applies their RBAC and its audit log names them.

Writes are create-when-absent, else a resourceVersion-guarded replace retried a few times on
409 (never a blind overwrite of someone else's concurrent change); asking for what is already
there changes nothing, so repeating a call does not bump the generation."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from gateway.access import Caller
from gateway.domain.errors import Conflict, FlowgateError, Forbidden, InvalidArgument, Unauthenticated, Unavailable
from gateway.domain.model import (
    API_VERSION,
    FLOW_EXPORT_KIND,
    FLOW_EXPORT_NAME,
    FlowExport,
    FlowExportSpec,
    FlowsState,
    FlowType,
)
from gateway.domain.validation import validate_collector, validate_start
from gateway.flows.hub import StatusHub
from gateway.kube.client import ApiError, ApiUnreachable, KubeClient
from gateway.kube.config import ClusterCredentials
from gateway.kube.resources import FLOW_EXPORTS

JSON = dict[str, Any]
T = TypeVar("T")
MAX_ATTEMPTS = 5
_SPEC_FIELD = re.compile(r"\bspec\.([A-Za-z0-9_.]+)")


@dataclass(frozen=True)
class StartRequest:
    """A start as the caller phrased it, before validation."""

    type: FlowType
    node_port: int | None = None
    selector: Sequence[tuple[str, str]] | None = None
    targets: Sequence[str] | None = None
    sampling: int | None = None
    active_timeout_seconds: int | None = None
    cache_max_flows: int | None = None

    def spec(self) -> FlowExportSpec:
        selector: dict[str, str] | None = None
        if self.selector is not None:
            selector = {}
            for key, value in self.selector:
                if key in selector:
                    raise InvalidArgument(
                        "collector.selector", f"collector.selector: label key {key!r} is given twice."
                    )
                selector[key] = value
        collector = validate_collector(self.node_port, selector, self.targets)
        return validate_start(self.type, collector, self.sampling, self.active_timeout_seconds, self.cache_max_flows)


def _spec_body(spec: FlowExportSpec) -> JSON:
    """The spec as stored: unset fields left out (the CRD has no nullable fields)."""
    return {k: v for k, v in spec.to_spec().items() if v is not None}


class FlowControl:
    def __init__(
        self,
        hub: StatusHub,
        credentials: ClusterCredentials,
        client_for: Callable[[ClusterCredentials], KubeClient] = KubeClient,
    ) -> None:
        self.hub = hub
        self.credentials = credentials
        self._client_for = client_for

    async def start(self, caller: Caller, request: StartRequest) -> FlowsState:
        self.hub.require_synced()
        # Before anything else: on a network that cannot export flows every start fails the same way.
        self.hub.network().require()
        return await self._apply(caller, request.spec())

    async def stop(self, caller: Caller) -> FlowsState:
        self.hub.require_synced()
        return await self._apply(caller, FlowExportSpec())

    async def _apply(self, caller: Caller, spec: FlowExportSpec) -> FlowsState:
        # A client per call, as the caller: RBAC and the audit log see who asked.
        client = self._client_for(self.credentials.with_token(caller.token) if caller.token else self.credentials)
        try:
            written = await self._write(client, caller, spec)
        finally:
            await client.close()
        export = FlowExport.from_object(written)
        if export is not None and export.resource_version:
            # So a query right after this mutation already shows it.
            await self.hub.wait_for_export(export.resource_version)
        return self.hub.state(export, written=True)

    async def _write(self, client: KubeClient, caller: Caller, spec: FlowExportSpec) -> JSON:
        """The FlowExport as stored after the write.

        Even a request for what is already there goes to the API server (as an update it stores
        nothing and keeps the generation): the caller's RBAC decides, never the gateway's cache."""
        for attempt in range(MAX_ATTEMPTS):
            current = await self._call(caller, "get", client.get_or_none(FLOW_EXPORTS, FLOW_EXPORT_NAME))
            if current is None:
                body: JSON = {
                    "apiVersion": API_VERSION,
                    "kind": FLOW_EXPORT_KIND,
                    "metadata": {"name": FLOW_EXPORT_NAME},
                    "spec": _spec_body(spec),
                }
                try:
                    return await self._call(caller, "create", client.create(FLOW_EXPORTS, body))
                except Conflict:
                    await asyncio.sleep(0.05 * (attempt + 1))  # created meanwhile: update it instead
                    continue
            if FlowExportSpec.from_spec(current.get("spec")) != spec:
                current["spec"] = _spec_body(spec)
            # Replace with the resourceVersion we read: the API server refuses (409) if anyone
            # changed it since, and we decide again from the fresh copy.
            try:
                return await self._call(caller, "update", client.replace(FLOW_EXPORTS, current))
            except Conflict:
                await asyncio.sleep(0.05 * (attempt + 1))
        raise Conflict(
            f"FlowExport/{FLOW_EXPORT_NAME} kept changing while flowgate tried to update it "
            f"({MAX_ATTEMPTS} attempts); try again."
        )

    async def _call(self, caller: Caller, verb: str, call: Awaitable[T]) -> T:
        try:
            return await call
        except ApiError as exc:
            raise api_failure(exc, verb, caller) from exc
        except ApiUnreachable as exc:
            raise Unavailable(
                "The Kubernetes API server cannot be reached right now, so flow export was not changed; "
                "try again shortly."
            ) from exc


def api_failure(exc: ApiError, verb: str, caller: Caller) -> FlowgateError:
    """The API server's refusal as the sentence and code a user acts on."""
    resource = f'{FLOW_EXPORTS} "{FLOW_EXPORT_NAME}"'
    if exc.forbidden:
        return Forbidden(
            f"{caller.who} may not {verb} {resource}, so flow export was not changed; "
            "ask a cluster admin for a role that grants it."
        )
    if exc.unauthorized:
        return Unauthenticated("The API server did not accept your token (expired or unknown); log in again and retry.")
    if exc.conflict or (exc.not_found and verb == "update"):
        # A 404 on update: deleted since we read it, as much a concurrent change as a 409.
        return Conflict(f"{resource} changed while it was being written: {exc.message}")
    if exc.invalid:
        match = _SPEC_FIELD.search(exc.message)
        field = match.group(1) if match else "spec"
        return InvalidArgument(field, f"The API server refused the new FlowExport: {exc.message}")
    if exc.status >= 500 or exc.status == 429:
        return Unavailable(f"The API server could not {verb} {resource} right now ({exc.message}); try again shortly.")
    return FlowgateError(f"The API server refused to {verb} {resource}: {exc.message}")
