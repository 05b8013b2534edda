"""The `flows` answer cache stays out of the naive baseline's way: with sharing off, every query
is executed, as a stock server would (the benchmark's ratio depends on it)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from gateway.server.answers import QueryAnswers


async def test_with_sharing_off_every_flows_query_is_executed() -> None:
    executed: list[bytes] = []

    async def strawberry(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        executed.append(message["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'{"data": {}}'})

    answers = QueryAnswers(SimpleNamespace(sharing=False), strawberry)  # type: ignore[arg-type]
    body = json.dumps({"query": "{ flows { enabled } }"}).encode()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    for _ in range(3):
        sent.clear()
        await answers({"type": "http", "method": "POST", "path": "/graphql", "headers": []}, receive, send)
        assert sent[0]["status"] == 200
    assert executed == [body] * 3 and answers.hits == 0
