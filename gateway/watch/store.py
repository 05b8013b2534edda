"""The objects of one kind as last seen, and the change each update makes of them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from gateway.kube.resources import Resource

JSON = dict[str, Any]


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED
    resource: Resource
    object: JSON
    old: JSON | None = None

    @property
    def name(self) -> str:
        return str((self.object.get("metadata") or {}).get("name", ""))


def object_key(obj: JSON) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name"))


def _version(obj: JSON | None) -> Any:
    return None if obj is None else (obj.get("metadata") or {}).get("resourceVersion")


class Store:
    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self._objects: dict[str, JSON] = {}

    def get(self, name: str, namespace: str | None = None) -> JSON | None:
        return self._objects.get(f"{namespace}/{name}" if namespace else name)

    def items(self) -> list[JSON]:
        return list(self._objects.values())

    def __iter__(self) -> Iterator[JSON]:
        return iter(list(self._objects.values()))

    def __len__(self) -> int:
        return len(self._objects)

    def apply(self, kind: str, obj: JSON) -> WatchEvent:
        """One watch event (ADDED, MODIFIED or DELETED) applied."""
        key = object_key(obj)
        if kind == "DELETED":
            return WatchEvent("DELETED", self.resource, obj, self._objects.pop(key, None))
        old = self._objects.get(key)
        self._objects[key] = obj
        return WatchEvent("MODIFIED" if old is not None else "ADDED", self.resource, obj, old)

    def replace(self, items: Iterable[JSON]) -> list[WatchEvent]:
        """Install a fresh listing whole, and return what changed against the old one (so a
        relist after 410 Gone still tells listeners about every deletion they missed). The new
        listing is in place before anyone is told: a listener reading the store never sees it
        half rebuilt."""
        fresh = {object_key(o): o for o in items}
        stale, self._objects = self._objects, fresh
        events = [
            WatchEvent("MODIFIED" if key in stale else "ADDED", self.resource, obj, stale.get(key))
            for key, obj in fresh.items()
            if _version(stale.get(key)) != _version(obj) or key not in stale
        ]
        events += [WatchEvent("DELETED", self.resource, old, old) for key, old in stale.items() if key not in fresh]
        return events
