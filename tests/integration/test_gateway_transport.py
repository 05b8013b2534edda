"""How clients reach the gateway: both token carriers, both WebSocket protocols, GraphiQL, the
operational endpoints and the limits that protect the server."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import websockets

from tests.fixtures.gateway import ROOT, Gateway, GraphQLErrorResponse

FLOWS = "{ flows { enabled nodes { node state } } }"
SUBSCRIBE = "subscription { nodeFlowStatus { node state } }"


async def test_token_in_flowgate_header_as_through_the_service_proxy(gateway: Gateway) -> None:
    # kube-apiserver's service proxy strips Authorization; the CLI sends its token here instead.
    token = gateway.testbed.token("viewer")
    data = await gateway.query(FLOWS, user=None, headers={"X-Flowgate-Authorization": f"Bearer {token}"})
    assert len(data["flows"]["nodes"]) == 3


async def test_websocket_token_on_the_upgrade_request(gateway: Gateway) -> None:
    headers = {"Authorization": f"Bearer {gateway.testbed.token('viewer')}"}
    async with gateway.subscribe(SUBSCRIBE, user=None, init_payload={}, headers=headers) as sub:
        assert (await sub.next())["nodeFlowStatus"]["state"] == "DISABLED"


async def test_legacy_graphql_ws_protocol(gateway: Gateway) -> None:
    token = gateway.testbed.token("admin")
    async with websockets.connect(gateway.ws_url, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "graphql-ws"
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "start", "payload": {"query": SUBSCRIBE}}))
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if message["type"] == "data":
                assert message["payload"]["data"]["nodeFlowStatus"]["state"] == "DISABLED"
                break


async def test_graphiql_and_operational_endpoints(gateway: Gateway) -> None:
    status, page = gateway.get("/graphql", {"Accept": "text/html"})
    assert status == 200 and "graphiql" in page.lower()
    assert gateway.get("/healthz") == (200, "ok\n")
    status, body = gateway.get("/readyz")
    assert status == 200 and json.loads(body)["ready"] is True
    await gateway.query(FLOWS)
    metrics = gateway.metrics()
    for name in (
        "flowgate_http_requests_total",
        "flowgate_graphql_operations_total",
        "flowgate_subscribers",
        "flowgate_watch_restarts_total",
        "flowgate_event_lag_seconds_bucket",
        "flowgate_watches 6.0",
        "flowgate_ready 1.0",
    ):
        assert name in metrics, name


async def test_query_limits(gateway: Gateway) -> None:
    aliases = " ".join(f"a{i}: flows {{ enabled }}" for i in range(30))
    result = gateway.post(f"{{ {aliases} }}")
    assert result["errors"] and "aliases" in result["errors"][0]["message"]
    assert result["errors"][0]["extensions"]["code"] == "INVALID_QUERY"
    tokens = "{ flows { " + " ".join(["enabled"] * 3000) + " } }"
    result = gateway.post(tokens)
    assert result["errors"] and "token" in result["errors"][0]["message"].lower()


async def test_subscriptions_per_connection_are_capped(gateway: Gateway) -> None:
    token = gateway.testbed.token("admin")
    async with websockets.connect(gateway.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        for i in range(21):
            await ws.send(json.dumps({"id": str(i), "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
        errors = []
        for _ in range(200):
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if message["type"] == "error":
                errors.append(message)
                break
        assert errors and errors[0]["id"] == "20"
        assert "limit" in errors[0]["payload"][0]["message"].lower()


async def test_websocket_origin_check(gateway: Gateway, start_gateway: Callable[..., Gateway]) -> None:
    # A page of another origin, with nothing a script could not send: refused, and told why.
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(
            gateway.ws_url, subprotocols=["graphql-transport-ws"], origin="https://evil.example"
        ):  # type: ignore[list-item,arg-type]
            pass
    assert refused.value.response.status_code == 403
    assert b"refused a WebSocket from a page on https://evil.example" in refused.value.response.body
    # The OpenShift console's proxy dials with its own fixed Origin and the user's token in the
    # Authorization header (openshift/console pkg/proxy/proxy.go): accepted, as that user.
    console_proxy = {"Origin": "http://localhost", "Authorization": f"Bearer {gateway.token('viewer')}"}
    async with gateway.subscribe(SUBSCRIBE, init_payload={}, headers=console_proxy) as sub:
        assert (await sub.next())["nodeFlowStatus"]["node"]
    # Without the token the same Origin is a page on http://localhost like any other.
    with pytest.raises(websockets.InvalidStatus):
        async with gateway.subscribe(SUBSCRIBE, headers={"Origin": "http://localhost"}):
            pass
    allowed = start_gateway(gateway.testbed, "--allowed-origin", "https://console.example")
    async with allowed.subscribe(SUBSCRIBE, headers={"Origin": "https://console.example"}) as sub:
        assert (await sub.next())["nodeFlowStatus"]["node"]


async def test_connection_init_is_required(gateway: Gateway) -> None:
    async with websockets.connect(gateway.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_auth_none_uses_the_gateway_identity_on_loopback(
    gateway: Gateway, start_gateway: Callable[..., Gateway]
) -> None:
    # The testbed's admin as the gateway identity: anyone reaching the loopback port acts as it.
    open_gateway = start_gateway(gateway.testbed, "--auth", "none", user="admin")
    data = await open_gateway.query(FLOWS, user=None)
    assert len(data["flows"]["nodes"]) == 3
    started = await open_gateway.query("mutation { startFlows(type: SFLOW) { enabled } }", user=None)
    assert started["startFlows"]["enabled"] is True


def run_serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.main", "serve", *args], cwd=ROOT, capture_output=True, text=True, timeout=30
    )


def test_auth_none_is_refused_off_loopback() -> None:
    result = run_serve("--auth", "none", "--host", "0.0.0.0", "--kubeconfig", "/nonexistent")
    assert result.returncode == 2
    assert "--auth none" in result.stderr and "loopback" in result.stderr


def test_tls_flags_go_together() -> None:
    result = run_serve("--tls-cert", "cert.pem")
    assert result.returncode == 2 and "--tls-key" in result.stderr


async def test_unavailable_before_the_cache_is_synced(gateway: Gateway, start_gateway: Callable[..., Gateway]) -> None:
    """A gateway whose identity cannot list anything never syncs: it says so instead of guessing."""
    blind = start_gateway(gateway.testbed, "--auth", "none", user="nobody", wait=False)
    await asyncio.to_thread(blind.wait_listening)
    await asyncio.sleep(1.5)  # time enough to have synced, were it able to
    assert not blind.ready()
    with pytest.raises(GraphQLErrorResponse) as err:
        await blind.query(FLOWS, user=None)
    assert err.value.code == "UNAVAILABLE" and "/readyz" in err.value.message
    # With token review on, an identity that may not review tokens cannot vouch for callers.
    no_review = start_gateway(gateway.testbed, user="nobody", wait=False)
    await asyncio.to_thread(no_review.wait_listening)
    with pytest.raises(GraphQLErrorResponse) as err:
        await no_review.query(FLOWS, user="admin")
    assert err.value.code == "UNAVAILABLE" and "system:auth-delegator" in err.value.message


def test_serves_https_with_the_given_certificate(
    gateway: Gateway, start_gateway: Callable[..., Gateway], tmp_path: Path
) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    secure = start_gateway(gateway.testbed, "--tls-cert", str(cert), "--tls-key", str(key), wait=False)
    context = ssl.create_default_context(cafile=str(cert))
    body = json.dumps({"query": FLOWS}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {gateway.testbed.token('viewer')}"}
    for _ in range(100):
        try:
            request = urllib.request.Request(f"https://127.0.0.1:{secure.port}/graphql", body, headers)
            with urllib.request.urlopen(request, context=context, timeout=5) as resp:
                result = json.loads(resp.read())
            if not result.get("errors"):
                break
        except OSError:
            pass
        time.sleep(0.2)
    assert len(result["data"]["flows"]["nodes"]) == 3
