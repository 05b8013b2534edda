"""Shared watches: the API server sees the same watches whatever the number of subscribers, and
subscribers get the truth back after the API server has been away."""

from __future__ import annotations

import asyncio
import contextlib
import time

from tests.fixtures.gateway import Gateway, Subscription, apiserver_watch_figures, node_names, report_flow

SUBSCRIBE = "subscription { nodeFlowStatus { node state type endpoint } }"
START = "mutation { startFlows(type: NETFLOW, collector: {nodePort: 30001}) { generation } }"


async def settled_figures(gateway: Gateway) -> dict[str, dict[str, float] | None]:
    """Watch figures once they stop moving (the API server updates its gauges as watches open)."""
    previous = await apiserver_watch_figures(gateway.testbed)
    for _ in range(20):
        await asyncio.sleep(0.25)
        current = await apiserver_watch_figures(gateway.testbed)
        if current == previous:
            return current
        previous = current
    return previous


async def test_same_watches_with_1_and_200_subscribers(gateway: Gateway) -> None:
    names = await node_names(gateway.testbed)
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(gateway.subscribe(SUBSCRIBE))
        for _ in names:
            await first.next()
        with_one = await settled_figures(gateway)

        many = [first]
        opened = time.monotonic()
        for _ in range(199):
            many.append(await stack.enter_async_context(gateway.subscribe(SUBSCRIBE)))

        async def snapshot(sub: Subscription) -> None:
            for _ in names:
                await sub.next()

        await asyncio.gather(*(snapshot(sub) for sub in many[1:]))
        print(f"\n199 more subscribers connected and got their snapshots in {time.monotonic() - opened:.2f}s")
        with_200 = await settled_figures(gateway)
        for name in with_one:
            print(
                f"{name} on flowgate's kinds with   1 subscriber : {with_one[name] or 'not exported by this API server'}"
            )
            print(
                f"{name} on flowgate's kinds with 200 subscribers: {with_200[name] or 'not exported by this API server'}"
            )
        assert with_one == with_200
        longrunning = with_one["apiserver_longrunning_requests"]
        assert longrunning is not None and all(longrunning[k] >= 1 for k in ("flowexports", "flows", "nodes"))
        assert "flowgate_subscribers 200.0" in gateway.metrics()

        # One change reaches every subscriber.
        changed = time.monotonic()
        await gateway.query(START)
        await asyncio.gather(*(sub.until(lambda d: d["nodeFlowStatus"]["state"] == "PENDING") for sub in many))
        print(f"one FlowExport change reached all 200 subscribers in {time.monotonic() - changed:.2f}s")
    # Closed connections leave no subscriber behind.
    for _ in range(50):
        if "flowgate_subscribers 0.0" in gateway.metrics():
            break
        await asyncio.sleep(0.1)
    assert "flowgate_subscribers 0.0" in gateway.metrics()


async def test_subscriber_sees_the_truth_after_an_apiserver_outage(gateway: Gateway) -> None:
    testbed = gateway.testbed
    names = await node_names(testbed)
    generation = (await gateway.query(START))["startFlows"]["generation"]
    async with gateway.subscribe(SUBSCRIBE) as sub:
        for _ in names:
            assert (await sub.next())["nodeFlowStatus"]["state"] == "PENDING"
        assert gateway.ready()

        stopping = time.monotonic()
        await asyncio.to_thread(testbed.stop_apiserver)
        killed = time.monotonic()
        not_ready_after = await asyncio.to_thread(gateway.wait_ready, 10.0, False)
        print(f"\nkube-apiserver stopped in {killed - stopping:.1f}s; /readyz false {not_ready_after:.2f}s after")
        await asyncio.sleep(max(0.0, 5.0 - (time.monotonic() - killed)))
        restarting = time.monotonic()
        await asyncio.to_thread(testbed.start_apiserver)
        back = time.monotonic()
        print(f"API server down {restarting - killed:.1f}s, then {back - restarting:.1f}s to boot")

        # Changed as soon as the API server is back, before the gateway has necessarily reconnected.
        await report_flow(testbed, names[2], "Emitting", generation, endpoint="10.89.0.4:30001")
        ready_after = await asyncio.to_thread(gateway.wait_ready, 30.0, True)
        print(f"/readyz true again {ready_after:.2f}s after the API server was back")
        change = await sub.until(lambda d: d["nodeFlowStatus"]["state"] == "EMITTING", timeout=15)
        print(
            f"subscriber saw the change made after the outage {time.monotonic() - back:.2f}s after the API server was back"
        )
        assert change["nodeFlowStatus"] == {
            "node": names[2],
            "state": "EMITTING",
            "type": "NETFLOW",
            "endpoint": "10.89.0.4:30001",
        }
        flows = (await gateway.query("{ flows { nodes { node state } } }"))["flows"]["nodes"]
        assert {n["node"]: n["state"] for n in flows} == {
            names[0]: "PENDING",
            names[1]: "PENDING",
            names[2]: "EMITTING",
        }
    metrics = gateway.metrics()
    restarts = [line for line in metrics.splitlines() if line.startswith("flowgate_watch_restarts_total")]
    assert any(not line.endswith(" 0.0") for line in restarts), restarts
