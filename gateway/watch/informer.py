"""One watched kind as its readers use it (store, readiness, change listeners), and the set of
kinds a process starts and stops together."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gateway.kube.api import KubeApi
from gateway.kube.resources import Resource
from gateway.retry import Backoff
from gateway.watch.clock import SYSTEM_CLOCK, Clock
from gateway.watch.reflector import Reflector
from gateway.watch.source import ApiSource, ListerWatcher
from gateway.watch.store import Store, WatchEvent

log = logging.getLogger(__name__)
JSON = dict[str, Any]
Listener = Callable[[WatchEvent], None]


class Listeners:
    """Fan-out of change events. Listeners run synchronously on the event loop and must be cheap;
    one that raises is logged and the others still hear the event."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._listeners: list[Listener] = []

    def add(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def emit(self, event: WatchEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("a listener of %s failed on %s %s", self.what, event.type, event.name)


class Informer:
    def __init__(
        self,
        source: ListerWatcher,
        *,
        clock: Clock = SYSTEM_CLOCK,
        backoff: Backoff | None = None,
        silence_timeout: float = 90.0,
        optional: bool = False,
        absent_recheck: float = 30.0,
    ) -> None:
        self.source = source
        self.resource: Resource = source.resource
        self.store = Store(self.resource)
        self.listeners = Listeners(str(self.resource))
        self.reflector = Reflector(
            source,
            self.store,
            self._emit,
            clock=clock,
            backoff=backoff,
            silence_timeout=silence_timeout,
            optional=optional,
            absent_recheck=absent_recheck,
        )
        self.events = 0
        self.last_event_at = 0.0  # time.time() of the newest change

    @classmethod
    def on_api(
        cls,
        api: KubeApi,
        resource: Resource,
        *,
        name: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        namespace: str | None = None,
        **options: Any,
    ) -> Informer:
        source = ApiSource(
            api,
            resource,
            name=name,
            label_selector=label_selector,
            field_selector=field_selector,
            namespace=namespace,
        )
        return cls(source, **options)

    def _emit(self, event: WatchEvent) -> None:
        self.events += 1
        self.last_event_at = time.time()
        self.listeners.emit(event)

    # -- reading -------------------------------------------------------------------------------

    def get(self, name: str, namespace: str | None = None) -> JSON | None:
        return self.store.get(name, namespace)

    def items(self) -> list[JSON]:
        return self.store.items()

    def __iter__(self) -> Iterator[JSON]:
        return iter(self.store)

    def __len__(self) -> int:
        return len(self.store)

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        return self.listeners.add(listener)

    @property
    def synced(self) -> asyncio.Event:
        return self.reflector.synced

    @property
    def ready(self) -> bool:
        return self.reflector.ready

    @property
    def restarts(self) -> int:
        return self.reflector.restarts

    @property
    def relists(self) -> int:
        return self.reflector.relists

    @property
    def last_error(self) -> str | None:
        return self.reflector.last_error

    # -- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        await self.reflector.run()

    async def list_once(self) -> None:
        await self.reflector.list_once()


class InformerSet:
    """The kinds one process watches, started and stopped together."""

    def __init__(self, informers: Iterable[Informer]) -> None:
        self.informers = list(informers)
        self._tasks: list[asyncio.Task[None]] = []

    def by_resource(self, resource: Resource) -> Informer | None:
        return next((i for i in self.informers if i.resource == resource), None)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(i.run(), name=f"watch {i.resource}") for i in self.informers]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def list_once(self) -> None:
        """Every kind listed once, none watched (one-shot readers)."""
        await asyncio.gather(*(i.list_once() for i in self.informers))

    async def wait_synced(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(i.synced.wait() for i in self.informers))

    def waiting(self) -> list[str]:
        """The kinds not yet listed, and why, for "still waiting" messages."""
        return [
            f"{i.resource}" + (f" ({i.last_error})" if i.last_error else "")
            for i in self.informers
            if not i.synced.is_set()
        ]

    @property
    def synced(self) -> bool:
        return all(i.synced.is_set() for i in self.informers)

    @property
    def ready(self) -> bool:
        """Synced, and every watch connected now (what /readyz reports)."""
        return all(i.ready for i in self.informers)

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    @property
    def watch_count(self) -> int:
        return len(self._tasks)
