"""The agent's reading of a collector's metrics page over real HTTP on loopback: a page that arrives
in pieces is read whole, and every failure is a phrase the agent can report."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from gateway.agent import collector
from gateway.agent.collector import CollectorMetrics, ScrapeError
from gateway.domain.model import FlowType
from tests.unit.test_collector_metrics import PAGE


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def metrics(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain; version=0.0.4"})
        await response.prepare(request)
        third = len(PAGE) // 3
        try:
            for part in (PAGE[:third], PAGE[third : 2 * third], PAGE[2 * third :]):
                await response.write(part.encode())
                await asyncio.sleep(0.05)  # the page arrives in pieces, as a big one does
            await response.write_eof()
        except ConnectionError:
            pass  # the reader gave up on a page too large
        return response

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_page_arriving_in_pieces_is_read_whole(server: str) -> None:
    reader = CollectorMetrics(timeout=5)
    try:
        assert await reader.fetch(server) == PAGE
        counts = await reader.counts(server, "10.89.0.1")
        assert counts[FlowType.IPFIX].records == 36940
    finally:
        await reader.close()


async def test_failures_are_phrases(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    reader = CollectorMetrics(timeout=2)
    try:
        monkeypatch.setattr(collector, "MAX_PAGE_BYTES", 1000)
        with pytest.raises(ScrapeError, match="larger than"):
            await reader.fetch(server)
        with socket.socket() as probe:  # a loopback port nothing listens on
            probe.bind(("127.0.0.1", 0))
            closed = f"127.0.0.1:{probe.getsockname()[1]}"
        with pytest.raises(ScrapeError, match=r"^Connection refused$"):
            await reader.fetch(closed)
        with pytest.raises(ScrapeError, match="HTTP 404"):
            await reader.fetch(server + "/nothing-here?")  # GET /nothing-here?/metrics
    finally:
        await reader.close()
