"""Never fighting OpenShift's Cluster Network Operator, on the real API server: while
networks.operator.openshift.io/cluster sets spec.exportNetworkFlows, every start fails with a
sentence naming that field (CONFLICT) and writes nothing, through the gateway and `kubectl flows`
alike, and `flows` says who manages export and where it goes. (What the agents do is in
tests/e2e/test_coexistence.py.)"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.gateway import Gateway, GraphQLErrorResponse, flow_export
from tests.fixtures.kubectl import Kubectl

OPERATOR_NETWORK = "/apis/operator.openshift.io/v1/networks/cluster"
START = "mutation { startFlows(type: NETFLOW) { generation } }"
MANAGED = "{ flows { enabled operatorExport { manager field exporters { type collectors } message } } }"
SENTENCE = (
    "Flow export on this cluster is managed by the Cluster Network Operator: networks.operator.openshift.io/cluster "
    "sets spec.exportNetworkFlows (NetFlow to 192.0.2.1:2055, 192.0.2.2:2055; sFlow to 192.0.2.3:6343) and "
    "ovnkube-node configures br-int from it. flowgate does not start, switch or repair flow export while that "
    "field is set; remove spec.exportNetworkFlows to let it."
)


def operator_exports(testbed: Any) -> None:
    flows = {
        "netFlow": {"collectors": ["192.0.2.1:2055", "192.0.2.2:2055"]},
        "sFlow": {"collectors": ["192.0.2.3:6343"]},
    }
    testbed.client().merge_patch(OPERATOR_NETWORK, {"spec": {"exportNetworkFlows": flows}})


async def managed(gateway: Gateway, want: bool, timeout: float = 5.0) -> dict[str, Any]:
    for _ in range(int(timeout / 0.05)):
        flows: dict[str, Any] = (await gateway.query(MANAGED))["flows"]
        if (flows["operatorExport"] is not None) == want:
            return flows
        await asyncio.sleep(0.05)
    raise AssertionError(f"operatorExport did not become {'set' if want else 'null'} within {timeout}s")


async def test_start_is_refused_while_the_operator_manages_export(gateway: Gateway) -> None:
    testbed = gateway.testbed
    operator_exports(testbed)
    flows = await managed(gateway, True)
    assert flows["operatorExport"] == {
        "manager": "Cluster Network Operator",
        "field": "spec.exportNetworkFlows",
        "exporters": [
            {"type": "NETFLOW", "collectors": ["192.0.2.1:2055", "192.0.2.2:2055"]},
            {"type": "SFLOW", "collectors": ["192.0.2.3:6343"]},
        ],
        "message": SENTENCE,
    }
    with pytest.raises(GraphQLErrorResponse) as refused:
        await gateway.query(START)
    assert (refused.value.code, refused.value.message) == ("CONFLICT", SENTENCE)
    assert await flow_export(testbed) is None

    # Once the field is removed, flowgate may switch again.
    testbed.client().merge_patch(OPERATOR_NETWORK, {"spec": {"exportNetworkFlows": None}})
    await managed(gateway, False)
    assert (await gateway.query(START))["startFlows"]["generation"] == 1


def test_kubectl_flows_says_so_too(fresh_testbed: Any, kubectl_binary: Path) -> None:
    operator_exports(fresh_testbed)
    kubectl = Kubectl(fresh_testbed.kubeconfig("admin"))
    refused = kubectl("flows", "start", "ipfix")
    assert refused.returncode == 1 and refused.stderr.strip() == SENTENCE
    assert fresh_testbed.kubectl("get", "flowexports").stdout == ""
    status = kubectl.ok("flows", "status")
    assert status.stdout.startswith(SENTENCE + "\n\nNAME")
    as_json = kubectl.ok("flows", "status", "-o", "json").stdout
    assert '"manager": "Cluster Network Operator"' in as_json
