"""Two gateways behind a real load balancer (HAProxy from Debian, standing in for their Service):
one stopped as a rolling update stops it (SIGTERM) closes its WebSockets with 1001, and every
client of ours on it is back on the other with the current state, the change made while it went
included; then both restart one at a time under a change every second, and no client ends on a
stale state. The clients are the real ones: the gql client (FlowgateClient, what scripts and
`kubectl flows --gateway` use) and `kubectl flows status --watch` processes; the console page's
own transport does the same in a real browser (tests/e2e/test_browser.py). Here a few dozen
clients and generous bounds that only a fault breaks; the figures at 10,000 subscribers are the
benchmark's."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import websockets
from flowgate_testbed.loadbalancer import LoadBalancer
from flowgate_testbed.testbed import free_ports

from gateway.client.client import FlowgateClient
from gateway.client.endpoint import endpoint
from tests.fixtures.gateway import Gateway, launch, report_flow
from tests.fixtures.kubectl import Kubectl, LineReader

START = "mutation { startFlows(type: NETFLOW, collector: {nodePort: 30001}) { generation } }"
GQL_CLIENTS = 24
WATCHERS = 4
BOUND = 30.0  # seconds for anything to reach every client: generous, only a fault needs longer
# uvicorn ends a graceful shutdown by raising the signal again with its default action.
STOPPED = (0, -signal.SIGTERM)


def wait_until(check: Callable[[], Any], timeout: float, what: Callable[[], str]) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what()}")
        time.sleep(0.1)


async def test_a_stopping_gateway_closes_every_websocket_with_1001(testbed: Any, tmp_path: Path) -> None:
    """SIGTERM: every subscriber is told 1001 (going away) at once, and the process exits."""
    testbed.reset()
    gateway = launch(testbed, tmp_path)
    try:
        await asyncio.to_thread(gateway.wait_ready)
        async with contextlib.AsyncExitStack() as stack:
            subscriptions = [
                await stack.enter_async_context(gateway.subscribe("subscription { nodeFlowStatus { node state } }"))
                for _ in range(5)
            ]
            for subscription in subscriptions:
                await subscription.next(timeout=10)
            gateway.process.terminate()
            for subscription in subscriptions:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(subscription.ws.recv(), 20)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001, closed.value
        assert await asyncio.to_thread(gateway.process.wait, 20) in STOPPED, gateway.log_tail()
    finally:
        gateway.stop()


class Clients:
    """GQL_CLIENTS gql subscriptions and WATCHERS `kubectl flows status --watch` of node-1, all
    through the load balancer; each keeps the latest endpoint it was shown (every write below
    gives node-1 a new one)."""

    def __init__(self, testbed: Any, url: str) -> None:
        self.client = FlowgateClient(endpoint(url, testbed.token("viewer")))
        self.latest: list[str | None] = [None] * GQL_CLIENTS
        self.tasks = [asyncio.create_task(self._follow(i)) for i in range(GQL_CLIENTS)]
        kubectl = Kubectl(testbed.kubeconfig("viewer"), gateway_url=url)
        self.watchers: list[LineReader] = [
            kubectl.popen("flows", "status", "--watch", "--node", "node-1") for _ in range(WATCHERS)
        ]

    async def _follow(self, index: int) -> None:
        async for status in self.client.node_flow_status("node-1"):
            self.latest[index] = status.get("endpoint")

    def shown_by_watchers(self) -> list[str | None]:
        shown: list[str | None] = []
        for watcher in self.watchers:
            with contextlib.suppress(AssertionError):
                while True:
                    watcher.next_line(0.01)
            rows = [line.split() for line in watcher.seen if line.startswith("node-1 ")]
            shown.append(rows[-1][-1] if rows and len(rows[-1]) >= 4 else None)
        return shown

    def behind(self, expected: str) -> str:
        gql = [i for i, e in enumerate(self.latest) if e != expected]
        watchers = [i for i, e in enumerate(self.shown_by_watchers()) if e != expected]
        broken = [t.exception() for t in self.tasks if t.done() and not t.cancelled()]
        ended = [w.proc.returncode for w in self.watchers if w.proc.poll() is not None]
        return (
            f"every client to show endpoint {expected}: gql clients {gql} and watchers {watchers} did not "
            f"(gql: {sorted(set(map(str, self.latest)))}; watchers: {self.shown_by_watchers()}); "
            f"gql clients ended with {broken}, watchers exited with {ended}"
        )

    def all_show(self, expected: str) -> bool:
        return all(e == expected for e in self.latest) and all(e == expected for e in self.shown_by_watchers())

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for watcher in self.watchers:
            watcher.close()


@pytest.mark.slow
async def test_clients_of_a_stopped_gateway_are_back_on_the_other_and_none_ends_stale(
    fresh_testbed: Any, tmp_path: Path
) -> None:
    testbed = fresh_testbed
    ports = free_ports(2)
    gateways: dict[str, Gateway] = {
        name: launch(testbed, tmp_path, port=port) for name, port in zip("ab", ports, strict=True)
    }
    balancer = LoadBalancer(tmp_path / "haproxy", list(zip("ab", ports, strict=True)))
    clients: Clients | None = None
    writes = 0

    async def write() -> str:
        """node-1 reports a new endpoint (as its agent would): the change every client must show."""
        nonlocal writes
        writes += 1
        endpoint_now = f"10.89.0.1:{30000 + writes}"
        await report_flow(testbed, "node-1", "Emitting", generation, endpoint=endpoint_now)
        return endpoint_now

    def both_up() -> bool:
        return set(balancer.states().values()) == {"UP"}

    try:
        for gateway in gateways.values():
            await asyncio.to_thread(gateway.wait_ready)
        balancer.start()
        await asyncio.to_thread(wait_until, both_up, BOUND, lambda: f"both gateways UP, saw {balancer.states()}")
        generation = (await gateways["a"].query(START))["startFlows"]["generation"]
        current = await write()
        clients = Clients(testbed, balancer.url)
        await asyncio.to_thread(wait_until, lambda: clients.all_show(current), BOUND, lambda: clients.behind(current))
        held = balancer.sessions()
        assert held["a"] > 0 and held["b"] > 0, held  # the load balancer spread them

        # A rolling update stops gateway a; node-1 changes while its clients move.
        gateways["a"].process.terminate()
        current = await write()
        await asyncio.to_thread(wait_until, lambda: clients.all_show(current), BOUND, lambda: clients.behind(current))
        assert await asyncio.to_thread(gateways["a"].process.wait, BOUND) in STOPPED, gateways["a"].log_tail()
        moved = balancer.sessions()
        assert moved["a"] == 0 and moved["b"] >= sum(held.values()) - held["a"], (held, moved)

        # Then both restart, one at a time, while node-1 changes every second.
        stop_writing = asyncio.Event()

        async def writer() -> None:
            nonlocal current
            while not stop_writing.is_set():
                current = await write()
                await asyncio.sleep(1.0)

        writing = asyncio.create_task(writer())
        try:
            for name, port in (("a", ports[0]), ("b", ports[1])):
                if gateways[name].process.poll() is None:
                    gateways[name].process.terminate()
                    assert await asyncio.to_thread(gateways[name].process.wait, BOUND) in STOPPED
                gateways[name] = launch(testbed, tmp_path, port=port)
                await asyncio.to_thread(gateways[name].wait_ready)
                await asyncio.to_thread(wait_until, both_up, BOUND, lambda: f"both UP again, saw {balancer.states()}")
        finally:
            stop_writing.set()
            await writing
        last = current
        await asyncio.to_thread(wait_until, lambda: clients.all_show(last), BOUND, lambda: clients.behind(last))
        assert all(not task.done() for task in clients.tasks), [t.exception() for t in clients.tasks if t.done()]
        assert all(watcher.proc.poll() is None for watcher in clients.watchers)
    finally:
        if clients is not None:
            await clients.close()
        balancer.stop()
        for gateway in gateways.values():
            gateway.stop()
