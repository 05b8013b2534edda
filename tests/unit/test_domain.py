"""The domain core: validation, status derivation, network support and the CRD round trip."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.domain.errors import InvalidArgument, UnsupportedNetwork
from gateway.domain.model import (
    CollectorTarget,
    FlowExport,
    FlowExportSpec,
    FlowReport,
    FlowType,
    NodeFlowState,
    NodeInfo,
)
from gateway.domain.network import network_support
from gateway.domain.status import flows_state, node_flow_status
from gateway.domain.validation import parse_selector, validate_collector, validate_start


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"node_port": 0}, "collector.nodePort"),
        ({"node_port": 70000}, "collector.nodePort"),
        ({"selector": {"a": "b"}, "targets": ["1.2.3.4:5"]}, "collector"),
        ({"selector": {"bad key!": "x"}}, "collector.selector"),
        ({"selector": {"k": "-bad-"}}, "collector.selector"),
        ({"selector": {}}, "collector.selector"),
        ({"targets": [f"10.0.0.{i}:2055" for i in range(11)]}, "collector.targets"),
        ({"targets": []}, "collector.targets"),
        ({"targets": ["nohost"]}, "collector.targets"),
        ({"targets": ["10.0.0.1:0"]}, "collector.targets"),
        ({"targets": ["example.com:2055"]}, "collector.targets"),
    ],
)
def test_invalid_collectors_name_their_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        validate_collector(**kwargs)  # type: ignore[arg-type]
    assert err.value.field == field
    assert err.value.message.startswith(field) or field in err.value.message


def test_valid_collectors() -> None:
    assert validate_collector(node_port=30001) == CollectorTarget(node_port=30001)
    assert validate_collector() == CollectorTarget.default()
    assert validate_collector(selector={"b": "2", "a": "1"}).selector == (("a", "1"), ("b", "2"))
    assert validate_collector(targets=["10.0.0.1:2055", "[fd00::1]:2055"]).targets == (
        "10.0.0.1:2055",
        "[fd00::1]:2055",
    )
    assert parse_selector("app=goflow,tier=x") == {"app": "goflow", "tier": "x"}
    with pytest.raises(InvalidArgument):
        parse_selector("app")


@pytest.mark.parametrize(
    ("flow_type", "kwargs", "field"),
    [
        (FlowType.IPFIX, {"sampling": 0}, "sampling"),
        (FlowType.NETFLOW, {"sampling": 10}, "sampling"),
        (FlowType.SFLOW, {"cache_max_flows": 10}, "cacheMaxFlows"),
        (FlowType.IPFIX, {"active_timeout_seconds": 3601}, "activeTimeoutSeconds"),
    ],
)
def test_invalid_tuning(flow_type: FlowType, kwargs: dict[str, int], field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        validate_start(flow_type, CollectorTarget.default(), **kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


def test_flow_type_parsing() -> None:
    for text in ("netflow", "NETFLOW", "NetFlow"):
        assert FlowType.parse(text) is FlowType.NETFLOW
    assert FlowType.SFLOW.cli_name == "sflow"
    with pytest.raises(ValueError, match="choose one of netflow, ipfix, sflow"):
        FlowType.parse("pcap")


def test_spec_round_trip_and_cleared_fields() -> None:
    spec = FlowExportSpec(FlowType.IPFIX, CollectorTarget(targets=("10.0.0.1:4739",)), sampling=400, cache_max_flows=10)
    assert FlowExportSpec.from_spec(spec.to_spec()) == spec
    stopped = FlowExportSpec().to_spec()
    assert stopped["type"] is None and stopped["collector"] is None
    assert FlowExportSpec.from_spec({}) == FlowExportSpec()


GEN2 = FlowExport(FlowExportSpec(FlowType.NETFLOW, CollectorTarget(node_port=30001)), generation=2)


def report(state: NodeFlowState, generation: int) -> FlowReport:
    return FlowReport("n1", state, FlowType.NETFLOW, "10.0.0.1:30001", None, generation, "2024-01-01T00:00:00Z")


def test_node_status_derivation() -> None:
    assert node_flow_status("n1", None, None).state is NodeFlowState.DISABLED
    assert node_flow_status("n1", GEN2, None).state is NodeFlowState.PENDING
    assert node_flow_status("n1", GEN2, report(NodeFlowState.EMITTING, 1)).state is NodeFlowState.PENDING
    emitting = node_flow_status("n1", GEN2, report(NodeFlowState.EMITTING, 2))
    assert (emitting.state, emitting.endpoint) == (NodeFlowState.EMITTING, "10.0.0.1:30001")
    stopped = FlowExport(FlowExportSpec(), generation=3)
    unconfirmed = node_flow_status("n1", stopped, report(NodeFlowState.EMITTING, 2))
    assert unconfirmed.state is NodeFlowState.DISABLED and unconfirmed.message and "3" in unconfirmed.message
    assert node_flow_status("n1", stopped, report(NodeFlowState.DISABLED, 3)).message is None


def test_flows_state_counts_every_node() -> None:
    support = network_support(None, [NodeInfo("n1", ovn_kubernetes=True)])
    state = flows_state(GEN2, ["n2", "n1"], {"n1": report(NodeFlowState.EMITTING, 2)}, support)
    assert [n.node for n in state.nodes] == ["n1", "n2"]
    assert (state.summary.total, state.summary.emitting, state.summary.pending) == (2, 1, 1)
    assert state.enabled and state.collector == CollectorTarget(node_port=30001)


def test_network_support() -> None:
    sdn = network_support({"status": {"networkType": "OpenShiftSDN"}}, [])
    with pytest.raises(UnsupportedNetwork) as err:
        sdn.require()
    assert err.value.message == "OpenShiftSDN does not support flows tracing."
    assert network_support({"spec": {"networkType": "OVNKubernetes"}}, []).supported
    assert network_support(None, [NodeInfo("n", ovn_kubernetes=True)]).supported
    unknown = network_support(None, [NodeInfo("n")])
    assert not unknown.supported
    with pytest.raises(UnsupportedNetwork, match="could not be determined"):
        unknown.require()


def test_node_info_reads_address_and_ovn_annotation() -> None:
    info = NodeInfo.from_object(
        {
            "metadata": {"name": "n", "annotations": {"k8s.ovn.org/node-subnets": "{}"}},
            "status": {
                "addresses": [{"type": "Hostname", "address": "n"}, {"type": "InternalIP", "address": "10.1.1.1"}]
            },
        }
    )
    assert (info.internal_ip, info.ovn_kubernetes) == ("10.1.1.1", True)


def test_a_selected_collector_is_reached_on_its_udp_node_port() -> None:
    from gateway.domain.discovery import resolve_collector
    from gateway.domain.model import CollectorTarget, NodeInfo

    service = {
        "metadata": {"name": "goflow2", "namespace": "flows", "labels": {"role": "flows-collector"}},
        "spec": {
            "type": "NodePort",
            "ports": [
                {"name": "metrics", "protocol": "TCP", "port": 8080, "nodePort": 31080},
                {"name": "flows", "protocol": "UDP", "port": 2055, "nodePort": 30001},
            ],
        },
    }
    slice_ = {
        "metadata": {"name": "goflow2-x", "namespace": "flows", "labels": {"kubernetes.io/service-name": "goflow2"}},
        "endpoints": [{"nodeName": "n1", "conditions": {"ready": True}}],
    }
    found = resolve_collector(CollectorTarget.default(), NodeInfo("n1", "10.0.0.1"), [service], [slice_])
    assert found.endpoints == ("10.0.0.1:30001",)
    assert found.metrics == "10.0.0.1:31080"  # its port named `metrics`, on the node's own address

    by_port = resolve_collector(CollectorTarget(node_port=30001), NodeInfo("n1", "10.0.0.1"), [service], [slice_])
    assert (by_port.endpoints, by_port.metrics) == (("10.0.0.1:30001",), "10.0.0.1:31080")
    explicit = CollectorTarget(node_port=30001, metrics_port=9100)
    assert resolve_collector(explicit, NodeInfo("n1", "10.0.0.1"), [service], [slice_]).metrics == "10.0.0.1:9100"
    service["spec"]["ports"] = service["spec"]["ports"][1:]  # type: ignore[index]
    assert resolve_collector(CollectorTarget.default(), NodeInfo("n1", "10.0.0.1"), [service], [slice_]).metrics is None
    static = CollectorTarget(targets=("10.9.9.9:2055",), metrics_target="10.9.9.9:8080")
    assert resolve_collector(static, NodeInfo("n1", "10.0.0.1"), [], []).metrics == "10.9.9.9:8080"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"targets": ["10.0.0.1:2055"], "metrics_port": 8080}, "collector.metricsPort"),
        ({"node_port": 30001, "metrics_port": 0}, "collector.metricsPort"),
        ({"node_port": 30001, "metrics_target": "10.0.0.1:8080"}, "collector.metricsTarget"),
        ({"metrics_target": "10.0.0.1:8080"}, "collector.metricsTarget"),
        ({"targets": ["10.0.0.1:2055"], "metrics_target": "collector:8080"}, "collector.metricsTarget"),
    ],
)
def test_invalid_metrics_endpoints_name_their_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        validate_collector(**kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


def test_metrics_endpoints_round_trip_through_the_spec() -> None:
    for target in (
        validate_collector(node_port=30001, metrics_port=30002),
        validate_collector(metrics_port=30002),
        validate_collector(targets=["10.0.0.1:2055"], metrics_target="10.0.0.1:8080"),
    ):
        assert CollectorTarget.from_spec(target.to_spec()) == target
    assert validate_collector(metrics_port=30002).describe() == "selector role=flows-collector (metrics on port 30002)"


def test_an_agent_watches_only_the_services_and_slices_that_can_be_its_collector() -> None:
    from gateway.domain.discovery import candidate_services, endpoint_slice_scope, service_scope

    def service(name: str, labels: dict[str, str], node_port: int | None) -> dict[str, Any]:
        port: dict[str, Any] = {"name": "flows", "protocol": "UDP", "port": 2055}
        if node_port:
            port["nodePort"] = node_port
        kind = "NodePort" if node_port else "ClusterIP"
        return {
            "metadata": {"namespace": "ns", "name": name, "labels": labels},
            "spec": {"type": kind, "ports": [port]},
        }

    default = CollectorTarget.default()
    scope = service_scope(default)
    assert scope is not None and scope.label_selector == "role=flows-collector"
    assert scope.field_selector == "spec.type!=ClusterIP"
    by_port = service_scope(CollectorTarget(node_port=30001))
    assert by_port is not None and by_port.label_selector is None and by_port.field_selector == "spec.type!=ClusterIP"
    assert service_scope(CollectorTarget(targets=("10.0.0.9:2055",))) is None
    services = [
        service("b", {"role": "flows-collector"}, 30001),
        service("a", {"role": "flows-collector"}, 30002),
        service("c", {"role": "flows-collector"}, None),  # no node port: cannot be a node-local collector
        service("d", {"role": "other"}, 30001),
    ]
    assert [s["metadata"]["name"] for s in candidate_services(default, services)] == ["a", "b"]
    slices = endpoint_slice_scope(default, services)
    assert slices is not None and slices.label_selector == "kubernetes.io/service-name in (a,b)"
    port_slices = endpoint_slice_scope(CollectorTarget(node_port=30001), services)
    assert port_slices is not None and port_slices.label_selector == "kubernetes.io/service-name in (b,d)"
    assert endpoint_slice_scope(CollectorTarget(node_port=30009), services) is None
