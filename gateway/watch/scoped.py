"""One kind watched under selectors that follow what its reader needs now (a node agent's
collector Services and their EndpointSlices): the API server filters, so a node holds a handful
of objects rather than every Service in the cluster. New selectors replace the watch (list and
watch again under them); no selectors mean no watch at all."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from gateway.watch.informer import Informer, Listener, Listeners
from gateway.watch.store import WatchEvent

JSON = dict[str, Any]
Selectors = tuple[str | None, str | None]  # label selector, field selector
InformerFactory = Callable[[str | None, str | None], Informer]


class ScopedInformer:
    def __init__(self, what: str, factory: InformerFactory, *, on_synced: Callable[[], None] | None = None) -> None:
        self.what = what
        self._factory = factory
        self._on_synced = on_synced
        self.listeners = Listeners(what)
        self.selectors: Selectors | None = None  # None: not watched
        self.informer: Informer | None = None
        self._task: asyncio.Task[None] | None = None
        self.rescopes = 0

    def scope(self, label_selector: str | None, field_selector: str | None, *, watched: bool = True) -> bool:
        """Watch under these selectors (or nothing, `watched=False`); True when that changed the
        watch, whose store is then empty until the new list arrives (see `synced`)."""
        wanted: Selectors | None = (label_selector, field_selector) if watched else None
        if wanted == self.selectors:
            return False
        self._cancel()
        self.selectors = wanted
        self.rescopes += 1
        if wanted is None:
            self.informer = None
            return True
        informer = self._factory(*wanted)
        informer.add_listener(self._forward)
        self.informer = informer
        self._task = asyncio.create_task(self._run(informer), name=f"watch {self.what}")
        return True

    def unscope(self) -> bool:
        return self.scope(None, None, watched=False)

    async def _run(self, informer: Informer) -> None:
        watching = asyncio.create_task(informer.run())
        try:
            synced = asyncio.create_task(informer.synced.wait())
            await asyncio.wait({watching, synced}, return_when=asyncio.FIRST_COMPLETED)
            synced.cancel()
            if informer.synced.is_set() and self._on_synced is not None:
                self._on_synced()  # an empty list changes nothing in the store, yet the reader must look
            await watching
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching

    def _forward(self, event: WatchEvent) -> None:
        self.listeners.emit(event)

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        return self.listeners.add(listener)

    @property
    def synced(self) -> bool:
        """Nothing watched, or the current selectors' objects listed."""
        return self.informer is None or self.informer.synced.is_set()

    @property
    def watching(self) -> bool:
        return self.informer is not None

    def items(self) -> list[JSON]:
        return self.informer.items() if self.informer is not None else []

    def __len__(self) -> int:
        return len(self.informer) if self.informer is not None else 0

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.informer = None
        self.selectors = None
