"""The REST calls as their callers see them, on kubernetes_asyncio's client (the gateway, the CLI)
and on plain HTTP/1.1 streams (the node agent) alike: the identity sent with every request
(re-read when its token file changes), error answers as ApiError with the Status message, watch
streams line by line with ERROR events raised, and a server going away as ApiUnreachable. A tiny
HTTP server on loopback, in this process, stands in for the API server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from email.utils import formatdate
from pathlib import Path

import pytest
from kubernetes_asyncio.client import Configuration

from gateway.kube.api import ApiError, ApiUnreachable, KubeApi
from gateway.kube.config import ClusterAccess, _token_file_hook, _TokenFile
from gateway.kube.resources import FLOWS

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(params=[False, True], ids=["library", "streams"])
def streams(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@asynccontextmanager
async def http_server(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


def access(url: str, token: str | None = "t0ken") -> ClusterAccess:
    configuration = Configuration(host=url)
    if token:
        configuration.api_key = {"BearerToken": f"Bearer {token}"}
    return ClusterAccess(configuration, source="test")


async def read_request(reader: asyncio.StreamReader) -> dict[str, str]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    lines = head.split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    headers[":request"] = lines[0]
    length = int(headers.get("content-length", "0"))
    if length:
        headers[":body"] = (await reader.readexactly(length)).decode()
    return headers


def answer(writer: asyncio.StreamWriter, status: str, body: str) -> None:
    data = body.encode()
    writer.write(
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data
    )


async def test_every_request_carries_the_identity_and_reads_the_json_answer(streams: bool) -> None:
    seen: list[dict[str, str]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                seen.append(await read_request(reader))
            except asyncio.IncompleteReadError:
                return
            answer(writer, "200 OK", json.dumps({"items": [], "metadata": {"resourceVersion": "7"}}))
            await writer.drain()

    async with http_server(handler) as url, KubeApi(access(url), streams=streams) as api:
        listing = await api.list(FLOWS, labelSelector="a=b")
    assert listing["metadata"]["resourceVersion"] == "7"
    assert seen[0][":request"].startswith("GET /apis/flowgate.dev/v1alpha1/flows?labelSelector=a%3Db ")
    assert seen[0]["authorization"] == "Bearer t0ken"


async def test_the_api_servers_clock_is_learnt_from_its_answers_date_either_way(streams: bool) -> None:
    skew = 3600.0  # the API server's clock an hour ahead of this one

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        date = formatdate(time.time() + skew, usegmt=True)
        body = b"{}"
        writer.write(f"HTTP/1.1 200 OK\r\nDate: {date}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()
        writer.close()

    async with http_server(handler) as url, KubeApi(access(url), streams=streams) as api:
        assert api.server_time() == pytest.approx(time.time(), abs=0.1)  # nothing learnt yet
        await api.list(FLOWS)
        assert api.server_time() == pytest.approx(time.time() + skew, abs=1.1)


async def test_error_answers_are_api_errors_with_the_status_message(streams: bool) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        status = {"kind": "Status", "reason": "Forbidden", "message": 'flows is forbidden: User "x" cannot list'}
        answer(writer, "403 Forbidden", json.dumps(status))
        await writer.drain()
        writer.close()

    async with http_server(handler) as url, KubeApi(access(url), streams=streams) as api:
        with pytest.raises(ApiError) as refused:
            await api.list(FLOWS)
    assert refused.value.forbidden and refused.value.message == 'flows is forbidden: User "x" cannot list'


async def test_an_answer_cut_off_midway_is_unreachable(streams: bool) -> None:
    async def cut_off(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"items"')
        await writer.drain()
        writer.close()

    async with http_server(cut_off) as url, KubeApi(access(url), streams=streams) as api:
        with pytest.raises(ApiUnreachable, match="mid-answer"):
            await api.list(FLOWS)


async def test_nothing_listening_is_unreachable(streams: bool) -> None:
    async with http_server(lambda r, w: asyncio.sleep(0)) as url:
        pass  # closed again: nothing listens there now
    async with KubeApi(access(url), timeout=5, streams=streams) as api:
        with pytest.raises(ApiUnreachable, match="not reachable"):
            await api.list(FLOWS)


async def test_a_watch_yields_events_line_by_line_and_raises_an_error_event(streams: bool) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        assert "watch=1" in request[":request"] and "resourceVersion=5" in request[":request"]
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        for event in (
            {"type": "ADDED", "object": {"metadata": {"name": "n1", "resourceVersion": "6"}}},
            {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}},
            {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}},
        ):
            line = (json.dumps(event) + "\n").encode()
            writer.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            await writer.drain()
        await asyncio.sleep(1)

    opened: list[bool] = []
    got: list[str] = []
    async with http_server(handler) as url, KubeApi(access(url), streams=streams) as api:
        with pytest.raises(ApiError) as gone:
            async for event in api.watch(FLOWS, "5", on_open=lambda: opened.append(True)):
                got.append(event["type"])
    assert opened == [True] and got == ["ADDED", "BOOKMARK"]
    assert gone.value.gone and gone.value.message == "too old"


async def test_a_token_file_is_read_again_when_it_changes(tmp_path: Path, streams: bool) -> None:
    seen: list[str] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                seen.append((await read_request(reader))["authorization"])
            except asyncio.IncompleteReadError:
                return
            answer(writer, "200 OK", "{}")
            await writer.drain()

    token = tmp_path / "token"
    token.write_text("first\n")
    token_file = _TokenFile(token)
    async with http_server(handler) as url:
        cluster = access(url, token=token_file.token)
        cluster.configuration.refresh_api_key_hook = _token_file_hook(token_file)
        async with KubeApi(cluster, streams=streams) as api:
            await api.get(FLOWS, "a")
            replacement = tmp_path / "token.new"
            replacement.write_text("second")
            replacement.rename(token)  # how the kubelet swaps a projected token in
            await api.get(FLOWS, "a")
    assert seen == ["Bearer first", "Bearer second"]


async def test_streams_keep_one_connection_for_requests_after_one_another() -> None:
    connections: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while True:
            try:
                await read_request(reader)
            except asyncio.IncompleteReadError:
                return
            body = json.dumps({"items": [{"n": i} for i in range(500)]}).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for start in range(0, len(body), 1000):
                part = body[start : start + 1000]
                writer.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    async with http_server(handler) as url, KubeApi(access(url), streams=True) as api:
        for _ in range(3):
            assert len((await api.list(FLOWS))["items"]) == 500
    assert len(connections) == 1


def test_kubernetes_asyncio_s_generated_models_load_only_when_asked_for() -> None:
    """A node agent does not carry every generated model and API class; asking for one still works."""
    import subprocess
    import sys

    code = (
        "import sys, gateway.kube.api, gateway.kube.config, kubernetes_asyncio.config; "
        "print(sum(m.startswith(('kubernetes_asyncio.client.models.', 'kubernetes_asyncio.client.api.')) "
        "for m in sys.modules)); "
        "from kubernetes_asyncio.client import CoreV1Api, V1Pod; import kubernetes_asyncio; "
        "print(V1Pod.__name__, CoreV1Api.__name__, kubernetes_asyncio.__version__ > '')"
    )
    answer = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert answer.stdout.split() == ["0", "V1Pod", "CoreV1Api", "True"], answer.stderr
