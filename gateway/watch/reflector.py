"""The loop that keeps one store current: list, then watch from the listing's resourceVersion,
resume from the last version seen (bookmarks included) when a stream ends or breaks, list again
on 410 Gone, and restart a stream that stays silent longer than bookmarks allow.

flowgate keeps this loop itself rather than using kubernetes_asyncio's `watch.Watch().stream()`:
that helper reconnects on its own but cannot tell a caller that the version it resumed from is
gone (which must end in a fresh list whose difference reaches every listener), does not report a
stream that went silent, and hides when the server accepted the watch (what readiness reports).
Source, clock and backoff are injected, so every path is tested without a server or a sleep."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from gateway.kube.api import ApiError, ApiUnreachable
from gateway.retry import Backoff
from gateway.watch.clock import SYSTEM_CLOCK, Clock
from gateway.watch.source import ListerWatcher
from gateway.watch.store import Store, WatchEvent

log = logging.getLogger(__name__)

Emit = Callable[[WatchEvent], None]


class WatchStalled(Exception):
    """No event and no bookmark arrived for longer than the silence timeout."""


class Reflector:
    def __init__(
        self,
        source: ListerWatcher,
        store: Store,
        emit: Emit,
        *,
        clock: Clock = SYSTEM_CLOCK,
        backoff: Backoff | None = None,
        silence_timeout: float = 90.0,
        optional: bool = False,
        absent_recheck: float = 30.0,
    ) -> None:
        self.source = source
        self.store = store
        self.emit = emit
        self.clock = clock
        self.backoff = backoff or Backoff(0.2, 3.0, jitter=0.2)
        self.silence_timeout = silence_timeout
        # An optional kind (config.openshift.io Network on plain Kubernetes) may not be served at
        # all: a 404 then means "no objects", the kind counts as synced, and it is looked for
        # again now and then in case its CRD is installed later.
        self.optional = optional
        self.absent_recheck = absent_recheck
        self.absent = False
        self.synced = asyncio.Event()
        self.connected = False
        self.resource_version = ""
        self.restarts = 0  # watch failures and watchdog restarts
        self.relists = 0  # lists after 410 Gone
        self.last_error: str | None = None
        self._last_activity = 0.0

    @property
    def ready(self) -> bool:
        """Listed at least once and watching now."""
        return self.synced.is_set() and self.connected

    async def list_once(self) -> None:
        """List into the store (and tell listeners what changed) without watching: a one-shot
        reader such as `kubectl flows status` needs no more."""
        try:
            listing = await self.source.list()
        except ApiError as exc:
            if not (exc.not_found and self.optional):
                raise
            self._mark_absent()
            return
        for event in self.store.replace(listing.items):
            self.emit(event)
        self.resource_version = listing.resource_version
        self.absent = False
        self.synced.set()

    async def run(self) -> None:
        """Keep the store current until cancelled (watching on from a list_once, if there was one)."""
        need_list = not self.synced.is_set() or self.absent
        while True:
            try:
                if need_list:
                    await self.list_once()
                    need_list = False
                    if self.absent:
                        await self.clock.sleep(self.absent_recheck)
                        need_list = True
                        continue
                    self.connected = True
                await self._watch()
                self.backoff.reset()  # the server ended the stream (timeoutSeconds): resume at once
            except asyncio.CancelledError:
                self.connected = False
                raise
            except ApiError as exc:
                if exc.gone:
                    self.relists += 1
                    need_list = True
                    log.info(
                        "the API server no longer has resourceVersion %s of %s (410 Gone); listing it again",
                        self.resource_version or "(none)",
                        self.source.resource,
                    )
                    continue
                if exc.not_found and self.optional:
                    need_list = True
                    continue
                await self._fail(f"{exc.status} {exc.message}")
            except WatchStalled:
                await self._fail(f"no event or bookmark for {self.silence_timeout:g}s")
            except ApiUnreachable as exc:
                await self._fail(str(exc))
            except Exception as exc:
                # Anything unforeseen (a malformed event, say) must not end this watch for good:
                # its readers would silently stop seeing changes.
                log.exception("watch of %s failed unexpectedly; listing it again", self.source.resource)
                need_list = True
                await self._fail(f"unexpected {type(exc).__name__}: {exc}")

    async def _watch(self) -> None:
        """One watch stream, under a watchdog: returns when the server ends it, raises what broke
        it, or WatchStalled when it stays silent for silence_timeout."""
        self._last_activity = self.clock.monotonic()
        consumer = asyncio.ensure_future(self._consume())
        try:
            while True:
                remaining = self._last_activity + self.silence_timeout - self.clock.monotonic()
                if remaining <= 0:
                    raise WatchStalled()
                nap = asyncio.ensure_future(self.clock.sleep(remaining))
                try:
                    await asyncio.wait({consumer, nap}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    nap.cancel()
                if consumer.done():
                    consumer.result()  # re-raises what ended the stream
                    return
        finally:
            if not consumer.done():
                consumer.cancel()
                await asyncio.gather(consumer, return_exceptions=True)

    async def _consume(self) -> None:
        async for event in self.source.watch(self.resource_version, self._opened):
            self._last_activity = self.clock.monotonic()
            obj = event.get("object") or {}
            kind = str(event.get("type"))
            if kind != "BOOKMARK":
                self.emit(self.store.apply(kind, obj))
            version = (obj.get("metadata") or {}).get("resourceVersion")
            if version:
                self.resource_version = str(version)

    def _opened(self) -> None:
        self.connected = True
        self.last_error = None

    def _mark_absent(self) -> None:
        """The kind is not served: forget what we had (telling listeners) and count as synced."""
        for event in self.store.replace(()):
            self.emit(event)
        self.absent = True
        self.resource_version = ""
        self.connected = True
        self.synced.set()

    async def _fail(self, why: str) -> None:
        self.connected = False
        self.restarts += 1
        delay = self.backoff.next()
        if why != self.last_error:
            log.warning("watch of %s restarting in %.1fs: %s", self.source.resource, delay, why)
        self.last_error = why
        await self.clock.sleep(delay)
