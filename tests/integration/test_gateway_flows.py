"""The gateway's GraphQL API against a real API server: reading, starting, stopping, live status,
network support, access control and input validation."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.fixtures.gateway import Gateway, GraphQLErrorResponse, flow_export, node_names, report_flow

FLOWS = "{ flows { enabled type networkType supported generation collector { mode nodePort description } summary { total disabled pending emitting error } nodes { node state type endpoint message observedGeneration } } }"
START = """
mutation Start($type: FlowType!, $collector: CollectorInput, $sampling: Int, $activeTimeoutSeconds: Int, $cacheMaxFlows: Int) {
  startFlows(type: $type, collector: $collector, sampling: $sampling, activeTimeoutSeconds: $activeTimeoutSeconds, cacheMaxFlows: $cacheMaxFlows) {
    enabled type generation collector { mode nodePort description }
    summary { total pending }
    nodes { node state type endpoint message }
  }
}
"""
STOP = "mutation { stopFlows { enabled type generation nodes { node state type } } }"
SUBSCRIBE = "subscription Follow($node: String) { nodeFlowStatus(node: $node) { node state type endpoint message observedGeneration } }"


def states(nodes: list[dict[str, Any]]) -> dict[str, str]:
    return {n["node"]: n["state"] for n in nodes}


async def test_flows_lists_every_node(gateway: Gateway) -> None:
    names = await node_names(gateway.testbed)
    assert len(names) == 3
    flows = (await gateway.query(FLOWS))["flows"]
    assert [n["node"] for n in flows["nodes"]] == names
    assert flows["enabled"] is False and flows["supported"] is True
    assert flows["networkType"] == "OVNKubernetes"
    assert flows["summary"] == {"total": 3, "disabled": 3, "pending": 0, "emitting": 0, "error": 0}


async def test_start_subscribe_report_stop(gateway: Gateway) -> None:
    names = await node_names(gateway.testbed)
    async with gateway.subscribe(SUBSCRIBE) as sub:
        snapshot = [(await sub.next())["nodeFlowStatus"] for _ in names]
        assert {s["node"]: s["state"] for s in snapshot} == dict.fromkeys(names, "DISABLED")

        started = (await gateway.query(START, {"type": "NETFLOW", "collector": {"nodePort": 30001}}))["startFlows"]
        assert started["enabled"] and started["type"] == "NETFLOW"
        assert started["collector"] == {"mode": "nodePort", "nodePort": 30001, "description": "nodePort 30001"}
        assert states(started["nodes"]) == dict.fromkeys(names, "PENDING")
        export = await flow_export(gateway.testbed)
        assert export is not None
        assert export["spec"] == {"type": "NetFlow", "collector": {"nodePort": 30001}}
        generation = export["metadata"]["generation"]
        assert started["generation"] == generation

        pending = [(await sub.next())["nodeFlowStatus"] for _ in names]
        assert {s["node"]: s["state"] for s in pending} == dict.fromkeys(names, "PENDING")

        # A node agent reports: the subscriber hears of it (in milliseconds; how fast is a benchmark's).
        written = time.monotonic()
        await report_flow(gateway.testbed, names[0], "Emitting", generation, endpoint="10.89.0.2:30001")
        # (Creating the Flow before its status is itself a change: observedGeneration 0.)
        change = (await sub.until(lambda d: d["nodeFlowStatus"]["state"] == "EMITTING", timeout=10))["nodeFlowStatus"]
        delivered = time.monotonic() - written
        print(f"\nFlow status written -> EMITTING delivered to the subscriber in {delivered * 1000:.0f} ms")
        assert change == {
            "node": names[0],
            "state": "EMITTING",
            "type": "NETFLOW",
            "endpoint": "10.89.0.2:30001",
            "message": None,
            "observedGeneration": generation,
        }

        # The query agrees (read from the same cache).
        flows = (await gateway.query(FLOWS))["flows"]
        assert flows["summary"]["emitting"] == 1 and flows["summary"]["pending"] == 2

        stopped = (await gateway.query(STOP))["stopFlows"]
        assert stopped["enabled"] is False and stopped["type"] is None
        assert states(stopped["nodes"]) == dict.fromkeys(names, "DISABLED")
        disabled = await sub.until(lambda d: d["nodeFlowStatus"]["node"] == names[0], timeout=2)
        assert disabled["nodeFlowStatus"]["state"] == "DISABLED"
    export = await flow_export(gateway.testbed)
    assert export is not None and "type" not in export["spec"]


async def test_start_is_idempotent_and_switches_type(gateway: Gateway) -> None:
    variables = {"type": "NETFLOW", "collector": {"nodePort": 30001}}
    first = (await gateway.query(START, variables))["startFlows"]["generation"]
    again = (await gateway.query(START, variables))["startFlows"]["generation"]
    assert again == first, "the same start twice must not change the desired state"
    ipfix = (
        await gateway.query(START, {"type": "IPFIX", "collector": {"targets": ["10.0.0.9:4739"]}, "sampling": 400})
    )["startFlows"]
    assert ipfix["type"] == "IPFIX" and ipfix["generation"] == first + 1
    assert ipfix["collector"]["mode"] == "targets"
    export = await flow_export(gateway.testbed)
    assert export is not None
    assert export["spec"] == {"type": "IPFIX", "collector": {"targets": ["10.0.0.9:4739"]}, "sampling": 400}
    # Without a collector the default Service selector is used.
    sflow = (await gateway.query(START, {"type": "SFLOW"}))["startFlows"]
    assert sflow["collector"]["description"] == "selector role=flows-collector"
    assert (await gateway.query(STOP))["stopFlows"]["generation"] == first + 3


async def test_stop_when_never_started(gateway: Gateway) -> None:
    assert await flow_export(gateway.testbed) is None
    stopped = (await gateway.query(STOP))["stopFlows"]
    assert stopped["enabled"] is False
    assert set(states(stopped["nodes"]).values()) == {"DISABLED"}
    # Stopping records the stop: FlowExport/cluster now exists, with nothing asked of the nodes.
    export = await flow_export(gateway.testbed)
    assert export is not None and export["spec"] == {}
    assert stopped["generation"] == export["metadata"]["generation"] == 1


async def test_sdn_refuses_to_start_and_changes_nothing(sdn_gateway: Gateway) -> None:
    flows = (await sdn_gateway.query(FLOWS))["flows"]
    assert (flows["networkType"], flows["supported"]) == ("OpenShiftSDN", False)
    before = await flow_export(sdn_gateway.testbed)
    with pytest.raises(GraphQLErrorResponse) as err:
        await sdn_gateway.query(START, {"type": "NETFLOW", "collector": {"nodePort": 30001}})
    assert err.value.code == "UNSUPPORTED_NETWORK"
    assert err.value.message == "OpenShiftSDN does not support flows tracing."
    assert await flow_export(sdn_gateway.testbed) == before


async def test_viewer_reads_and_subscribes_but_cannot_start(gateway: Gateway) -> None:
    flows = (await gateway.query(FLOWS, user="viewer"))["flows"]
    assert len(flows["nodes"]) == 3
    async with gateway.subscribe(SUBSCRIBE, user="viewer") as sub:
        assert (await sub.next())["nodeFlowStatus"]["state"] == "DISABLED"
    for mutation, variables in ((START, {"type": "NETFLOW", "collector": {"nodePort": 30001}}), (STOP, None)):
        with pytest.raises(GraphQLErrorResponse) as err:
            await gateway.query(mutation, variables, user="viewer")
        assert err.value.code == "FORBIDDEN"
        assert 'User "viewer" may not' in err.value.message and "flowexports.flowgate.dev" in err.value.message
    assert await flow_export(gateway.testbed) is None


async def test_viewer_cannot_start_even_when_already_started(gateway: Gateway) -> None:
    variables = {"type": "NETFLOW", "collector": {"nodePort": 30001}}
    await gateway.query(START, variables)
    before = await flow_export(gateway.testbed)
    with pytest.raises(GraphQLErrorResponse) as err:
        await gateway.query(START, variables, user="viewer")
    assert err.value.code == "FORBIDDEN"
    assert await flow_export(gateway.testbed) == before


async def test_a_viewer_is_refused_even_by_a_gateway_whose_own_account_may_write(
    gateway: Gateway, start_gateway: Any
) -> None:
    """Writes go to the API server as the caller, never with the gateway's own credentials: a
    gateway running as the cluster admin still cannot be used by a viewer to switch anything."""
    mighty = start_gateway(gateway.testbed, user="admin")
    variables = {"type": "NETFLOW", "collector": {"nodePort": 30001}}
    for mutation, vars_ in ((START, variables), (STOP, None)):
        with pytest.raises(GraphQLErrorResponse) as err:
            await mighty.query(mutation, vars_, user="viewer")
        assert err.value.code == "FORBIDDEN" and 'User "viewer" may not' in err.value.message
    assert await flow_export(gateway.testbed) is None
    await mighty.query(START, variables, user="admin")  # the same gateway, an admin caller
    before = await flow_export(gateway.testbed)
    assert before is not None and before["spec"]["type"] == "NetFlow"
    with pytest.raises(GraphQLErrorResponse):
        await mighty.query(STOP, user="viewer")
    assert await flow_export(gateway.testbed) == before


async def test_nobody_is_forbidden_and_no_token_is_unauthenticated(gateway: Gateway) -> None:
    with pytest.raises(GraphQLErrorResponse) as err:
        await gateway.query(FLOWS, user="nobody")
    assert err.value.code == "FORBIDDEN"
    assert err.value.message.startswith('User "nobody" may not list flows.flowgate.dev')
    with pytest.raises(GraphQLErrorResponse) as err:
        await gateway.query(FLOWS, user=None)
    assert err.value.code == "UNAUTHENTICATED"
    with pytest.raises(GraphQLErrorResponse) as err:
        await gateway.query(FLOWS, user=None, headers={"Authorization": "Bearer not-a-token"})
    assert err.value.code == "UNAUTHENTICATED"
    # The same over WebSocket: the subscription answers with the error, nothing is streamed.
    for user, code in (("nobody", "FORBIDDEN"), (None, "UNAUTHENTICATED")):
        async with gateway.subscribe(SUBSCRIBE, user=user) as sub:
            with pytest.raises(GraphQLErrorResponse) as err:
                await sub.next()
            assert err.value.code == code
    with pytest.raises(GraphQLErrorResponse) as err:
        await gateway.query(START, {"type": "NETFLOW"}, user="nobody")
    assert err.value.code == "FORBIDDEN"
    assert await flow_export(gateway.testbed) is None


INVALID = [
    pytest.param({"type": "NETFLOW", "collector": {"nodePort": 0}}, "collector.nodePort", id="nodePort-0"),
    pytest.param({"type": "NETFLOW", "collector": {"nodePort": 70000}}, "collector.nodePort", id="nodePort-70000"),
    pytest.param(
        {"type": "NETFLOW", "collector": {"selector": [{"key": "a", "value": "b"}], "targets": ["10.0.0.1:2055"]}},
        "collector",
        id="selector-and-targets",
    ),
    pytest.param(
        {"type": "NETFLOW", "collector": {"selector": [{"key": "bad key!", "value": "x"}]}},
        "collector.selector",
        id="malformed-label",
    ),
    pytest.param(
        {"type": "NETFLOW", "collector": {"targets": [f"10.0.0.{i}:2055" for i in range(1, 12)]}},
        "collector.targets",
        id="11-targets",
    ),
    pytest.param({"type": "IPFIX", "sampling": 0}, "sampling", id="sampling-0"),
    pytest.param({"type": "NETFLOW", "sampling": 10}, "sampling", id="sampling-on-netflow"),
    pytest.param({"type": "SFLOW", "cacheMaxFlows": 100}, "cacheMaxFlows", id="cacheMaxFlows-not-ipfix"),
    pytest.param({"type": "NETFLOW", "activeTimeoutSeconds": 0}, "activeTimeoutSeconds", id="activeTimeout-0"),
]


@pytest.mark.parametrize(("variables", "field"), INVALID)
async def test_invalid_input_names_the_field_and_writes_nothing(
    gateway: Gateway, variables: dict[str, Any], field: str
) -> None:
    before = await flow_export(gateway.testbed)
    with pytest.raises(GraphQLErrorResponse) as err:
        await gateway.query(START, variables)
    assert err.value.code == "INVALID_ARGUMENT"
    assert err.value.field == field
    assert field in err.value.message
    assert await flow_export(gateway.testbed) == before


async def test_invalid_input_leaves_a_running_export_untouched(gateway: Gateway) -> None:
    await gateway.query(START, {"type": "NETFLOW", "collector": {"nodePort": 30001}})
    before = await flow_export(gateway.testbed)
    with pytest.raises(GraphQLErrorResponse):
        await gateway.query(START, {"type": "NETFLOW", "collector": {"nodePort": 70000}})
    assert await flow_export(gateway.testbed) == before


async def test_subscription_to_one_node(gateway: Gateway) -> None:
    names = await node_names(gateway.testbed)
    async with gateway.subscribe(SUBSCRIBE, {"node": names[1]}) as sub:
        assert (await sub.next())["nodeFlowStatus"]["node"] == names[1]
        started = await gateway.query(START, {"type": "NETFLOW", "collector": {"nodePort": 30001}})
        generation = started["startFlows"]["generation"]
        change = (await sub.next())["nodeFlowStatus"]
        assert (change["node"], change["state"]) == (names[1], "PENDING")
        await report_flow(gateway.testbed, names[0], "Error", generation, message="no collector")
        await report_flow(gateway.testbed, names[1], "Error", generation, message="no flows collector on this node")
        change = (await sub.until(lambda d: d["nodeFlowStatus"]["state"] != "PENDING"))["nodeFlowStatus"]
        assert (change["node"], change["state"], change["message"]) == (
            names[1],
            "ERROR",
            "no flows collector on this node",
        )
    async with gateway.subscribe(SUBSCRIBE, {"node": "no-such-node"}) as sub:
        with pytest.raises(GraphQLErrorResponse) as err:
            await sub.next()
        assert (err.value.code, err.value.field) == ("INVALID_ARGUMENT", "node")
