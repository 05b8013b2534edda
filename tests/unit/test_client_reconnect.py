"""The gql client and a gateway going away: a 1001 is "subscribe again now" (after a random delay
within the spread), dials that fail while the other replicas take everyone in are tried again
with jittered backoff for a bounded while, and any other loss is the caller's to handle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.client import client as module
from gateway.client.client import (
    MOVING_ATTEMPTS,
    RECONNECT_SPREAD,
    FlowgateClient,
    GatewayUnreachable,
    _GoingAway,
)
from gateway.client.endpoint import endpoint


class Scripted(FlowgateClient):
    """Each subscription attempt plays the next step: a list of statuses, then an exception."""

    def __init__(self, steps: list[tuple[list[str], BaseException | None]]) -> None:
        super().__init__(endpoint("http://127.0.0.1:1/graphql"))
        self.steps = steps
        self.attempts = 0

    async def _node_flow_status(self, node: str | None) -> AsyncIterator[dict[str, Any]]:
        statuses, failure = self.steps[self.attempts]
        self.attempts += 1
        for state in statuses:
            yield {"node": "node-1", "state": state}
        if failure is not None:
            raise failure


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    monkeypatch.setattr(module.asyncio, "sleep", sleep)
    return delays


def unreachable(detail: str = "connection refused") -> GatewayUnreachable:
    return GatewayUnreachable(endpoint("http://127.0.0.1:1/graphql"), detail)


async def take(stream: AsyncIterator[dict[str, Any]], count: int) -> list[str]:
    got = []
    async for status in stream:
        got.append(status["state"])
        if len(got) == count:
            break
    return got


async def test_a_gateway_going_away_is_left_for_another_with_the_snapshot_again(slept: list[float]) -> None:
    client = Scripted(
        [
            (["EMITTING"], _GoingAway()),
            ([], unreachable()),  # the other replica busy taking everyone in
            ([], unreachable()),
            (["ERROR"], None),
        ]
    )
    assert await take(client.node_flow_status("node-1"), 2) == ["EMITTING", "ERROR"]
    assert client.attempts == 4
    assert 0 <= slept[0] <= RECONNECT_SPREAD  # at once, within the spread
    assert 0.5 <= slept[1] <= 1.5 and 1.0 <= slept[2] <= 3.0  # then jittered backoff


async def test_after_going_away_the_client_gives_up_after_its_attempts(slept: list[float]) -> None:
    client = Scripted([(["EMITTING"], _GoingAway())] + [([], unreachable())] * (MOVING_ATTEMPTS + 1))
    with pytest.raises(GatewayUnreachable):
        await take(client.node_flow_status("node-1"), 2)
    assert client.attempts == MOVING_ATTEMPTS + 2


async def test_any_other_loss_is_the_callers(slept: list[float]) -> None:
    client = Scripted([(["EMITTING"], unreachable("the gateway ended the subscription"))])
    with pytest.raises(GatewayUnreachable):
        await take(client.node_flow_status("node-1"), 2)
    assert client.attempts == 1 and slept == []
