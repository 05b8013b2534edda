"""Fault scenarios of the gateway against the real API server (API-only testbed):

S3  a watch that goes silent (a TCP proxy between gateway and API server stops moving bytes): the
    watchdog restarts it within --watch-silence-timeout and the change made meanwhile arrives;
S7  oversized input: 413 before the body is read, WebSocket messages capped, memory bounded under
    20 parallel 60 MB requests and a flood of connections that never send connection_init;
S8  a sample of the mutation fuzzing against the real gateway and CRD;
S10 the gateway restarted under load: `kubectl flows status --watch`, a flowsTable subscriber (the
    console page's subscription) and the gql example script reconnect and end on the current state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
import yaml
from hypothesis import HealthCheck, given, settings

from tests.fixtures.faults import Figures
from tests.fixtures.gateway import ROOT, Gateway, launch, node_names, report_flow
from tests.fixtures.kubectl import Kubectl, LineReader
from tests.unit.test_fuzz import collector, flow_type, tuning

EXPORT = "/apis/flowgate.dev/v1alpha1/flowexports/cluster"
SUBSCRIBE = "subscription { nodeFlowStatus { node state type endpoint } }"
TABLE = "subscription { flowsTable { snapshot changed { node state endpoint } removed } }"
START = "mutation { startFlows(type: NETFLOW, collector: {nodePort: 30001}) { generation } }"
# A client reconnects within its backoff's cap (kubectl flows: 30 s) once the gateway is back;
# one that never does fails here.
RECONNECTED_WITHIN = 45.0


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


class RssSampler:
    """The gateway's resident memory, sampled every 50 ms while a scenario runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = rss_kib(pid)
        self.peak = self.before
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, rss_kib(self.pid))
            await asyncio.sleep(0.05)

    async def __aenter__(self) -> RssSampler:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.before) / 1024


# -- S3: a watch that goes silent --------------------------------------------------------------


