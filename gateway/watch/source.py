"""What a reflector lists and watches: one kind on the API server, maybe narrowed by object name,
label or field selector (so an agent watches only what concerns its own node)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.kube.api import KubeApi
from gateway.kube.resources import Resource

JSON = dict[str, Any]


@dataclass(frozen=True)
class Listing:
    items: list[JSON]
    resource_version: str


class ListerWatcher(Protocol):
    """A list and a watch of the same selection; a fake one drives reflector tests."""

    resource: Resource

    async def list(self) -> Listing: ...

    def watch(self, resource_version: str, on_open: Callable[[], None]) -> AsyncIterator[JSON]: ...


@dataclass
class ApiSource:
    """The selection as the API server serves it."""

    api: KubeApi
    resource: Resource
    name: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None
    namespace: str | None = None
    watch_timeout_seconds: int = 60
    params: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        fields = [f"metadata.name={self.name}"] if self.name else []
        if self.field_selector:
            fields.append(self.field_selector)
        self.params = {}
        if fields:
            self.params["fieldSelector"] = ",".join(fields)
        if self.label_selector:
            self.params["labelSelector"] = self.label_selector

    def describe(self) -> str:
        narrowed = [v for v in (self.params.get("fieldSelector"), self.params.get("labelSelector")) if v]
        return f"{self.resource} ({', '.join(narrowed)})" if narrowed else str(self.resource)

    async def list(self) -> Listing:
        answer = await self.api.list(self.resource, self.namespace, **self.params)
        items = list(answer.get("items") or [])
        for item in items:
            # List items come without apiVersion/kind; watch events carry them. Make both alike.
            item.setdefault("apiVersion", self.resource.api_version)
            item.setdefault("kind", self.resource.kind)
        return Listing(items, str((answer.get("metadata") or {}).get("resourceVersion") or ""))

    def watch(self, resource_version: str, on_open: Callable[[], None]) -> AsyncIterator[JSON]:
        return self.api.watch(
            self.resource,
            resource_version,
            namespace=self.namespace,
            timeout_seconds=self.watch_timeout_seconds,
            on_open=on_open,
            **self.params,
        )
