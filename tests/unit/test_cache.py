"""The one list+watch layer: resume from the last resourceVersion, relist on 410 Gone with the
difference delivered as events, watchdog restart of a silent stream, reconnect after the API
server goes away. A scripted client stands in for the API server (unit level only)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from gateway.kube.cache import ResourceCache, WatchEvent
from gateway.kube.client import ApiError, ApiUnreachable
from gateway.kube.resources import FLOWS, Resource
from tests.agent.fakes import eventually

JSON = dict[str, Any]


def flow(name: str, rv: str, state: str = "Disabled") -> JSON:
    return {"metadata": {"name": name, "resourceVersion": rv}, "status": {"state": state}}


class ScriptedApi:
    """Answers list and watch calls from a script; records what was asked."""

    def __init__(self, lists: list[JSON], watches: list[Callable[[], AsyncIterator[JSON]]]) -> None:
        self.lists = lists
        self.watches = watches
        self.calls: list[tuple[str, str]] = []  # ("list", "") or ("watch", resourceVersion)

    async def list(self, resource: Resource, **params: str) -> JSON:
        self.calls.append(("list", ""))
        return self.lists.pop(0)

    async def watch(
        self, resource: Resource, resource_version: str, *, on_open: Callable[[], None] | None = None, **kw: Any
    ) -> AsyncIterator[JSON]:
        self.calls.append(("watch", resource_version))
        script = self.watches.pop(0) if self.watches else hang
        if on_open is not None:
            on_open()
        async for event in script():
            yield event


async def hang() -> AsyncIterator[JSON]:
    await asyncio.sleep(3600)
    yield {}


def listing(rv: str, *items: JSON) -> JSON:
    return {"metadata": {"resourceVersion": rv}, "items": list(items)}


def events(*items: JSON) -> Callable[[], AsyncIterator[JSON]]:
    async def stream() -> AsyncIterator[JSON]:
        for item in items:
            yield item

    return stream


def failing(exc: Exception) -> Callable[[], AsyncIterator[JSON]]:
    async def stream() -> AsyncIterator[JSON]:
        raise exc
        yield {}

    return stream


class Running:
    def __init__(self, api: ScriptedApi, **kw: Any) -> None:
        self.api = api
        self.cache = ResourceCache(api, FLOWS, backoff_initial=0.01, **kw)  # type: ignore[arg-type]
        self.seen: list[tuple[str, str]] = []
        self.cache.add_listener(lambda e: self.seen.append((e.type, e.name)))
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ResourceCache:
        self.task = asyncio.create_task(self.cache.run())
        return self.cache

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


async def test_a_watch_that_ends_resumes_from_the_last_resource_version() -> None:
    api = ScriptedApi(
        [listing("10", flow("node-1", "9"))],
        [
            events({"type": "MODIFIED", "object": flow("node-1", "11", "Emitting")}),
            events({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "15"}}}),
        ],
    )
    running = Running(api)
    async with running as cache:
        await eventually(lambda: len(api.calls) >= 4)
        assert api.calls[:4] == [("list", ""), ("watch", "10"), ("watch", "11"), ("watch", "15")]
        assert cache.get("node-1")["status"]["state"] == "Emitting"  # type: ignore[index]
        assert cache.relists == 0 and cache.restarts == 0
    assert running.seen == [("ADDED", "node-1"), ("MODIFIED", "node-1")]


async def test_gone_relists_and_delivers_the_difference() -> None:
    api = ScriptedApi(
        [
            listing("10", flow("node-1", "9"), flow("node-2", "9")),
            # While we were away node-1's Flow went, node-2's did not change, node-3's appeared.
            listing("20", flow("node-2", "9"), flow("node-3", "19")),
        ],
        [failing(ApiError(410, "Expired", "too old resource version: 10 (15)"))],
    )
    running = Running(api)
    async with running as cache:
        await eventually(lambda: ("watch", "20") in api.calls)
        assert sorted(o["metadata"]["name"] for o in cache.items()) == ["node-2", "node-3"]
        assert cache.relists == 1
    assert running.seen == [("ADDED", "node-1"), ("ADDED", "node-2"), ("ADDED", "node-3"), ("DELETED", "node-1")]


async def test_listeners_of_a_relist_see_the_whole_new_listing() -> None:
    api = ScriptedApi(
        [
            listing("10", flow("node-1", "9"), flow("node-2", "9")),
            listing("20", flow("node-2", "19"), flow("node-3", "19")),
        ],
        [failing(ApiError(410, "Expired", "too old resource version: 10 (15)"))],
    )
    running = Running(api)
    views: list[list[str]] = []
    running.cache.add_listener(lambda e: views.append(sorted(o["metadata"]["name"] for o in running.cache)))
    async with running:
        await eventually(lambda: ("watch", "20") in api.calls)
    assert running.seen[2:] == [("MODIFIED", "node-2"), ("ADDED", "node-3"), ("DELETED", "node-1")]
    assert views[2:] == [["node-2", "node-3"]] * 3


async def test_watchdog_restarts_a_silent_watch_without_relisting() -> None:
    api = ScriptedApi([listing("10")], [hang, events({"type": "ADDED", "object": flow("node-1", "12")})])
    async with Running(api, silence_timeout=0.1) as cache:
        await eventually(lambda: cache.get("node-1") is not None)
        assert api.calls[:3] == [("list", ""), ("watch", "10"), ("watch", "10")]
        assert cache.restarts == 1 and cache.relists == 0
        assert "no event or bookmark" in (cache.last_error or "")


async def test_unreachable_api_server_is_not_connected_until_a_watch_opens_again() -> None:
    opened = asyncio.Event()

    async def slow_failure() -> AsyncIterator[JSON]:
        await opened.wait()
        raise ApiUnreachable("watch of flows broke: connection reset")
        yield {}

    api = ScriptedApi([listing("10")], [slow_failure])
    seen_disconnected: list[bool] = []
    async with Running(api, backoff_max=0.05) as cache:
        await eventually(lambda: cache.connected)
        original_fail = cache._fail

        async def fail(why: str, backoff: float) -> None:
            await original_fail(why, backoff)
            seen_disconnected.append(cache.connected)

        cache._fail = fail  # type: ignore[method-assign]
        opened.set()
        await eventually(lambda: bool(seen_disconnected) and cache.connected)
        assert seen_disconnected == [False]
        assert api.calls[-1] == ("watch", "10")  # resumed, not relisted
        assert cache.restarts == 1


async def test_listener_failure_does_not_stop_the_cache() -> None:
    api = ScriptedApi([listing("1", flow("node-1", "1"), flow("node-2", "1"))], [])
    cache = ResourceCache(api, FLOWS)  # type: ignore[arg-type]
    got: list[WatchEvent] = []

    def broken(event: WatchEvent) -> None:
        raise RuntimeError("listener bug")

    cache.add_listener(broken)
    cache.add_listener(got.append)
    task = asyncio.create_task(cache.run())
    try:
        await eventually(lambda: len(got) == 2)
        assert cache.synced.is_set()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
