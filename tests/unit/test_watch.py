"""The one list+watch layer, each part on its own: the store's diffs, the reflector's loop (resume
from the last resourceVersion, relist on 410 Gone with the difference delivered, watchdog restart
of a silent stream, backoff on failures, an optional kind that is not served) and the listener
fan-out. A scripted source stands in for the API server and a fake clock for time: nothing here
sleeps or opens a socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from gateway.kube.api import ApiError, ApiUnreachable
from gateway.kube.resources import CONFIG_NETWORKS, FLOWS, Resource
from gateway.retry import Backoff
from gateway.watch.informer import Informer, InformerSet, Listeners
from gateway.watch.reflector import Reflector
from gateway.watch.source import Listing
from gateway.watch.store import Store, WatchEvent
from tests.unit.fakes import FakeClock, settle

JSON = dict[str, Any]
Script = Callable[[], AsyncIterator[JSON]]


def flow(name: str, rv: str, state: str = "Disabled") -> JSON:
    return {"metadata": {"name": name, "resourceVersion": rv}, "status": {"state": state}}


class ScriptedSource:
    """Answers list and watch calls from a script; records what was asked."""

    def __init__(self, lists: list[Listing | Exception], watches: list[Script], resource: Resource = FLOWS) -> None:
        self.resource = resource
        self.lists = lists
        self.watches = watches
        self.calls: list[tuple[str, str]] = []  # ("list", "") or ("watch", resourceVersion)

    async def list(self) -> Listing:
        self.calls.append(("list", ""))
        answer = self.lists.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def watch(self, resource_version: str, on_open: Callable[[], None]) -> AsyncIterator[JSON]:
        self.calls.append(("watch", resource_version))
        script = self.watches.pop(0) if self.watches else hang
        on_open()
        async for event in script():
            yield event


async def hang() -> AsyncIterator[JSON]:
    await asyncio.Event().wait()
    yield {}


def listing(rv: str, *items: JSON) -> Listing:
    return Listing(list(items), rv)


def events(*items: JSON) -> Script:
    async def stream() -> AsyncIterator[JSON]:
        for item in items:
            yield item

    return stream


def failing(exc: Exception) -> Script:
    async def stream() -> AsyncIterator[JSON]:
        raise exc
        yield {}

    return stream


class Running:
    """An informer on a scripted source and a fake clock, its events recorded."""

    def __init__(self, source: ScriptedSource, **kw: Any) -> None:
        self.source = source
        self.clock = FakeClock()
        self.informer = Informer(source, clock=self.clock, backoff=Backoff(0.5, 4.0), **kw)
        self.seen: list[tuple[str, str]] = []
        self.informer.add_listener(lambda e: self.seen.append((e.type, e.name)))
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Running:
        self.task = asyncio.create_task(self.informer.run())
        await settle()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


# -- store --------------------------------------------------------------------------------------


def test_store_replace_reports_only_what_changed_and_installs_the_listing_first() -> None:
    store = Store(FLOWS)
    store.replace([flow("a", "1"), flow("b", "1")])
    views: list[list[str]] = []
    events_ = store.replace([flow("b", "1"), flow("c", "2"), flow("a", "3")])
    views.append(sorted(o["metadata"]["name"] for o in store))
    assert [(e.type, e.name) for e in events_] == [("ADDED", "c"), ("MODIFIED", "a")]
    assert views == [["a", "b", "c"]]
    gone = store.replace([flow("c", "2")])
    assert sorted((e.type, e.name) for e in gone) == [("DELETED", "a"), ("DELETED", "b")]


def test_store_apply_keeps_the_old_object_on_the_event() -> None:
    store = Store(FLOWS)
    first = store.apply("ADDED", flow("a", "1"))
    second = store.apply("MODIFIED", flow("a", "2", "Emitting"))
    deleted = store.apply("DELETED", flow("a", "3"))
    assert first.old is None and second.old == flow("a", "1")
    assert deleted.type == "DELETED" and deleted.old == flow("a", "2", "Emitting") and len(store) == 0


# -- reflector ----------------------------------------------------------------------------------


async def test_a_watch_that_ends_resumes_from_the_last_resource_version() -> None:
    source = ScriptedSource(
        [listing("10", flow("node-1", "9"))],
        [
            events({"type": "MODIFIED", "object": flow("node-1", "11", "Emitting")}),
            events({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "15"}}}),
        ],
    )
    async with Running(source) as running:
        assert source.calls[:4] == [("list", ""), ("watch", "10"), ("watch", "11"), ("watch", "15")]
        assert running.informer.get("node-1")["status"]["state"] == "Emitting"  # type: ignore[index]
        assert running.informer.relists == 0 and running.informer.restarts == 0
        assert running.informer.ready
    assert running.seen == [("ADDED", "node-1"), ("MODIFIED", "node-1")]


async def test_gone_relists_and_delivers_the_difference() -> None:
    source = ScriptedSource(
        [
            listing("10", flow("node-1", "9"), flow("node-2", "9")),
            # While we were away node-1's Flow went, node-2's did not change, node-3's appeared.
            listing("20", flow("node-2", "9"), flow("node-3", "19")),
        ],
        [failing(ApiError(410, "Expired", "too old resource version: 10 (15)"))],
    )
    async with Running(source) as running:
        assert source.calls == [("list", ""), ("watch", "10"), ("list", ""), ("watch", "20")]
        assert sorted(o["metadata"]["name"] for o in running.informer.items()) == ["node-2", "node-3"]
        assert running.informer.relists == 1
    assert running.seen == [("ADDED", "node-1"), ("ADDED", "node-2"), ("ADDED", "node-3"), ("DELETED", "node-1")]


async def test_listeners_of_a_relist_see_the_whole_new_listing() -> None:
    source = ScriptedSource(
        [
            listing("10", flow("node-1", "9"), flow("node-2", "9")),
            listing("20", flow("node-2", "19"), flow("node-3", "19")),
        ],
        [failing(ApiError(410, "Expired", "too old resource version: 10 (15)"))],
    )
    running = Running(source)
    views: list[list[str]] = []
    running.informer.add_listener(lambda e: views.append(sorted(o["metadata"]["name"] for o in running.informer)))
    async with running:
        pass
    assert running.seen[2:] == [("MODIFIED", "node-2"), ("ADDED", "node-3"), ("DELETED", "node-1")]
    assert views[2:] == [["node-2", "node-3"]] * 3


async def test_watchdog_restarts_a_silent_watch_after_the_silence_timeout_without_relisting() -> None:
    source = ScriptedSource([listing("10")], [hang, events({"type": "ADDED", "object": flow("node-1", "12")})])
    async with Running(source, silence_timeout=90) as running:
        running.clock.advance(89)
        await settle()
        assert source.calls == [("list", ""), ("watch", "10")], "restarted before the timeout"
        running.clock.advance(2)
        await settle()
        assert running.informer.restarts == 1 and not running.informer.ready
        assert "no event or bookmark for 90s" in (running.informer.last_error or "")
        running.clock.advance(0.5)  # the first backoff
        await settle()
        assert source.calls[:3] == [("list", ""), ("watch", "10"), ("watch", "10")]
        assert running.informer.get("node-1") is not None and running.informer.relists == 0


async def test_events_keep_the_watchdog_away() -> None:
    async def trickle() -> AsyncIterator[JSON]:
        for rv in range(11, 15):
            await gate.wait()
            gate.clear()
            yield {"type": "MODIFIED", "object": flow("node-1", str(rv))}
        await asyncio.Event().wait()

    gate = asyncio.Event()
    source = ScriptedSource([listing("10", flow("node-1", "10"))], [trickle])
    async with Running(source, silence_timeout=90) as running:
        for _ in range(4):
            running.clock.advance(60)
            gate.set()
            await settle()
        assert running.informer.restarts == 0 and running.informer.ready
        assert running.informer.get("node-1")["metadata"]["resourceVersion"] == "14"  # type: ignore[index]


async def test_unreachable_api_server_backs_off_doubling_and_resumes_without_relisting() -> None:
    broken = ApiUnreachable("watch of flows broke: connection reset")
    source = ScriptedSource([listing("10")], [failing(broken), failing(broken), failing(broken)])
    async with Running(source) as running:
        assert running.informer.restarts == 1 and not running.informer.ready
        running.clock.advance(0.5)
        await settle()
        assert running.informer.restarts == 2
        running.clock.advance(0.9)  # the second delay is 1 s: not yet
        await settle()
        assert running.informer.restarts == 2
        running.clock.advance(0.1)
        await settle()
        assert running.informer.restarts == 3
        running.clock.advance(2)
        await settle()
        assert running.informer.ready
        assert source.calls == [("list", ""), *[("watch", "10")] * 4]


async def test_an_unforeseen_error_relists_and_watches_again() -> None:
    source = ScriptedSource(
        [listing("10"), listing("11", flow("cluster", "11"))],
        [failing(ValueError("Expecting value: line 1 column 1 (char 0)"))],
    )
    async with Running(source) as running:
        running.clock.advance(0.5)
        await settle()
        assert running.informer.get("cluster") is not None
        assert running.informer.restarts == 1 and running.informer.relists == 0
        assert source.calls == [("list", ""), ("watch", "10"), ("list", ""), ("watch", "11")]


async def test_an_optional_kind_that_is_not_served_counts_as_synced_and_is_looked_for_again() -> None:
    absent = ApiError(404, "NotFound", "the server could not find the requested resource")
    source = ScriptedSource(
        [absent, listing("5", {"metadata": {"name": "cluster", "resourceVersion": "5"}})], [], CONFIG_NETWORKS
    )
    async with Running(source, optional=True, absent_recheck=30) as running:
        assert running.informer.synced.is_set() and running.informer.reflector.absent
        assert len(running.informer) == 0
        running.clock.advance(30)
        await settle()
        assert running.informer.get("cluster") is not None and not running.informer.reflector.absent


async def test_list_once_reads_without_watching() -> None:
    source = ScriptedSource([listing("3", flow("node-1", "3"))], [])
    informer = Informer(source, clock=FakeClock())
    await informer.list_once()
    assert informer.synced.is_set() and len(informer) == 1
    assert source.calls == [("list", "")]


async def test_informer_set_reports_what_it_still_waits_for() -> None:
    waiting = ScriptedSource([listing("1")], [])

    async def never() -> Listing:
        await asyncio.Event().wait()
        raise AssertionError

    waiting.list = never  # type: ignore[method-assign]
    ready = ScriptedSource([listing("1")], [], CONFIG_NETWORKS)
    informers = InformerSet([Informer(waiting, clock=FakeClock()), Informer(ready, clock=FakeClock())])
    informers.start()
    try:
        await settle()
        assert informers.waiting() == [str(FLOWS)] and not informers.synced and informers.watch_count == 2
    finally:
        await informers.stop()
    assert not informers.running


# -- fan-out -------------------------------------------------------------------------------------


def test_a_failing_listener_does_not_keep_the_event_from_the_others() -> None:
    listeners = Listeners("flows")
    got: list[str] = []

    def broken(event: WatchEvent) -> None:
        raise RuntimeError("listener bug")

    listeners.add(broken)
    remove = listeners.add(lambda e: got.append(e.name))
    listeners.emit(WatchEvent("ADDED", FLOWS, flow("node-1", "1")))
    remove()
    listeners.emit(WatchEvent("ADDED", FLOWS, flow("node-2", "1")))
    assert got == ["node-1"]


def test_reflector_is_ready_only_while_connected() -> None:
    reflector = Reflector(ScriptedSource([], []), Store(FLOWS), lambda e: None, clock=FakeClock())
    assert not reflector.ready
    reflector.synced.set()
    reflector._opened()
    assert reflector.ready


async def test_run_after_list_once_watches_on_without_listing_again() -> None:
    source = ScriptedSource([listing("3", flow("node-1", "3"))], [])
    informer = Informer(source, clock=FakeClock())
    await informer.list_once()
    assert not informer.ready  # listed, not yet watching
    task = asyncio.create_task(informer.run())
    await settle()
    assert source.calls == [("list", ""), ("watch", "3")] and informer.ready
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_scoped_informer_watches_what_its_selectors_say_and_nothing_without_them() -> None:
    from gateway.watch.scoped import ScopedInformer

    asked: list[tuple[str | None, str | None]] = []
    synced: list[int] = []

    def factory(labels: str | None, fields: str | None) -> Informer:
        asked.append((labels, fields))
        items = [flow("a", "1")] if labels == "role=a" else []
        return Informer(ScriptedSource([listing("5", *items)], []), clock=FakeClock())

    scoped = ScopedInformer("flows", factory, on_synced=lambda: synced.append(len(asked)))
    heard: list[str] = []
    scoped.add_listener(lambda e: heard.append(f"{e.type} {e.name}"))
    assert scoped.synced and not scoped.watching and scoped.items() == []
    assert scoped.scope("role=a", "spec.type!=ClusterIP")
    assert not scoped.scope("role=a", "spec.type!=ClusterIP")  # the same selectors keep the watch
    await settle()
    assert scoped.synced and [o["metadata"]["name"] for o in scoped.items()] == ["a"] and heard == ["ADDED a"]
    assert scoped.scope("role=b", None)
    assert not scoped.synced or scoped.items() == []  # the new scope's objects only
    await settle()
    assert scoped.synced and scoped.items() == [] and synced == [1, 2]  # an empty list is heard too
    assert scoped.unscope() and not scoped.watching and scoped.synced
    assert asked == [("role=a", "spec.type!=ClusterIP"), ("role=b", None)] and scoped.rescopes == 3
    await scoped.stop()
