"""Scenario S11: subscriptions leave nothing behind. One long-lived nodeFlowStatus subscription keeps
flat memory: the real schema, resolver, hub and mailbox deliver 100k status changes and neither the
interpreter's allocated blocks nor live objects grow with them, nor traced memory over the last 10k
(graphql-core's per-event executors otherwise keep ~1.2 KB and 14 objects per event). And 10,000
subscribe/unsubscribe cycles (both subscriptions, some closed with changes still pending) leave no
task, mailbox or memory behind."""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.kube.resources import FLOW_EXPORTS, FLOWS, NODES
from gateway.resolvers.context import Context
from gateway.schema.root import schema
from tests.fixtures.faults import Figures
from tests.unit.fakes import Cluster, export, flow, node, services

pytestmark = [pytest.mark.slow, pytest.mark.fault("S11", "Subscriptions leave nothing behind")]

EVENTS = 100_000
WARMUP = 2_000
TRACED = 10_000
SUBSCRIBE = 'subscription { nodeFlowStatus(node: "node-a") { node state type endpoint message observedGeneration } }'


async def test_one_subscription_stays_flat_over_100k_events(figures: Figures) -> None:
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

    # Growth is counted over every event as the interpreter's allocated blocks and live objects
    # (cheap to read); bytes are traced over the last TRACED events only, since tracing every
    # allocation makes each event about four times slower.
    started = time.monotonic()
    baseline: tuple[int, int] | None = None
    traced_from: int | None = None
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
                baseline = (sys.getallocatedblocks(), len(gc.get_objects()))
            elif i == EVENTS - TRACED:
                gc.collect()
                tracemalloc.start()
                traced_from = tracemalloc.get_traced_memory()[0]
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0]
        blocks, objects = sys.getallocatedblocks(), len(gc.get_objects())
    finally:
        tracemalloc.stop()
        await stream.aclose()  # type: ignore[attr-defined]
    elapsed = time.monotonic() - started
    assert baseline is not None and traced_from is not None
    assert last.errors is None and last.data["nodeFlowStatus"]["state"] == "ERROR"
    grown_blocks, grown_objects = blocks - baseline[0], objects - baseline[1]
    grown_bytes = traced - traced_from
    measured = EVENTS - WARMUP
    traced_bound = 512 * 1024 * TRACED // measured  # the same per event as 512 KiB over all of them
    figures.add(
        f"memory per event over the last {TRACED} events",
        grown_bytes / TRACED,
        "B",
        bound=round(traced_bound / TRACED, 1),
    )
    figures.add(f"allocated blocks grown over {measured} events", grown_blocks, "", bound=2000)
    figures.add("live objects grown", grown_objects, "", bound=1000)
    figures.add("events per second through the real schema", EVENTS / elapsed, "")
    figures.outcome("one subscription stayed flat over 100,000 events")
    # The leak this guards against is ~1,200 B and 14 objects per event (~115 MiB here): that is
    # over a million blocks, and 12 MB within the traced events alone.
    assert grown_blocks < 2_000, f"{grown_blocks} more allocated blocks after {measured} events"
    assert grown_objects < 1_000, f"{grown_objects} more live objects after {measured} events"
    assert grown_bytes < traced_bound, f"memory grew {grown_bytes} B over the last {TRACED} events"
    assert not cluster.hub._mailboxes, "the closed subscription left its mailbox behind"


CYCLES = 10_000
TABLE = "subscription { flowsTable { snapshot changed { node state } removed } }"


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_ten_thousand_subscribe_unsubscribe_cycles_leave_nothing_behind(figures: Figures) -> None:
    """Memory is read as the process' resident size and its live objects rather than traced
    allocation by allocation (tracing makes each cycle several times slower); graphql-core's
    visitor caches fill during the first thousand cycles, so those warm up first."""
    cluster = Cluster()
    for name in ("node-a", "node-b", "node-c"):
        cluster.put(NODES, node(name))
    cluster.put(FLOW_EXPORTS, export("NetFlow", 1))
    cluster.sync()
    context = Context(services=services(cluster.hub))

    async def cycle(i: int) -> None:
        stream = await schema.subscribe(TABLE if i % 2 else SUBSCRIBE, context_value=context)
        assert isinstance(stream, AsyncIterator)
        first = await anext(stream)
        assert first.errors is None
        if i % 10 == 0:  # closed with a change still waiting in its mailbox
            cluster.put(FLOWS, flow("node-a", "Emitting" if i % 20 else "Error", 1))
        await stream.aclose()  # type: ignore[attr-defined]

    for i in range(1_000):
        await cycle(i)
    gc.collect()
    tasks, objects, rss = len(asyncio.all_tasks()), len(gc.get_objects()), rss_kib()
    started = time.monotonic()
    for i in range(CYCLES):
        await cycle(i)
    elapsed = time.monotonic() - started
    gc.collect()
    grown_objects, grown_rss = len(gc.get_objects()) - objects, rss_kib() - rss
    figures.add(f"{CYCLES} cycles took", elapsed, "s")
    figures.add("resident memory grown", grown_rss, "KiB", bound=4096)
    figures.add("live objects grown", grown_objects, "", bound=1000)
    figures.add("tasks left", len(asyncio.all_tasks()) - tasks, "", bound=0)
    figures.add("mailboxes left", cluster.hub.subscriber_count, "", bound=0)
    assert cluster.hub.subscriber_count == 0 and not cluster.hub._mailboxes and not cluster.hub._tables
    assert len(asyncio.all_tasks()) == tasks
    assert grown_objects < 1_000, f"{grown_objects} more live objects after {CYCLES} cycles"
    assert grown_rss < 4096, f"resident memory grew {grown_rss} KiB over {CYCLES} cycles"
    figures.outcome("no task, mailbox or memory left behind after 10,000 cycles")
