"""In-memory stand-ins for the API server and OVS, for fast tests of the agent's decisions."""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

from gateway.agent.ovs import ExportSettings, OvsBridge, OvsError
from gateway.kube.client import ApiError, ApiUnreachable
from gateway.kube.resources import Resource

JSON = dict[str, Any]


class FakeKube:
    """Enough of KubeClient for ResourceCache and the agent: list, watch, get, create, merge_patch.
    `down = True` makes every write fail as an unreachable API server would."""

    def __init__(self) -> None:
        self.objects: dict[Resource, dict[str, JSON]] = {}
        self.queues: dict[Resource, list[asyncio.Queue[JSON]]] = {}
        self.versions = itertools.count(1)
        self.writes: list[tuple[str, str, JSON]] = []
        self.down = False

    # -- test side ---------------------------------------------------------------------------

    def put(self, resource: Resource, obj: JSON) -> JSON:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        key = f"{meta.get('namespace')}/{meta['name']}" if meta.get("namespace") else meta["name"]
        kind = "MODIFIED" if key in self.objects.setdefault(resource, {}) else "ADDED"
        meta["resourceVersion"] = str(next(self.versions))
        if resource.group and kind == "MODIFIED" and "spec" in obj:
            meta["generation"] = int(self.objects[resource][key]["metadata"].get("generation", 1)) + 1
        meta.setdefault("generation", 1)
        self.objects[resource][key] = obj
        self._send(resource, {"type": kind, "object": copy.deepcopy(obj)})
        return obj

    def remove(self, resource: Resource, key: str) -> None:
        obj = self.objects.get(resource, {}).pop(key)
        self._send(resource, {"type": "DELETED", "object": obj})

    def _send(self, resource: Resource, event: JSON) -> None:
        for queue in self.queues.get(resource, []):
            queue.put_nowait(event)

    def status_writes(self) -> list[JSON]:
        return [body["status"] for verb, _, body in self.writes if verb == "status"]

    # -- client side -------------------------------------------------------------------------

    @staticmethod
    def _selected(obj: JSON, params: dict[str, str]) -> bool:
        field = params.get("fieldSelector", "")
        return not field or obj["metadata"]["name"] == field.removeprefix("metadata.name=")

    async def list(self, resource: Resource, **params: str) -> JSON:
        items = [copy.deepcopy(o) for o in self.objects.get(resource, {}).values() if self._selected(o, params)]
        return {"items": items, "metadata": {"resourceVersion": "0"}}

    async def watch(
        self,
        resource: Resource,
        resource_version: str,
        *,
        timeout_seconds: int = 300,
        on_open: Any = None,
        **params: str,
    ) -> AsyncIterator[JSON]:
        queue: asyncio.Queue[JSON] = asyncio.Queue()
        self.queues.setdefault(resource, []).append(queue)
        if on_open:
            on_open()
        try:
            while True:
                event = await queue.get()
                if self._selected(event["object"], params):
                    yield event
        finally:
            self.queues[resource].remove(queue)

    async def get_or_none(self, resource: Resource, name: str, namespace: str | None = None) -> JSON | None:
        if self.down:
            raise ApiUnreachable("the API server at https://fake is not reachable")
        found = self.objects.get(resource, {}).get(name)
        return copy.deepcopy(found) if found else None

    async def create(self, resource: Resource, obj: JSON, namespace: str | None = None) -> JSON:
        if self.down:
            raise ApiUnreachable("the API server at https://fake is not reachable")
        if obj["metadata"]["name"] in self.objects.get(resource, {}):
            raise ApiError(409, "AlreadyExists", "already exists")
        self.writes.append(("create", obj["metadata"]["name"], obj))
        return self.put(resource, obj)

    async def merge_patch(
        self, resource: Resource, name: str, patch: JSON, namespace: str | None = None, subresource: str | None = None
    ) -> JSON:
        if self.down:
            raise ApiUnreachable("the API server at https://fake is not reachable")
        current = self.objects.get(resource, {}).get(name)
        if current is None:
            raise ApiError(404, "NotFound", f"{name} not found")
        self.writes.append((subresource or "patch", name, patch))
        merged = copy.deepcopy(current)
        status = {**merged.get("status", {}), **patch["status"]}
        merged["status"] = {k: v for k, v in status.items() if v is not None}
        return self.put(resource, merged)


class FakeBridge(OvsBridge):
    """A bridge held in memory. `broken` makes OVS unreachable; `applies` counts transactions."""

    def __init__(self) -> None:
        super().__init__("br-int", "/run/fake-ovs")
        self.state: tuple[ExportSettings, ...] = ()
        self.applies = 0
        self.broken = False
        self.on_change: Callable[[], None] | None = None  # what the agent's OVSDB monitor calls

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

    async def apply(self, settings: ExportSettings | None) -> None:
        if self.broken:
            raise OvsError(f"OVS not reachable at {self.db}: database connection failed (Connection refused).")
        self.applies += 1
        self.state = () if settings is None else (settings,)


async def eventually(check: Callable[[], bool], timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")
