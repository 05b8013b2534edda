"""Reading a Starlette test client's WebSocket within a bound. The client's own receive waits
forever, so a message the app never sends (a hub that forgot a node's removal, say) would hold
the fast tier until pytest's timeout, and the test client's teardown after that for good."""

from __future__ import annotations

import json
from typing import Any

import anyio
from starlette.testclient import WebSocketTestSession
from starlette.types import Message

RECEIVE_WITHIN = 5.0  # seconds: the app answers in milliseconds; only a fault takes this long


def receive_message(socket: WebSocketTestSession, what: str, timeout: float = RECEIVE_WITHIN) -> Message:
    """The next ASGI message the app sent (text, or the close), or an AssertionError saying what
    was awaited once `timeout` seconds pass with nothing."""

    async def within() -> Message:
        with anyio.fail_after(timeout):
            # WebSocketTestSession.receive() is portal.call(self._send_rx.receive), without a bound.
            message: Message = await socket._send_rx.receive()
            return message

    try:
        return socket.portal.call(within)
    except TimeoutError:
        raise AssertionError(f"waited {timeout:g} s for {what}; the gateway sent nothing") from None


def receive_json(socket: WebSocketTestSession, what: str, timeout: float = RECEIVE_WITHIN) -> dict[str, Any]:
    """The next text message, decoded; a close where a message was due raises as receive_text() does."""
    message = receive_message(socket, what, timeout)
    socket._raise_on_close(message)
    decoded: dict[str, Any] = json.loads(message["text"])
    return decoded
