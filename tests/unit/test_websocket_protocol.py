"""The gateway's WebSocket protocol (uvicorn's sans-I/O protocol, lighter per connection): its queue
and flow-control flag behave as asyncio's, a real uvicorn serves a real WebSocket client through
it (handshake, messages both ways, the request headers in the ASGI scope, close), and once the
handshake is sent the connection no longer holds the handshake's headers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect

from gateway.server.websocket import Inbox, LeanWebSocketProtocol, Writable


async def test_inbox_hands_items_over_in_order_to_its_one_reader() -> None:
    inbox = Inbox()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert inbox.qsize() == 2 and await inbox.get() == 1 and await inbox.get() == 2 and inbox.empty()
    reader = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()
    with pytest.raises(RuntimeError, match="one reader at a time"):
        await inbox.get()
    inbox.put_nowait(3)
    assert await asyncio.wait_for(reader, 1) == 3
    cancelled = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.gather(cancelled, return_exceptions=True)
    inbox.put_nowait(4)  # a cancelled reader leaves the inbox usable
    assert await asyncio.wait_for(inbox.get(), 1) == 4


async def test_writable_wakes_every_waiting_writer() -> None:
    writable = Writable()
    assert writable.is_set() and await writable.wait()
    writable.clear()
    waiting = [asyncio.ensure_future(writable.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not writable.is_set() and not any(w.done() for w in waiting)
    waiting[0].cancel()
    writable.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError) and results[1:] == [True, True]
    assert writable._waiters is None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def served() -> AsyncIterator[tuple[uvicorn.Server, int, list[Any]]]:
    scopes: list[Any] = []

    async def echo(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        scopes.append(scope)
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept", "subprotocol": "graphql-transport-ws"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == "close":
                await send({"type": "websocket.close", "code": 4400, "reason": "asked to"})
                return
            await send({"type": "websocket.send", "text": "echo " + message["text"]})

    port = _free_port()
    config = uvicorn.Config(
        echo, host="127.0.0.1", port=port, ws=LeanWebSocketProtocol, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield server, port, scopes
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)


async def test_a_real_client_is_served_and_the_handshake_headers_are_let_go(
    served: tuple[uvicorn.Server, int, list[Any]],
) -> None:
    server, port, scopes = served
    url = f"ws://127.0.0.1:{port}/graphql"
    async with connect(
        url, subprotocols=["graphql-transport-ws"], additional_headers={"Authorization": "Bearer x"}
    ) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "graphql-transport-ws"
        await ws.send("hello")
        assert await ws.recv() == "echo hello"
        big = "x" * 300_000  # more than one read and one write
        await ws.send(big)
        assert await ws.recv() == "echo " + big
        (protocol,) = server.server_state.connections
        assert isinstance(protocol, LeanWebSocketProtocol)
        assert isinstance(protocol.queue, Inbox) and isinstance(protocol.writable, Writable)
        assert not hasattr(protocol, "request") and not hasattr(protocol, "response")
        headers = dict(scopes[0]["headers"])
        assert headers[b"authorization"] == b"Bearer x"  # what the app reads is still there
        await ws.send("close")
        await ws.wait_closed()
        assert ws.close_code == 4400 and ws.close_reason == "asked to"
