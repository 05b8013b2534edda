"""The one list+watch layer: an in-memory copy of each watched kind, kept current by a single
watch per kind, with change listeners. Gateway subscriptions and agent reconciles read from here;
nothing else in flowgate opens a watch, so API server load does not grow with subscribers.

Each watch resumes from its last resourceVersion, relists on 410 Gone (emitting the difference
as events, so listeners never miss a deletion), reconnects with capped backoff, and a watchdog
restarts a stream that stays silent longer than bookmarks allow."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from gateway.kube.client import ApiError, ApiUnreachable, KubeClient
from gateway.kube.resources import Resource

log = logging.getLogger(__name__)
JSON = dict[str, Any]


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED
    resource: Resource
    object: JSON
    old: JSON | None = None

    @property
    def name(self) -> str:
        return str(self.object.get("metadata", {}).get("name", ""))


Listener = Callable[[WatchEvent], None]


def object_key(obj: JSON) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name"))


class ResourceCache:
    """All objects of one kind (optionally narrowed by name or label selector), kept current."""

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        *,
        name: str | None = None,
        label_selector: str | None = None,
        watch_timeout_seconds: int = 60,
        silence_timeout: float = 90.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 3.0,
        optional: bool = False,
        absent_recheck: float = 30.0,
    ) -> None:
        self.client = client
        self.resource = resource
        self._params: dict[str, str] = {}
        if name:
            self._params["fieldSelector"] = f"metadata.name={name}"
        if label_selector:
            self._params["labelSelector"] = label_selector
        self._watch_timeout = watch_timeout_seconds
        self._silence_timeout = silence_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        # An optional kind (e.g. config.openshift.io Network on plain Kubernetes) may not be
        # served at all: a 404 then means "no objects", the cache counts as synced, and the kind
        # is looked for again now and then in case its CRD is installed later.
        self.optional = optional
        self._absent_recheck = absent_recheck
        self.absent = False
        self._store: dict[str, JSON] = {}
        self._listeners: list[Listener] = []
        self.synced = asyncio.Event()
        self.connected = False
        self.resource_version = ""
        # Figures for /metrics and tests.
        self.restarts = 0  # watch failures and watchdog restarts
        self.relists = 0
        self.events = 0
        self.last_event_at = 0.0  # time.time() of the newest event's arrival
        self.last_error: str | None = None

    # -- reading ---------------------------------------------------------------------------

    def get(self, name: str, namespace: str | None = None) -> JSON | None:
        return self._store.get(f"{namespace}/{name}" if namespace else name)

    def items(self) -> list[JSON]:
        return list(self._store.values())

    def __iter__(self) -> Iterator[JSON]:
        return iter(list(self._store.values()))

    def __len__(self) -> int:
        return len(self._store)

    @property
    def ready(self) -> bool:
        """Listed at least once and watching now: what /readyz asks of every kind."""
        return self.synced.is_set() and self.connected

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call listener (synchronously, on the event loop) for every change; keep it cheap."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # -- keeping current -------------------------------------------------------------------

    def _emit(self, event: WatchEvent) -> None:
        self.events += 1
        self.last_event_at = time.time()
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("listener for %s failed on %s %s", self.resource, event.type, event.name)

    def _apply(self, kind: str, obj: JSON) -> None:
        key = object_key(obj)
        if kind == "DELETED":
            old = self._store.pop(key, None)
            self._emit(WatchEvent("DELETED", self.resource, obj, old))
        else:
            old = self._store.get(key)
            self._store[key] = obj
            self._emit(WatchEvent("MODIFIED" if old is not None else "ADDED", self.resource, obj, old))

    async def _relist(self) -> None:
        listing = await self.client.list(self.resource, **self._params)
        fresh = {object_key(o): o for o in listing.get("items") or []}
        for item in fresh.values():
            item.setdefault("apiVersion", self.resource.api_version)
            item.setdefault("kind", self.resource.kind)
        # Listeners may read the whole cache: let them see the new listing, not a half-built one.
        stale, self._store = self._store, fresh
        for key, obj in fresh.items():
            old = stale.get(key)
            same = old is not None and old["metadata"].get("resourceVersion") == obj["metadata"].get("resourceVersion")
            if not same:
                self._emit(WatchEvent("MODIFIED" if old else "ADDED", self.resource, obj, old))
        for key, old in stale.items():
            if key not in fresh:
                self._emit(WatchEvent("DELETED", self.resource, old, old))
        self.resource_version = str((listing.get("metadata") or {}).get("resourceVersion") or "")
        self.synced.set()

    def _mark_absent(self) -> None:
        """The kind is not served: forget what we had (telling listeners) and count as synced."""
        stale, self._store = self._store, {}
        for old in stale.values():
            self._emit(WatchEvent("DELETED", self.resource, old, old))
        self.absent = True
        self.resource_version = ""
        self.connected = True
        self.synced.set()

    async def _watch_once(self) -> None:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self._silence_timeout) as deadline:
            async for event in self.client.watch(
                self.resource,
                self.resource_version,
                timeout_seconds=self._watch_timeout,
                on_open=self._opened,
                **self._params,
            ):
                deadline.reschedule(loop.time() + self._silence_timeout)
                obj = event.get("object") or {}
                version = (obj.get("metadata") or {}).get("resourceVersion")
                if event.get("type") != "BOOKMARK":
                    self._apply(str(event.get("type")), obj)
                if version:
                    self.resource_version = str(version)

    def _opened(self) -> None:
        self.connected = True

    async def run(self) -> None:
        """Keep the copy current until cancelled."""
        backoff = self._backoff_initial
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                    self.absent = False
                    self.connected = True
                await self._watch_once()
                backoff = self._backoff_initial
            except asyncio.CancelledError:
                self.connected = False
                raise
            except ApiError as exc:
                if exc.gone:
                    self.relists += 1
                    need_list = True
                    continue
                if exc.not_found and self.optional:
                    self._mark_absent()
                    need_list = True
                    await asyncio.sleep(self._absent_recheck)
                    continue
                await self._fail(f"{exc.status} {exc.message}", backoff)
                backoff = min(backoff * 2, self._backoff_max)
            except TimeoutError:
                await self._fail(f"no event or bookmark for {self._silence_timeout:.0f}s", backoff)
            except ApiUnreachable as exc:
                await self._fail(str(exc), backoff)
                backoff = min(backoff * 2, self._backoff_max)
            except Exception as exc:
                # Anything unforeseen (a malformed event, a listener-side bug in parsing) must not
                # end this watch for good: its readers would silently stop seeing changes.
                log.exception("watch of %s failed unexpectedly; listing it again", self.resource)
                need_list = True
                await self._fail(f"unexpected {type(exc).__name__}: {exc}", backoff)
                backoff = min(backoff * 2, self._backoff_max)

    async def _fail(self, why: str, backoff: float) -> None:
        self.connected = False
        self.restarts += 1
        if why != self.last_error:
            log.warning("watch of %s restarting in %.1fs: %s", self.resource, backoff, why)
        self.last_error = why
        await asyncio.sleep(backoff)


class ClusterCache:
    """The set of watched kinds one process needs, started and stopped together."""

    def __init__(self, caches: Iterable[ResourceCache]) -> None:
        self.caches = list(caches)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(c.run(), name=f"watch {c.resource}") for c in self.caches]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def wait_synced(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(c.synced.wait() for c in self.caches))

    @property
    def synced(self) -> bool:
        return all(c.synced.is_set() for c in self.caches)

    @property
    def ready(self) -> bool:
        """Synced, and every watch currently connected (what /readyz reports)."""
        return all(c.ready for c in self.caches)

    @property
    def watch_count(self) -> int:
        return len(self._tasks)
