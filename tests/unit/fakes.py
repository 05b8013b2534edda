"""In-memory stand-ins for the API server and OVS, for fast tests of the agent's decisions."""

from __future__ import annotations

import asyncio
import copy
import inspect
import itertools
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from gateway.agent.ovs import ExportSettings, OvsBridge, OvsError
from gateway.kube.api import ApiError, ApiUnreachable
from gateway.kube.resources import CONFIG_NETWORKS, EVENTS, FLOW_EXPORTS, FLOWS, NODES, OPERATOR_NETWORKS, Resource
from gateway.service.hub import StatusHub
from gateway.watch.informer import Informer, InformerSet
from gateway.watch.source import Listing

JSON = dict[str, Any]


class FakeClock:
    """Time that moves only when a test says so: sleepers wake once `advance` passes their deadline."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, future))
        await future

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [(t, f) for t, f in self._sleepers if t <= self.now]
        self._sleepers = [(t, f) for t, f in self._sleepers if t > self.now]
        for _, future in due:
            if not future.done():
                future.set_result(None)


async def settle(rounds: int = 20) -> None:
    """Let every ready task run until nothing is left to do (no real time passes)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class FakeKube:
    """Enough of KubeApi for informers and the agent: list, watch, get, create, merge_patch.
    `down = True` makes every write fail as an unreachable API server would; `frozen = True`
    makes every call hang until it is False again, as a stopped (SIGSTOP) API server does."""

    def __init__(self) -> None:
        self.objects: dict[Resource, dict[str, JSON]] = {}
        self.queues: dict[Resource, list[asyncio.Queue[JSON]]] = {}
        self.versions = itertools.count(1)
        self.version = 0  # the newest resourceVersion handed out
        self.history: dict[Resource, list[tuple[int, JSON]]] = {}  # what a watch from an old version replays
        self.writes: list[tuple[str, str, JSON]] = []
        self.down = False
        self._thawed = asyncio.Event()
        self._thawed.set()
        self.identity: JSON = {"username": "system:serviceaccount:flowgate:flowgate-agent"}
        self.clock_offset = 0.0

    # -- test side ---------------------------------------------------------------------------

    def put(self, resource: Resource, obj: JSON) -> JSON:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        key = f"{meta.get('namespace')}/{meta['name']}" if meta.get("namespace") else meta["name"]
        old = self.objects.setdefault(resource, {}).get(key)
        kind = "MODIFIED" if old is not None else "ADDED"
        self.version = next(self.versions)
        meta["resourceVersion"] = str(self.version)
        meta.setdefault("uid", f"uid-{self.version}")
        if resource.group and kind == "MODIFIED" and "spec" in obj:
            meta["generation"] = int(self.objects[resource][key]["metadata"].get("generation", 1)) + 1
        meta.setdefault("generation", 1)
        self.objects[resource][key] = obj
        self._send(resource, {"type": kind, "object": copy.deepcopy(obj)}, old)
        return obj

    def remove(self, resource: Resource, key: str) -> None:
        obj = self.objects.get(resource, {}).pop(key)
        self.version = next(self.versions)
        obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.version)}}
        self._send(resource, {"type": "DELETED", "object": obj})

    def _send(self, resource: Resource, event: JSON, old: JSON | None = None) -> None:
        self.history.setdefault(resource, []).append((self.version, {**event, "old": old}))
        for queue in self.queues.get(resource, []):
            queue.put_nowait({**event, "old": old})

    def status_writes(self) -> list[JSON]:
        return [body["status"] for verb, _, body in self.writes if verb == "status"]

    # -- client side -------------------------------------------------------------------------

    async def close(self) -> None:
        pass

    @staticmethod
    def _selected(obj: JSON, params: dict[str, str]) -> bool:
        """The API server's label and field selectors, as far as flowgate uses them."""
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        for term in re.split(r",(?![^(]*\))", params.get("labelSelector", "")):
            if not term:
                continue
            if found := re.fullmatch(r"(\S+) in \((.*)\)", term):
                if labels.get(found[1]) not in found[2].split(","):
                    return False
            elif "!=" in term:
                key, value = term.split("!=", 1)
                if labels.get(key) == value:
                    return False
            elif "=" in term:
                key, value = term.split("=", 1)
                if labels.get(key) != value:
                    return False
            elif term not in labels:
                return False
        for term in filter(None, params.get("fieldSelector", "").split(",")):
            negated = "!=" in term
            path, value = term.split("!=" if negated else "=", 1)
            actual: Any = obj
            for part in path.split("."):
                actual = (actual or {}).get(part)
            if (str(actual) == value) == negated:
                return False
        return True

    async def list(self, resource: Resource, namespace: str | None = None, **params: str) -> JSON:
        items = [copy.deepcopy(o) for o in self.objects.get(resource, {}).values() if self._selected(o, params)]
        return {"items": items, "metadata": {"resourceVersion": str(self.version)}}

    async def watch(
        self,
        resource: Resource,
        resource_version: str,
        *,
        namespace: str | None = None,
        timeout_seconds: int = 300,
        on_open: Any = None,
        **params: str,
    ) -> AsyncIterator[JSON]:
        queue: asyncio.Queue[JSON] = asyncio.Queue()
        # As the API server does: every change after the version asked for, then live ones.
        for version, event in self.history.get(resource, []):
            if version > int(resource_version or 0):
                queue.put_nowait(event)
        self.queues.setdefault(resource, []).append(queue)
        if on_open:
            on_open()
        try:
            while True:
                event = dict(await queue.get())
                old = event.pop("old")
                if self._selected(event["object"], params):
                    yield event
                elif old is not None and self._selected(old, params):
                    # As the API server does: an object that stops matching is deleted for this watch.
                    yield {"type": "DELETED", "object": event["object"]}
        finally:
            self.queues[resource].remove(queue)

    def server_time(self) -> float:
        """The API server's clock: this process's own, moved by `clock_offset`."""
        return time.time() + self.clock_offset

    @property
    def frozen(self) -> bool:
        return not self._thawed.is_set()

    @frozen.setter
    def frozen(self, frozen: bool) -> None:
        if frozen:
            self._thawed.clear()
        else:
            self._thawed.set()

    async def _answer(self) -> None:
        """Wait while frozen, then fail if down."""
        await self._thawed.wait()
        if self.down:
            raise ApiUnreachable("the API server at https://fake is not reachable")

    async def whoami(self) -> JSON:
        await self._answer()
        return dict(self.identity)

    async def get_or_none(self, resource: Resource, name: str, namespace: str | None = None) -> JSON | None:
        await self._answer()
        found = self.objects.get(resource, {}).get(name)
        return copy.deepcopy(found) if found else None

    async def create(self, resource: Resource, obj: JSON, namespace: str | None = None) -> JSON:
        await self._answer()
        key = f"{namespace}/{obj['metadata']['name']}" if namespace else obj["metadata"]["name"]
        if key in self.objects.get(resource, {}):
            raise ApiError(409, "AlreadyExists", "already exists")
        self.writes.append(("event" if resource == EVENTS else "create", obj["metadata"]["name"], obj))
        return self.put(resource, obj)

    async def merge_patch(
        self, resource: Resource, name: str, patch: JSON, namespace: str | None = None, subresource: str | None = None
    ) -> JSON:
        await self._answer()
        key = f"{namespace}/{name}" if namespace else name
        current = self.objects.get(resource, {}).get(key)
        if current is None:
            raise ApiError(404, "NotFound", f"{name} not found")
        self.writes.append((subresource or "patch", name, patch))
        merged = copy.deepcopy(current)
        for field, value in patch.items():  # a merge patch, one level deep (all flowgate sends)
            if isinstance(value, dict):
                combined = {**merged.get(field, {}), **value}
                merged[field] = {k: v for k, v in combined.items() if v is not None}
            else:
                merged[field] = value
        return self.put(resource, merged)

    def events(self) -> list[JSON]:
        """The Events recorded so far, oldest first."""
        return [copy.deepcopy(e) for e in self.objects.get(EVENTS, {}).values()]