class StallingProxy:
    """A TCP proxy to the API server. stall() freezes every connection open at that moment: no
    byte moves either way, as on a half-dead NAT mapping (bytes the client then sends reset that
    connection, as the dead path would); connections opened later pass normally."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.port = 0
        self.stalled: set[int] = set()
        self.connections = 0
        self._open: dict[int, tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def stall(self) -> int:
        self.stalled |= set(self._open)
        return len(self._open)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for a, b in list(self._open.values()):
            a.transport.abort()
            b.transport.abort()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self._open[number] = (client_writer, server_writer)

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: bool) -> None:
            try:
                while data := await reader.read(65536):
                    if number in self.stalled:
                        if upstream:  # the client speaks on a dead path: it breaks
                            client_writer.transport.abort()
                            server_writer.transport.abort()
                            return
                        continue  # the server's bytes vanish
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                if number not in self.stalled:
                    writer.close()

        try:
            await asyncio.gather(pump(client_reader, server_writer, True), pump(server_reader, client_writer, False))
        finally:
            self._open.pop(number, None)


def kubeconfig_through(testbed: Any, proxy_port: int, path: Path) -> Path:
    config = yaml.safe_load(Path(testbed.kubeconfig("gateway")).read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{proxy_port}"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.fault("S3", "A watch that goes silent (stalled TCP path to the API server)")
async def test_a_silent_watch_is_restarted_within_its_bound(
    fresh_testbed: Any, tmp_path: Path, figures: Figures
) -> None:
    silence = 3.0
    proxy = StallingProxy(fresh_testbed.apiserver_port)
    await proxy.start()
    gateway = launch(
        fresh_testbed,
        tmp_path,
        "--watch-silence-timeout",
        f"{silence:g}s",
        kubeconfig=kubeconfig_through(fresh_testbed, proxy.port, tmp_path / "kubeconfig-proxied"),
    )
    try:
        await asyncio.to_thread(gateway.wait_ready)
        names = await node_names(fresh_testbed)
        generation = (await gateway.query(START))["startFlows"]["generation"]
        async with gateway.subscribe(SUBSCRIBE) as sub:
            for _ in names:
                assert (await sub.next())["nodeFlowStatus"]["state"] == "PENDING"
            frozen = proxy.stall()
            stalled_at = time.monotonic()
            await report_flow(fresh_testbed, names[1], "Emitting", generation, endpoint="10.89.0.2:30001")
            # The silence timeout, the reflector's first backoff (<= 0.24 s) and a reconnect take
            # about 3.5 s; without the watchdog nothing would come before the watch's own end
            # (timeoutSeconds 60), whose bytes the stalled path would swallow too.
            bound = 20.0
            change = await sub.until(lambda d: d["nodeFlowStatus"]["state"] == "EMITTING", timeout=bound)
            seen = time.monotonic() - stalled_at
        assert change["nodeFlowStatus"]["node"] == names[1]
        figures.add("connections frozen", frozen, "")
        figures.add("change made during the stall reached the subscriber after", seen, "s", bound=bound)
        metrics = gateway.metrics()
        restarts = sum(
            float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("flowgate_watch_restarts_total")
        )
        figures.add("watch restarts", int(restarts), "")
        assert restarts >= 1
        assert f"no event or bookmark for {silence:g}s" in gateway.log.read_text()
        figures.outcome(
            f"the watchdog noticed {silence:g}s of silence, restarted the watches on new connections and the "
            "subscriber saw the change made during the stall"
        )
    finally:
        gateway.stop()
        await proxy.stop()


# -- S7: oversized input ------------------------------------------------------------------------


async def raw_post(port: int, size: int, *, chunked: bool = False) -> int | None:
    """POST a `size`-byte body to /graphql and return the status the gateway answered (None: it
    reset the connection before one could be read). With Content-Length the answer is awaited
    before any of the body is sent, as a client honouring an early answer does; chunked, the body
    streams until the gateway answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def status_line(timeout: float) -> int | None:
        with contextlib.suppress(TimeoutError, ConnectionError, OSError, ValueError, IndexError):
            line = await asyncio.wait_for(reader.readline(), timeout)
            return int(line.split()[1])
        return None

    try:
        length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
        writer.write(
            f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{length}\r\n\r\n".encode()
        )
        await writer.drain()
        if not chunked:
            return await status_line(5)
        chunk = b"x" * 65536
        sent = 0
        with contextlib.suppress(ConnectionError, OSError):
            while sent < size:
                writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
                await writer.drain()
                if sent > 1024 * 1024:  # past the limit: the answer is due
                    status = await status_line(0.05)
                    if status is not None:
                        return status
        return await status_line(5)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


@pytest.mark.fault("S7", "Oversized input and connection floods")
@pytest.mark.slow
async def test_oversized_requests_are_refused_before_they_are_read(
    gateway: Gateway, figures: Figures, tmp_path: Path
) -> None:
    pid = gateway.process.pid
    await gateway.query("{ flows { enabled } }")  # warm: the first request loads what it needs
    started = time.monotonic()
    async with RssSampler(pid) as rss:
        statuses = await asyncio.gather(*(raw_post(gateway.port, 60 * 1024 * 1024) for _ in range(20)))
        streamed = await asyncio.gather(*(raw_post(gateway.port, 60 * 1024 * 1024, chunked=True) for _ in range(4)))
    took = time.monotonic() - started
    figures.add("20 parallel 60 MB POSTs (Content-Length) answered 413", statuses.count(413), "")
    figures.add("4 parallel 60 MB chunked POSTs answered 413", streamed.count(413), "")
    figures.add("gateway memory growth", rss.growth_mib, "MiB", bound=25)
    figures.add("all of it took", took, "s")
    assert statuses == [413] * 20, statuses
    assert streamed == [413] * 4, streamed
    assert rss.growth_mib < 25
    # A WebSocket message over --max-message-bytes closes the connection with 1009.
    async with websockets.connect(gateway.ws_url, subprotocols=["graphql-transport-ws"], max_size=None) as ws:  # type: ignore[list-item]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            # The gateway may close while the message is still being sent: then send() says so.
            await ws.send(json.dumps({"type": "connection_init", "payload": {"padding": "x" * (2 * 1024 * 1024)}}))
            await asyncio.wait_for(ws.recv(), 10)
    code = closed.value.rcvd.code if closed.value.rcvd else None
    figures.add("2 MiB WebSocket message closed the connection with", code or 0, "")
    assert code == 1009
    assert (await gateway.query("{ flows { enabled } }"))["flows"]["enabled"] is False  # still serving
    figures.outcome("every oversized body was refused with 413 without being read whole; memory stayed flat")


