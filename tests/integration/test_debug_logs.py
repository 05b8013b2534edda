"""Scenario S6 at debug level: the gateway (`--log-level debug`) and a node agent
(`--log-level DEBUG`) run while every way a credential reaches them is used, and their logs hold
no token. The session's own scan of every log (tests/fixtures/faults.py) reads these files too;
this test says which lines, and that the run was at debug level at all."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.agents import NodeAgents
from tests.fixtures.faults import Figures, issued_tokens, scan_logs
from tests.fixtures.gateway import GraphQLErrorResponse, launch
from tests.fixtures.waiting import wait_for

START = 'mutation { startFlows(type: NETFLOW, collector: {targets: ["192.0.2.10:2055"]}) { generation } }'
FLOWS = "{ flows { enabled nodes { node state } } }"
SUBSCRIBE = "subscription { nodeFlowStatus { node state } }"
# Shaped like a service-account token, unknown to the API server: refused, and never to be quoted.
FORGED = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6eCJ9.c2lnbmF0dXJlLW5vdC1yZWFs"


@pytest.mark.fault("S6", "No log line ever contains a token")
async def test_no_token_in_the_logs_of_a_debug_level_run(fresh_testbed: Any, tmp_path: Path, figures: Figures) -> None:
    gateway = launch(fresh_testbed, tmp_path, "--log-level", "debug")
    agents = NodeAgents(fresh_testbed, tmp_path, resync="1s")
    # No OVS here: the agent still lists, watches and writes its Flow with its own token.
    agents.start("node-1", ovs_rundir=str(tmp_path / "no-ovs"), extra=["--log-level", "DEBUG"])
    try:
        await asyncio.to_thread(gateway.wait_ready)
        viewer = fresh_testbed.token("viewer")
        # HTTP: the Authorization header, and the header the API server's service proxy leaves alone.
        generation = (await gateway.query(START))["startFlows"]["generation"]
        await gateway.query(FLOWS, user=None, headers={"X-Flowgate-Authorization": f"Bearer {viewer}"})
        # WebSocket: the token in connection_init, and in the handshake's Authorization header.
        async with gateway.subscribe(SUBSCRIBE, user="viewer") as sub:
            await sub.next()
        async with gateway.subscribe(SUBSCRIBE, user=None, headers={"Authorization": f"Bearer {viewer}"}) as sub:
            await sub.next()
        # Refused credentials are logged as refusals, never quoted.
        with pytest.raises(GraphQLErrorResponse):
            await gateway.query(FLOWS, user=None, headers={"Authorization": f"Bearer {FORGED}"})
        wait_for(
            lambda: (
                (fresh_testbed.client().get("/apis/flowgate.dev/v1alpha1/flows/node-1").get("status") or {}).get(
                    "observedGeneration"
                )
                == generation
            ),
            30,
            f"node-1's agent reporting generation {generation}",
            saw=lambda: fresh_testbed.client().get("/apis/flowgate.dev/v1alpha1/flows").get("items"),
        )
    finally:
        gateway.stop()
        agents.stop("node-1")
    logs = {"gateway": gateway.log.read_text(errors="replace"), "agent": agents.log("node-1")}
    for name, text in logs.items():
        # ("DEBUG:    " from uvicorn's own lines, "... DEBUG agent[node-1] ..." from flowgate's)
        assert re.search(r"\bDEBUG\b", text), f"the {name} logged nothing at debug level: the scan would prove nothing"
    files, lines, findings = scan_logs(tmp_path, issued_tokens(fresh_testbed) | {FORGED})
    figures.add("log files of a debug-level gateway and agent searched", files, "")
    figures.add("lines", lines, "")
    assert files >= 2
    assert not findings, f"a token is in {len(findings)} debug-level log lines: {', '.join(findings[:10])}"
    figures.outcome("no token in any line the gateway and the agent logged at debug level")