class FakeBridge(OvsBridge):
    """A bridge held in memory. `broken` makes OVS unreachable; `applies` counts transactions."""

    def __init__(self) -> None:
        super().__init__("br-int", "/run/fake-ovs")
        self.state: tuple[ExportSettings, ...] = ()
        self.applies = 0
        self.broken = False
        self.vswitchd_down = False  # the database answers, ovs-vswitchd does not
        self.on_change: Callable[[], None] | None = None  # what the agent's OVSDB monitor calls
        self.received: dict[str, float] = {"pod1": 0.0, "pod2": 0.0}  # packets received, by port

    def tamper(self, *state: ExportSettings, seen: bool = False) -> None:
        """Change the bridge behind the agent's back, as an ovnkube-node restart or an admin
        would; `seen` lets the agent's OVSDB monitor notice it."""
        self.state = state
        if seen and self.on_change:
            self.on_change()

    async def read(self) -> tuple[ExportSettings, ...]:
        if self.broken:
            raise OvsError(f"OVS not reachable at {self.db}: database connection failed (Connection refused).")
        return self.state

    async def monitor(self, on_change: Callable[[], None], *, retry_max: float = 30.0) -> None:
        self.on_change = on_change
        await asyncio.Event().wait()

    async def check_vswitchd(self) -> None:
        if self.vswitchd_down:
            raise OvsError(
                "ovs-vswitchd is not running on this node (/run/fake-ovs/ovs-vswitchd.1.ctl: Connection refused)."
            )

    async def received_packets(self) -> dict[str, float]:
        if self.broken:
            raise OvsError(f"OVS not reachable at {self.db}: database connection failed (Connection refused).")
        return dict(self.received)

    async def apply(self, settings: ExportSettings | None) -> None:
        if self.broken:
            raise OvsError(f"OVS not reachable at {self.db}: database connection failed (Connection refused).")
        self.applies += 1
        self.state = () if settings is None else (settings,)


