"""The list+watch cache the agent reads from keeps going after an unforeseen failure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from gateway.kube.cache import ResourceCache
from gateway.kube.resources import FLOW_EXPORTS, Resource
from tests.agent.fakes import FakeKube, eventually


class BrokenOnce(FakeKube):
    """The first watch yields something the client cannot make sense of."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = True

    async def watch(self, resource: Resource, resource_version: str, **kw: Any) -> AsyncIterator[dict[str, Any]]:
        if self.broken:
            self.broken = False
            raise ValueError("Expecting value: line 1 column 1 (char 0)")
        async for event in super().watch(resource, resource_version, **kw):
            yield event


async def test_an_unexpected_error_relists_and_watches_again() -> None:
    kube = BrokenOnce()
    cache = ResourceCache(kube, FLOW_EXPORTS, backoff_initial=0.01)  # type: ignore[arg-type]
    task = asyncio.create_task(cache.run())
    try:
        await eventually(lambda: not kube.broken and bool(kube.queues.get(FLOW_EXPORTS)))
        kube.put(FLOW_EXPORTS, {"metadata": {"name": "cluster"}, "spec": {"type": "NetFlow"}})
        await eventually(lambda: cache.get("cluster") is not None)
        assert cache.restarts == 1
        assert cache.relists == 0 and cache.synced.is_set()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
