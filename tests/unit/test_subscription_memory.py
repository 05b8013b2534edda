"""One long-lived nodeFlowStatus subscription keeps flat memory: the real schema, resolver, hub and
mailbox deliver 100k status changes and neither traced memory nor live objects grow with them
(graphql-core's per-event executors otherwise keep ~1.2 KB and 14 objects per event)."""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.kube.resources import FLOW_EXPORTS, FLOWS, NODES
from gateway.resolvers.context import Context
from gateway.schema.root import schema
from tests.unit.fakes import Cluster, export, flow, node, services

pytestmark = pytest.mark.slow  # 100k events through the real schema: about a minute and a half

EVENTS = 100_000
WARMUP = 2_000
SUBSCRIBE = 'subscription { nodeFlowStatus(node: "node-a") { node state type endpoint message observedGeneration } }'


async def test_one_subscription_stays_flat_over_100k_events() -> None:
    cluster = Cluster()
    cluster.put(NODES, node("node-a"))
    cluster.put(FLOW_EXPORTS, export("NetFlow", 1))
    cluster.sync()
    # --auth none: no API server needed for this measurement
    stream = await schema.subscribe(SUBSCRIBE, context_value=Context(services=services(cluster.hub)))
    assert isinstance(stream, AsyncIterator)
    first = await anext(stream)
    assert first.errors is None and first.data == {
        "nodeFlowStatus": {
            "node": "node-a",
            "state": "PENDING",
            "type": "NETFLOW",
            "endpoint": None,
            "message": "waiting for the node agent to apply generation 1",
            "observedGeneration": None,
        }
    }

    tracemalloc.start()
    started = time.monotonic()
    baseline: tuple[int, int] | None = None
    last: Any = None
    try:
        for i in range(EVENTS):
            state = "Emitting" if i % 2 == 0 else "Error"
            # As in the gateway: the subscriber already waits (an idle wait, bounded by the next
            # access check) when the watch brings the change.
            waiting = asyncio.ensure_future(anext(stream))
            await asyncio.sleep(0)
            cluster.put(FLOWS, flow("node-a", state, 1, endpoint=f"10.0.0.1:{30000 + i % 1000}"))
            last = await waiting
            if i == WARMUP:
                gc.collect()
                baseline = (tracemalloc.get_traced_memory()[0], len(gc.get_objects()))
        gc.collect()
        memory, objects = tracemalloc.get_traced_memory()[0], len(gc.get_objects())
    finally:
        tracemalloc.stop()
        await stream.aclose()  # type: ignore[attr-defined]
    elapsed = time.monotonic() - started
    assert baseline is not None
    assert last.errors is None and last.data["nodeFlowStatus"]["state"] == "ERROR"
    grown_bytes, grown_objects = memory - baseline[0], objects - baseline[1]
    measured = EVENTS - WARMUP
    print(
        f"figure: {measured} events on one subscription: {grown_bytes / measured:+.1f} B/event, "
        f"{grown_objects:+d} live objects; {EVENTS / elapsed:.0f} events/s"
    )
    # The leak this guards against is ~1,200 B and 14 objects per event (~115 MiB here).
    assert grown_bytes < 512 * 1024, f"memory grew {grown_bytes} B over {measured} events"
    assert grown_objects < 1_000, f"{grown_objects} more live objects after {measured} events"
    assert not cluster.hub._mailboxes, "the closed subscription left its mailbox behind"