async def eventually(check: Callable[[], Any], timeout: float = 3.0, what: str | None = None) -> None:
    """Until `check()` is true; past `timeout` seconds, an AssertionError naming what it waited
    for (`what`, else the check's own source line) and what the check last returned."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        last = check()
        if last:
            return
        if loop.time() >= deadline:
            break
        await asyncio.sleep(0.01)
    if what is None:
        try:
            what = inspect.getsource(check).strip()
        except (OSError, TypeError):
            what = repr(check)
    raise AssertionError(f"waited {timeout:g} s for {what}; the check still returned {last!r}")


class NeverSource:
    """A source for informers that tests feed by hand (they never run)."""

    def __init__(self, resource: Resource) -> None:
        self.resource = resource

    async def list(self) -> Listing:
        raise AssertionError("a hand-fed informer is never listed")

    def watch(self, resource_version: str, on_open: Callable[[], None]) -> AsyncIterator[JSON]:
        raise AssertionError("a hand-fed informer is never watched")


def services(hub: StatusHub, authorizer: Any = None) -> Any:
    """The gateway's services over a hand-fed hub, authentication off unless an authorizer is
    given (no API server is reached)."""
    from kubernetes_asyncio.client import Configuration

    from gateway.access import Authorizer
    from gateway.kube.config import ClusterAccess
    from gateway.metrics import Metrics
    from gateway.resolvers.context import Services, caller_api
    from gateway.service.switch import FlowSwitch

    authorizer = authorizer or Authorizer(None)
    metrics = Metrics()
    metrics.track(hub, authorizer)
    access = ClusterAccess(Configuration(host="https://127.0.0.1:1"), source="test")
    return Services(hub=hub, switch=FlowSwitch(hub), authorizer=authorizer, metrics=metrics, api_for=caller_api(access))


class Cluster:
    """The kinds flow state is derived from, fed by hand as their watches would feed them, and
    the status hub reading them."""

    def __init__(self) -> None:
        self.informers = InformerSet(
            [
                Informer(NeverSource(FLOW_EXPORTS)),
                Informer(NeverSource(FLOWS)),
                Informer(NeverSource(NODES)),
                Informer(NeverSource(CONFIG_NETWORKS), optional=True),
                Informer(NeverSource(OPERATOR_NETWORKS), optional=True),
            ]
        )
        self.hub = StatusHub(self.informers)

    def sync(self) -> None:
        for informer in self.informers.informers:
            informer.synced.set()
            informer.reflector.connected = True
        self.hub._recompute(self.hub._node_names())

    def informer(self, resource: Resource) -> Informer:
        found = self.informers.by_resource(resource)
        assert found is not None
        return found

    def put(self, resource: Resource, obj: JSON) -> None:
        informer = self.informer(resource)
        informer._emit(informer.store.apply("MODIFIED", obj))

    def delete(self, resource: Resource, obj: JSON) -> None:
        informer = self.informer(resource)
        informer._emit(informer.store.apply("DELETED", obj))


def node(name: str, ip: str = "10.0.0.1") -> JSON:
    return {
        "metadata": {"name": name, "resourceVersion": "1", "annotations": {"k8s.ovn.org/node-subnets": "{}"}},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
    }


def export(flow_type: str | None, generation: int) -> JSON:
    spec: JSON = {"type": flow_type, "collector": {"nodePort": 30001}} if flow_type else {}
    return {"metadata": {"name": "cluster", "generation": generation, "resourceVersion": str(generation)}, "spec": spec}


def flow(name: str, state: str, generation: int, endpoint: str | None = None) -> JSON:
    status: JSON = {"state": state, "observedGeneration": generation, "type": "NetFlow"}
    if endpoint:
        status["endpoint"] = endpoint
    return {"metadata": {"name": name, "resourceVersion": "x"}, "status": status}
