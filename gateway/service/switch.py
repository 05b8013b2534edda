"""Start and stop flow export: check the network, validate, then write FlowExport/cluster as the
calling user (the gateway hands in an API client holding the caller's token, `kubectl flows` its
own kubeconfig identity), so the API server applies their RBAC and its audit log names them.

Writes are create-when-absent, else a resourceVersion-guarded replace retried a few times on
409 (never a blind overwrite of someone else's concurrent change); asking for what is already
there changes nothing, so repeating a call does not bump the generation."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from typing import Any, TypeVar

from gateway.domain.errors import Conflict, FlowgateError, Forbidden, InvalidArgument, Unauthenticated, Unavailable
from gateway.domain.model import (
    API_VERSION,
    FLOW_EXPORT_KIND,
    FLOW_EXPORT_NAME,
    FlowExport,
    FlowExportSpec,
    FlowsState,
)
from gateway.domain.validation import StartRequest
from gateway.kube.api import ApiError, ApiUnreachable, KubeApi
from gateway.kube.resources import FLOW_EXPORTS
from gateway.retry import Backoff
from gateway.service.hub import StatusHub

JSON = dict[str, Any]
T = TypeVar("T")
MAX_ATTEMPTS = 5
_SPEC_FIELD = re.compile(r"\bspec\.([A-Za-z0-9_.]+)")
_USER = re.compile(r'\bUser "([^"]*)"')


def _spec_body(spec: FlowExportSpec) -> JSON:
    """The spec as stored: unset fields left out (the CRD has no nullable fields)."""
    return {k: v for k, v in spec.to_spec().items() if v is not None}


class FlowSwitch:
    def __init__(self, hub: StatusHub) -> None:
        self.hub = hub

    async def start(self, api: KubeApi, request: StartRequest) -> FlowsState:
        """Start (or switch) export, written with `api`'s identity."""
        self.hub.require_synced()
        # Before anything else: on a network that cannot export flows every start fails the same way.
        self.hub.network().require()
        return await self._apply(api, request.spec())

    async def stop(self, api: KubeApi) -> FlowsState:
        self.hub.require_synced()
        return await self._apply(api, FlowExportSpec())

    async def _apply(self, api: KubeApi, spec: FlowExportSpec) -> FlowsState:
        written = await self._write(api, spec)
        export = FlowExport.from_object(written)
        if export is not None and export.resource_version and self.hub.watching:
            # So a query right after this mutation already shows it.
            await self.hub.wait_for_export(export.resource_version)
        return self.hub.state(export, written=True)

    async def _write(self, api: KubeApi, spec: FlowExportSpec) -> JSON:
        """The FlowExport as stored after the write.

        Even a request for what is already there goes to the API server (as an update it stores
        nothing and keeps the generation): the caller's RBAC decides, never a cache."""
        backoff = Backoff(0.05, 0.4)
        for _attempt in range(MAX_ATTEMPTS):
            current = await _call("get", api.get_or_none(FLOW_EXPORTS, FLOW_EXPORT_NAME))
            if current is None:
                body: JSON = {
                    "apiVersion": API_VERSION,
                    "kind": FLOW_EXPORT_KIND,
                    "metadata": {"name": FLOW_EXPORT_NAME},
                    "spec": _spec_body(spec),
                }
                try:
                    return await _call("create", api.create(FLOW_EXPORTS, body))
                except Conflict:
                    await asyncio.sleep(backoff.next())  # created meanwhile: update it instead
                    continue
            if FlowExportSpec.from_spec(current.get("spec")) != spec:
                current["spec"] = _spec_body(spec)
            # Replace with the resourceVersion we read: the API server refuses (409) if anyone
            # changed it since, and we decide again from the fresh copy.
            try:
                return await _call("update", api.replace(FLOW_EXPORTS, current))
            except Conflict:
                await asyncio.sleep(backoff.next())
        raise Conflict(
            f"FlowExport/{FLOW_EXPORT_NAME} kept changing while flowgate tried to update it "
            f"({MAX_ATTEMPTS} attempts); try again."
        )


async def _call(verb: str, call: Awaitable[T]) -> T:
    try:
        return await call
    except ApiError as exc:
        raise api_failure(exc, verb) from exc
    except ApiUnreachable as exc:
        raise Unavailable(
            "The Kubernetes API server cannot be reached right now, so flow export was not changed; try again shortly."
        ) from exc


def api_failure(exc: ApiError, verb: str) -> FlowgateError:
    """The API server's refusal as the sentence and code a user acts on."""
    resource = f'{FLOW_EXPORTS} "{FLOW_EXPORT_NAME}"'
    if exc.forbidden:
        # The API server names the user it refused; that, not any client's say-so, is who asked.
        user = _USER.search(exc.message)
        who = f'User "{user.group(1)}"' if user else "You"
        return Forbidden(
            f"{who} may not {verb} {resource}, so flow export was not changed; "
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
