"""The load: thousands of graphql-transport-ws subscribers in one process, each a minimal
WebSocket client on asyncio (a handshake, masked text frames out, frames parsed in), so that the
load costs as little CPU as possible next to the gateway it measures.

Run by the benchmark as its own process:

    python -m bench.load --url ws://127.0.0.1:8443/graphql --clients 1000 --query '…' --expect EMITTING

It prints `ready <seconds>` once every client has its snapshot, then waits for a line on stdin
(the change is being made), and prints one JSON line: the wall-clock time each client received
its first message containing --expect, plus connection failures."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import struct
import sys
import time
from functools import partial
from typing import Any


def frame(text: str) -> bytes:
    """A masked client text frame."""
    data = text.encode()
    mask = os.urandom(4)
    header = bytearray([0x81])
    length = len(data)
    if length < 126:
        header.append(0x80 | length)
    elif length < 65536:
        header += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        header += bytes([0x80 | 127]) + struct.pack("!Q", length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return bytes(header) + mask + masked


class Client(asyncio.Protocol):
    def __init__(self, load: Load, index: int) -> None:
        self.load = load
        self.index = index
        self.buffer = bytearray()
        self.handshaken = False
        self.transport: asyncio.Transport | None = None
        self.messages = 0
        self.snapshot_left = load.snapshot
        self.hit_at: float | None = None
        self.bytes = 0
        self.hit_counts: dict[str, int] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {self.load.path} HTTP/1.1\r\nHost: {self.load.host}:{self.load.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        )
        transport.write(request.encode())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.handshaken:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self.load.failed(self, self.buffer[:40].decode(errors="replace"))
                return
            del self.buffer[: end + 4]
            self.handshaken = True
            assert self.transport is not None
            self.transport.write(frame('{"type":"connection_init","payload":' + json.dumps(self.load.init) + "}"))
            subscribe = {"id": "1", "type": "subscribe", "payload": {"query": self.load.query}}
            self.transport.write(frame(json.dumps(subscribe)))
        while True:
            if len(self.buffer) < 2:
                return
            length = self.buffer[1] & 0x7F
            offset = 2
            if length == 126:
                if len(self.buffer) < 4:
                    return
                length = struct.unpack("!H", self.buffer[2:4])[0]
                offset = 4
            elif length == 127:
                if len(self.buffer) < 10:
                    return
                length = struct.unpack("!Q", self.buffer[2:10])[0]
                offset = 10
            if len(self.buffer) < offset + length:
                return
            opcode = self.buffer[0] & 0x0F
            data = bytes(self.buffer[offset : offset + length])
            del self.buffer[: offset + length]
            if opcode == 0x1:
                self.message(data)
            elif opcode == 0x9 and self.transport is not None:  # ping: answer with a masked pong
                mask = os.urandom(4)
                self.transport.write(
                    bytes([0x8A, 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))
                )

    def message(self, payload: bytes) -> None:
        if payload.startswith(b'{"type":"connection_ack"'):
            return
        self.messages += 1
        self.bytes += len(payload)
        if b'"type":"error"' in payload[:40]:
            self.load.failed(self, payload[:200].decode(errors="replace"))
            return
        if self.snapshot_left > 0:
            self.snapshot_left -= 1
            if self.snapshot_left == 0:
                self.load.snapshotted(self)
            return
        if self.load.count_rows is not None:
            for node in self.load.count_rows:
                if b'"node":"' + node.encode() + b'"' in payload:
                    self.hit_counts[node] = self.hit_counts.get(node, 0) + 1
        if self.hit_at is None and self.load.expect and self.load.expect in payload:
            self.hit_at = time.time()
            self.load.hit(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshaken or self.hit_at is None:
            self.load.lost(self)


class Load:
    def __init__(self, args: argparse.Namespace) -> None:
        scheme_less = args.url.split("://", 1)[1]
        hostport, _, path = scheme_less.partition("/")
        self.host, _, port = hostport.partition(":")
        self.port = int(port or 80)
        self.path = "/" + path
        self.query = args.query
        self.init = {"authorization": f"Bearer {args.token}"} if args.token else {}
        self.snapshot = args.snapshot
        self.expect = args.expect.encode()
        self.count_rows: list[str] | None = args.count_rows.split(",") if args.count_rows else None
        self.clients: list[Client] = []
        self.ready_left = args.clients
        self.hits_left = args.clients
        self.all_ready = asyncio.Event()
        self.all_hit = asyncio.Event()
        self.failures: list[str] = []

    def snapshotted(self, client: Client) -> None:
        self.ready_left -= 1
        if self.ready_left <= 0:
            self.all_ready.set()

    def hit(self, client: Client) -> None:
        self.hits_left -= 1
        if self.hits_left <= 0:
            self.all_hit.set()

    def failed(self, client: Client, why: str) -> None:
        self.failures.append(why)
        self.snapshotted(client)
        self.hit(client)

    def lost(self, client: Client) -> None:
        if client.snapshot_left > 0:
            self.failed(client, "connection lost")


def _same(client: Client) -> Client:
    return client


async def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("--url", required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--query", required=True)
    parser.add_argument("--token")
    parser.add_argument("--snapshot", type=int, default=1, help="messages making up a client's snapshot")
    parser.add_argument("--expect", default="", help="bytes that mark the awaited change in a message (none: no wait)")
    parser.add_argument("--rate", type=float, default=500.0, help="new connections per second")
    parser.add_argument("--count-rows", help="node names whose appearances per client are counted")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    load = Load(args)
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    for index in range(args.clients):
        client = Client(load, index)
        load.clients.append(client)
        try:
            await loop.create_connection(partial(_same, client), load.host, load.port)
        except OSError as exc:
            load.failed(client, f"connect: {exc}")
        # Ramp at --rate: a reconnect storm is measured separately.
        behind = started + (index + 1) / args.rate - time.monotonic()
        if behind > 0:
            await asyncio.sleep(behind)
    try:
        await asyncio.wait_for(load.all_ready.wait(), args.timeout)
    except TimeoutError:
        load.failures.append(f"{load.ready_left} clients had no snapshot after {args.timeout:g}s")
    print(f"ready {time.monotonic() - started:.3f} {len(load.failures)}", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # the driver is making the change
    try:
        if load.expect:
            await asyncio.wait_for(load.all_hit.wait(), args.timeout)
    except TimeoutError:
        load.failures.append(f"{load.hits_left} clients never saw the change within {args.timeout:g}s")
    result: dict[str, Any] = {
        "hits": [c.hit_at for c in load.clients if c.hit_at is not None],
        "failures": load.failures[:20],
        "failure_count": len(load.failures),
        "messages": sum(c.messages for c in load.clients),
        "bytes": sum(c.bytes for c in load.clients),
    }
    if load.count_rows is not None:
        result["max_row_messages"] = max((max(c.hit_counts.values(), default=0) for c in load.clients), default=0)
    print(json.dumps(result), flush=True)
    for client in load.clients:
        if client.transport is not None:
            client.transport.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
