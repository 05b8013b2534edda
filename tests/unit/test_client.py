"""The REST client's failure modes as its callers see them."""

from __future__ import annotations

import asyncio

import pytest

from gateway.kube.client import ApiUnreachable, KubeClient
from gateway.kube.config import ClusterCredentials
from gateway.kube.resources import FLOWS


async def test_an_answer_cut_off_midway_is_unreachable() -> None:
    async def cut_off(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"items"')
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(cut_off, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with KubeClient(ClusterCredentials(server=f"http://127.0.0.1:{port}")) as client:
            with pytest.raises(ApiUnreachable, match="not reachable"):
                await client.list(FLOWS)
    finally:
        server.close()
        await server.wait_closed()