@pytest.mark.fault("S7", "Oversized input and connection floods")
@pytest.mark.slow
async def test_a_flood_of_connections_that_never_send_connection_init(
    fresh_testbed: Any, tmp_path: Path, figures: Figures
) -> None:
    flood = 500
    gateway = launch(fresh_testbed, tmp_path, "--connection-init-timeout", "5s")
    try:
        await asyncio.to_thread(gateway.wait_ready)
        await gateway.query("{ flows { enabled } }")
        pid = gateway.process.pid
        async with RssSampler(pid) as rss, contextlib.AsyncExitStack() as stack:
            sockets = []
            opened = time.monotonic()
            for _ in range(flood):
                sockets.append(
                    await stack.enter_async_context(
                        websockets.connect(gateway.ws_url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
                    )
                )
            connected = time.monotonic() - opened
            # A real subscriber is served meanwhile.
            async with gateway.subscribe(SUBSCRIBE, user="viewer") as sub:
                assert (await sub.next(timeout=10))["nodeFlowStatus"]["node"]

            async def closed_with(ws: Any) -> int | None:
                with contextlib.suppress(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 30)
                return ws.close_code  # type: ignore[no-any-return]

            codes = await asyncio.gather(*(closed_with(ws) for ws in sockets))
            all_closed = time.monotonic() - opened
        settled = rss_kib(pid)
        figures.add(f"{flood} idle connections opened in", connected, "s")
        # Each closed at its init timeout (5 s after it opened): how long all took is a figure; one
        # never closed would fail closed_with's 30 s wait above. The timeout's own value is held to
        # in test_faults_auth.
        figures.add("all closed by the gateway (4408) after", all_closed, "s")
        figures.add("gateway memory growth at the peak", rss.growth_mib, "MiB", bound=60)
        figures.add("per idle connection", rss.growth_mib * 1024 / flood, "KiB")
        figures.add("memory after they closed, above the start", (settled - rss.before) / 1024, "MiB")
        assert codes == [4408] * flood, sorted(set(codes), key=str)
        assert rss.growth_mib < 60
        assert "flowgate_subscribers 0.0" in gateway.metrics()
        figures.outcome(
            "every connection that never sent connection_init was closed with 4408 at the timeout, a real "
            "subscriber was served meanwhile, memory stayed bounded"
        )
    finally:
        gateway.stop()


# -- S8: fuzzing against the real gateway and CRD --------------------------------------------------

FUZZ_START = """
mutation Start($type: FlowType!, $collector: CollectorInput, $sampling: Int, $timeout: Int, $cache: Int) {
  startFlows(type: $type, collector: $collector, sampling: $sampling, activeTimeoutSeconds: $timeout,
             cacheMaxFlows: $cache) { generation }
}"""
FUZZ_TALLY: dict[str, int] = {}


@pytest.mark.fault("S8", "Fuzzed arguments: mutation arguments and CLI flags")
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(flow_type, collector, tuning, tuning, tuning)
def test_fuzzed_starts_against_the_real_gateway(
    gateway: Gateway, kind: str, collector: Any, sampling: Any, timeout: Any, cache: Any
) -> None:
    admin = gateway.testbed.client()
    before = admin.get(EXPORT)["metadata"]["resourceVersion"] if admin.exists(EXPORT) else None
    variables = {"type": kind, "collector": collector, "sampling": sampling, "timeout": timeout, "cache": cache}
    answer = gateway.post(FUZZ_START, variables)
    if answer.get("errors"):
        found = {str((e.get("extensions") or {}).get("code")) for e in answer["errors"]}
        for code in found:
            FUZZ_TALLY[code] = FUZZ_TALLY.get(code, 0) + 1
        assert found <= {"INVALID_ARGUMENT", "INVALID_QUERY"}, answer["errors"]
        # Refused by the gateway's own validation, never by the CRD after the gateway let it through.
        assert not any("The API server refused" in e["message"] for e in answer["errors"]), answer["errors"]
        after = admin.get(EXPORT)["metadata"]["resourceVersion"] if admin.exists(EXPORT) else None
        assert after == before, "a refused start changed FlowExport/cluster"
    else:
        FUZZ_TALLY["accepted"] = FUZZ_TALLY.get("accepted", 0) + 1


@pytest.mark.fault("S8", "Fuzzed arguments: mutation arguments and CLI flags")
def test_fuzzed_starts_tally(figures: Figures) -> None:
    for what, count in sorted(FUZZ_TALLY.items()):
        figures.add(f"real gateway: {what}", count, "")
    figures.outcome("the real API server never refused what the gateway accepted; refusals changed nothing")


# -- S10: the gateway restarted under load ------------------------------------------------------------


async def table_subscriber(url: str, token: str, seen: dict[str, dict[str, Any]], events: list[str]) -> None:
    """What the console page does with flowsTable: apply snapshot and changes; on a drop, dial
    again with backoff and take the new snapshot as the table."""
    delay = 0.25
    while True:
        try:
            async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
                await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
                if json.loads(await ws.recv())["type"] != "connection_ack":
                    raise ConnectionError("no ack")
                await ws.send(json.dumps({"id": "t", "type": "subscribe", "payload": {"query": TABLE}}))
                async for raw in ws:
                    message = json.loads(raw)
                    if message.get("type") != "next":
                        continue
                    update = message["payload"]["data"]["flowsTable"]
                    if update["snapshot"]:
                        seen.clear()
                        events.append("snapshot")
                    for row in update["changed"]:
                        seen[row["node"]] = row
                    for name in update["removed"]:
                        seen.pop(name, None)
                    delay = 0.25
        except (OSError, websockets.WebSocketException, ConnectionError):
            events.append("dropped")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


@contextlib.asynccontextmanager
async def on_port(testbed: Any, tmp_path: Path, port: int) -> AsyncIterator[Gateway]:
    gateway = launch(testbed, tmp_path, port=port)
    try:
        await asyncio.to_thread(gateway.wait_ready)
        yield gateway
    finally:
        gateway.stop()


@pytest.mark.fault("S10", "The gateway restarted under load")
@pytest.mark.slow
async def test_clients_reconnect_to_a_restarted_gateway_and_show_the_current_state(
    fresh_testbed: Any, tmp_path: Path, figures: Figures, kubectl_binary: Path, watch_processes: list[LineReader]
) -> None:
    from flowgate_testbed.testbed import free_port

    testbed = fresh_testbed
    names = await node_names(testbed)
    port = free_port()
    first = launch(testbed, tmp_path, port=port)
    await asyncio.to_thread(first.wait_ready)
    generation = (await first.query(START))["startFlows"]["generation"]
    # The load: 50 more subscribers and a writer changing node-1's report all along.
    load: list[Any] = []
    stop_writing = asyncio.Event()

    async def writer() -> None:
        n = 0
        while not stop_writing.is_set():
            n += 1
            with contextlib.suppress(Exception):
                await report_flow(testbed, names[0], "Emitting", generation, endpoint=f"10.89.0.1:{30000 + n % 1000}")
            await asyncio.sleep(0.05)

    seen: dict[str, dict[str, Any]] = {}
    table_events: list[str] = []
    table = asyncio.create_task(table_subscriber(first.ws_url, testbed.token("viewer"), seen, table_events))
    cli = Kubectl(testbed.kubeconfig("viewer"), gateway_url=first.url).popen("flows", "status", "--watch")
    watch_processes.append(cli)
    script = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / "subscribe_flows.py"),
        env={**os.environ, "FLOWGATE_URL": first.graphql_url, "FLOWGATE_TOKEN": testbed.token("viewer")},
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    script_lines: list[str] = []

    async def read_script() -> None:
        assert script.stdout is not None
        while line := await script.stdout.readline():
            script_lines.append(line.decode().rstrip("\n"))

    script_reader = asyncio.create_task(read_script())
    writing = asyncio.create_task(writer())
    try:
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(50):
                load.append(await stack.enter_async_context(first.subscribe(SUBSCRIBE, user="viewer")))
            for _ in range(len(names) + 1):
                await asyncio.to_thread(cli.next_line, 30)
            for _ in range(300):  # every client has its first view of every node
                if len(seen) == len(names) and len(script_lines) >= len(names):
                    break
                await asyncio.sleep(0.1)
            assert len(seen) == len(names) and len(script_lines) >= len(names)

            # Restart under load; while it is down, node-3 starts emitting.
            stopping = time.monotonic()
            await asyncio.to_thread(first.stop)
            down_at = time.monotonic()
            await report_flow(testbed, names[2], "Emitting", generation, endpoint="10.89.0.3:30001")
            await asyncio.sleep(1.0)
            async with on_port(testbed, tmp_path, port) as second:
                back = time.monotonic()
                figures.add("gateway stopped in", down_at - stopping, "s")
                figures.add("gateway down (stop to ready again)", back - down_at, "s")

                def table_current() -> bool:
                    return seen.get(names[2], {}).get("state") == "EMITTING" and "dropped" in table_events

                def script_current() -> bool:
                    return any(line.startswith(names[2]) and "emitting" in line for line in script_lines)

                cli_lines: list[str] = []
                deadline = time.monotonic() + RECONNECTED_WITHIN
                cli_seen = table_seen = script_seen = None
                while time.monotonic() < deadline and None in (cli_seen, table_seen, script_seen):
                    with contextlib.suppress(AssertionError):
                        cli_lines.append(await asyncio.to_thread(cli.next_line, 0.2))
                    now = time.monotonic() - back
                    if cli_seen is None and any(line.startswith(names[2]) and "emitting" in line for line in cli_lines):
                        cli_seen = now
                    if table_seen is None and table_current():
                        table_seen = now
                    if script_seen is None and script_current():
                        script_seen = now
                await second.query("{ flows { enabled } }")
            figures.add(
                "kubectl flows status --watch showed the current state after",
                cli_seen or -1,
                "s",
                bound=RECONNECTED_WITHIN,
            )
            figures.add(
                "flowsTable subscriber (the console page's) after", table_seen or -1, "s", bound=RECONNECTED_WITHIN
            )
            figures.add("gql example script after", script_seen or -1, "s", bound=RECONNECTED_WITHIN)
            assert cli_seen is not None, f"kubectl flows status --watch never showed {names[2]} emitting: {cli.seen}"
            assert table_seen is not None, f"the flowsTable subscriber never did: {seen}, {table_events}"
            assert script_seen is not None, f"the gql example script never did: {script_lines}"
            assert cli.proc.poll() is None and script.returncode is None
            assert table_events.count("snapshot") >= 2
            figures.outcome(
                "all three reconnected on their own and showed the state changed while the gateway was down"
            )
    finally:
        stop_writing.set()
        await asyncio.gather(writing, return_exceptions=True)
        table.cancel()
        await asyncio.gather(table, return_exceptions=True)
        if script.returncode is None:
            script.terminate()
            await script.wait()
        script_reader.cancel()
        await asyncio.gather(script_reader, return_exceptions=True)
        first.stop()
