"""Start and stop flow export: check the network, validate, then write FlowExport/cluster as the
calling user (the gateway hands in an API client holding the caller's token, `kubectl flows` its
own kubeconfig identity), so the API server applies their RBAC and its audit log names them.

A start for a while gets its deadline from the API server's clock (the `Date` of the answer to
the read just before the write), never from the caller's. Names of nodes that are no node of the
cluster are refused unless the caller asked to start on the known ones only.

Writes are create-when-absent, else a resourceVersion-guarded replace retried a few times on
409 (never a blind overwrite of someone else's concurrent change); asking for what is already
there changes nothing, so repeating a call does not bump the generation.

Every write that changes the spec records an Event on FlowExport/cluster (the audit trail users
read with `kubectl describe flowexport cluster` and on the console), written with the same
identity as the change and naming the user as the API server knows them: the gateway's
TokenReview of the caller's token, or SelfSubjectReview of the identity that wrote, never what a
client says about itself."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

from gateway.domain.audit import switch_record
from gateway.domain.cost_projection import ExportProjection, project
from gateway.domain.errors import (
    Conflict,
    FlowgateError,
    Forbidden,
    InvalidArgument,
    ManagedByOperator,
    Unauthenticated,
    Unavailable,
)
from gateway.domain.model import (
    API_VERSION,
    FLOW_EXPORT_KIND,
    FLOW_EXPORT_NAME,
    FlowExport,
    FlowExportSpec,
    FlowsState,
    NodeChoice,
)
from gateway.domain.validation import StartRequest, known_nodes_only
from gateway.kube.api import ApiError, ApiUnreachable, KubeApi
from gateway.kube.events import EventRecorder, Occurrence, object_reference
from gateway.kube.resources import FLOW_EXPORTS
from gateway.retry import Backoff
from gateway.service.hub import StatusHub

log = logging.getLogger(__name__)
JSON = dict[str, Any]
T = TypeVar("T")
MAX_ATTEMPTS = 5
# Who recorded an audit Event (its reportingController): the gateway, or `kubectl flows` itself.
GATEWAY_REPORTER = "flowgate.dev/gateway"
CLI_REPORTER = "flowgate.dev/kubectl-flows"
_SPEC_FIELD = re.compile(r"\bspec\.([A-Za-z0-9_.]+)")
_USER = re.compile(r'\bUser "([^"]*)"')


def _spec_body(spec: FlowExportSpec) -> JSON:
    """The spec as stored: unset fields left out (the CRD has no nullable fields)."""
    return {k: v for k, v in spec.to_spec().items() if v is not None}


class FlowSwitch:
    def __init__(self, hub: StatusHub, *, reporter: str = GATEWAY_REPORTER, instance: str | None = None) -> None:
        self.hub = hub
        self.reporter = reporter  # the audit Events' reportingController
        self.instance = instance

    async def start(self, api: KubeApi, request: StartRequest, *, user: str | None = None) -> FlowsState:
        """Start (or switch) export, written with `api`'s identity. `user` is that identity's
        name as the API server reported it (a TokenReview); without it, it is asked."""
        _, nodes = self._checked(request)
        return await self._apply(api, lambda now: replace(request.spec(now), nodes=nodes), user)

    def dry_run(self, request: StartRequest) -> ExportProjection:
        """What `start` would cost, changing nothing: the same checks as a start (network, the
        Cluster Network Operator, the request itself), then the projected cost of each node it
        would choose, at the traffic the node reports. Reading it needs no right to switch."""
        spec, nodes = self._checked(request)
        chosen = {n.name for n in self.hub.node_infos() if nodes.chooses(n)}
        return project(replace(spec, nodes=nodes), [s for s in self.hub.statuses() if s.node in chosen])

    def _checked(self, request: StartRequest) -> tuple[FlowExportSpec, NodeChoice]:
        """A start's checks, before the API server is asked anything: the spec it asks for and the
        nodes it would choose (names that are no node refused, or left out when asked to)."""
        self.hub.require_synced()
        # Before anything else: on a network that cannot export flows every start fails the same way.
        self.hub.network().require()
        # Where OpenShift's Cluster Network Operator configures export itself, flowgate never fights it.
        managed = self.hub.operator_export()
        if managed is not None:
            raise ManagedByOperator(managed.reason)
        spec = request.spec()
        known = {n.name for n in self.hub.node_infos()}
        return spec, known_nodes_only(spec.nodes, known, request.ignore_unknown_nodes)

    async def stop(self, api: KubeApi, *, user: str | None = None) -> FlowsState:
        self.hub.require_synced()
        return await self._apply(api, lambda _now: FlowExportSpec(), user)

    async def _apply(self, api: KubeApi, spec_at: Callable[[float], FlowExportSpec], user: str | None) -> FlowsState:
        """`spec_at(now)`: the spec to write, given the API server's time (a deadline counts from it)."""
        before, written = await self._write(api, spec_at)
        await self._record(api, before, written, user)
        export = FlowExport.from_object(written)
        if export is not None and export.resource_version and self.hub.watching:
            # So a query right after this mutation already shows it.
            await self.hub.wait_for_export(export.resource_version)
        return self.hub.state(export, written=True)

    async def _write(self, api: KubeApi, spec_at: Callable[[float], FlowExportSpec]) -> tuple[FlowExportSpec, JSON]:
        """The spec the write replaced (stopped when there was no FlowExport) and the FlowExport
        as stored after it.

        Even a request for what is already there goes to the API server (as an update it stores
        nothing and keeps the generation): the caller's RBAC decides, never a cache."""
        backoff = Backoff(0.05, 0.4)
        for _attempt in range(MAX_ATTEMPTS):
            current = await _call("get", api.get_or_none(FLOW_EXPORTS, FLOW_EXPORT_NAME))
            spec = spec_at(api.server_time())  # the answer just read told the API server's time
            if current is None:
                body: JSON = {
                    "apiVersion": API_VERSION,
                    "kind": FLOW_EXPORT_KIND,
                    "metadata": {"name": FLOW_EXPORT_NAME},
                    "spec": _spec_body(spec),
                }
                try:
                    return FlowExportSpec(), await _call("create", api.create(FLOW_EXPORTS, body))
                except Conflict:
                    await asyncio.sleep(backoff.next())  # created meanwhile: update it instead
                    continue
            before = _stored_spec(current)
            if before != spec:
                current["spec"] = _spec_body(spec)
            # Replace with the resourceVersion we read: the API server refuses (409) if anyone
            # changed it since, and we decide again from the fresh copy.
            try:
                return before, await _call("update", api.replace(FLOW_EXPORTS, current))
            except Conflict:
                await asyncio.sleep(backoff.next())
        raise Conflict(
            f"FlowExport/{FLOW_EXPORT_NAME} kept changing while flowgate tried to update it "
            f"({MAX_ATTEMPTS} attempts); try again."
        )

    async def _record(self, api: KubeApi, before: FlowExportSpec, written: JSON, user: str | None) -> None:
        """The audit Event of an accepted change, written as the one who changed it. Failing to
        record it does not undo the change (the API server's own audit log has the write too):
        it is logged."""
        after = _stored_spec(written)
        if before == after:
            return
        if user is None:
            try:
                user = str((await api.whoami()).get("username") or "") or None
            except (ApiError, ApiUnreachable) as exc:
                log.warning("could not ask the API server who changed flow export (%s); the Event says so", exc)
        generation = int((written.get("metadata") or {}).get("generation") or 0)
        record = switch_record(user or "(unknown to the API server)", before, after, generation)
        if record is None:
            return
        occurrence = Occurrence(
            regarding=object_reference(written),
            type="Normal",
            reason=record.reason,
            action=record.action,
            note=record.note,
            annotations=record.annotations,
        )
        await EventRecorder(api, self.reporter, self.instance).record(occurrence)


def _stored_spec(obj: JSON) -> FlowExportSpec:
    try:
        return FlowExportSpec.from_spec(obj.get("spec"))
    except ValueError:
        return FlowExportSpec()  # a spec flowgate cannot read is replaced, and reads as stopped


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
