"""The WebSocket protocol the gateway serves: uvicorn's sans-I/O websockets protocol, holding less
per connection.

Ten thousand idle subscribers are ten thousand connections that mostly wait. uvicorn's protocol
keeps, for each, an asyncio.Queue and an asyncio.Event (five deques, some 3 KiB before anything
is queued) and the handshake's request and response headers for the life of the connection (some
3.5 KiB more). Here the queue is a list with one waiter, flow control a flag with waiters made
only while someone waits, and the handshake headers are let go once the handshake is sent. The
WebSocket protocol itself (framing, limits, ping, close) stays uvicorn's and websockets'.

When the gateway stops (SIGTERM: a rolling update, a node drained), every WebSocket is closed
with 1001 Going Away (RFC 6455 7.4.1: "a server going down") rather than uvicorn's 1012: flowgate's
clients take 1001 as "reconnect now", after a short random delay that spreads thousands of them
over the other replicas, and their new subscription's snapshot brings whatever changed meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

GOING_AWAY = 1001
GOING_AWAY_REASON = "the gateway is shutting down; reconnect"


class Inbox:
    """What a connection received, for its one reader (the ASGI app's `receive`)."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    async def get(self) -> Any:
        while not self._items:
            if self._waiter is not None:
                raise RuntimeError("a WebSocket connection's messages are read by one reader at a time")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class Writable:
    """Whether the transport takes more data now (set by uvicorn's flow control); the waiters of
    asyncio.Event, without its deque per connection."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's `websockets-sansio` protocol with the lighter queue and flow-control flag, and
    the handshake's request, response and ASGI scope dropped once the 101 response is written
    (the app keeps what it reads of them)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Writable()  # type: ignore[assignment]

    async def send(self, message: Any) -> None:
        handshaking = not self.handshake_complete
        await super().send(message)
        if handshaking and self.handshake_complete:
            self._forget_handshake()

    def shutdown(self) -> None:
        """uvicorn's shutdown of one connection (server.py calls it for each on SIGTERM), with
        1001 where it sends 1012."""
        if self.close_sent or not (self.handshake_complete and self.initial_response is None):
            super().shutdown()  # closing already, or still handshaking: as uvicorn does
            return
        self.stop_keepalive()
        self.queue.put_nowait({"type": "websocket.disconnect", "code": GOING_AWAY})
        self.conn.send_close(GOING_AWAY, GOING_AWAY_REASON)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.transport.close()

    def _forget_handshake(self) -> None:
        request = self.__dict__.pop("request", None)
        self.__dict__.pop("response", None)
        # The ASGI scope is read only while handshaking (for its log lines); the app keeps what
        # it needs of it.
        self.__dict__.pop("scope", None)
        if request is not None:
            # websockets' parser keeps the request object as a local for the connection's life.
            request.headers.clear()
