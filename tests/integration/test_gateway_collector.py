"""The garbage-collection policy in a real gateway on the testbed's API server: a wave of subscribers
is frozen out of the collector's walks; once they have gone, the gateway collects what they left and
freezes again, so round after round of reconnections leaves nothing frozen behind."""

from __future__ import annotations

import contextlib
import re

from tests.fixtures.gateway import Gateway, node_names
from tests.fixtures.waiting import wait_for

SUBSCRIBE = "subscription { nodeFlowStatus { node state } }"
SUBSCRIBERS = 300  # a wave: more than the 200 new connections that make the policy freeze
ROUNDS = 3


def figure(gateway: Gateway, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", gateway.metrics(), re.M)
    assert found is not None, f"{name} is not in /metrics"
    return float(found[1])


async def test_reconnections_leave_nothing_frozen_behind(gateway: Gateway) -> None:
    nodes = len(await node_names(gateway.testbed))
    start_collections = figure(gateway, "flowgate_gc_policy_collections_total")
    frozen_after: list[float] = []
    for round_ in range(1, ROUNDS + 1):
        at_start = figure(gateway, "flowgate_gc_frozen_objects")
        async with contextlib.AsyncExitStack() as stack:
            subscribers = [await stack.enter_async_context(gateway.subscribe(SUBSCRIBE)) for _ in range(SUBSCRIBERS)]
            for subscriber in subscribers:
                for _ in range(nodes):
                    await subscriber.next()
            # The policy looks once a second: the wave is frozen (dozens of objects a connection).
            frozen = at_start + SUBSCRIBERS * 10
            wait_for(lambda n=frozen: figure(gateway, "flowgate_gc_frozen_objects") > n, 10, "the wave frozen", 0.2)
        # All gone: the policy collects what they left and freezes again.
        collected = start_collections + round_
        wait_for(
            lambda n=collected: figure(gateway, "flowgate_gc_policy_collections_total") >= n, 10, "a collection", 0.2
        )
        frozen_after.append(figure(gateway, "flowgate_gc_frozen_objects"))
    # Caches warmed in the first round; after that, a round keeps nothing (freezing alone kept a
    # dozen objects or more per connection, round after round).
    assert frozen_after[-1] - frozen_after[0] < SUBSCRIBERS * 2, frozen_after
