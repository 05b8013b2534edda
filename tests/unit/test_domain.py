"""The domain core: validation, status derivation, network support and the CRD round trip."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gateway.domain.errors import InvalidArgument, UnsupportedNetwork
from gateway.domain.model import (
    MAX_DURATION_SECONDS,
    CollectorTarget,
    FlowExport,
    FlowExportSpec,
    FlowReport,
    FlowType,
    NodeChoice,
    NodeFlowState,
    NodeInfo,
)
from gateway.domain.network import network_support
from gateway.domain.status import flows_state, node_flow_status
from gateway.domain.validation import (
    StartRequest,
    known_nodes_only,
    parse_selector,
    validate_collector,
    validate_start,
)


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


# -- export for a while, from the nodes chosen ---------------------------------------------------

T = 1_800_000_000.0  # the API server's time in these tests


def test_a_start_for_a_while_counts_its_deadline_from_the_api_servers_time() -> None:
    spec = StartRequest(FlowType.NETFLOW, duration_seconds=1800).spec(now=T + 0.25)
    assert spec.deadline == T + 1801  # whole seconds, never shorter than asked
    assert spec.to_spec()["deadline"] == "2027-01-15T08:30:01Z"
    assert FlowExportSpec.from_spec(spec.to_spec()) == spec
    assert StartRequest(FlowType.NETFLOW).spec(now=T).deadline is None  # until stopped
    assert not spec.ended(T + 1800.9) and spec.ended(T + 1801)
    assert FlowExportSpec().to_spec()["deadline"] is None


@pytest.mark.parametrize("seconds", [0, -1, 0.5, MAX_DURATION_SECONDS + 1, float("inf"), float("nan")])
def test_a_duration_of_nothing_or_past_the_maximum_is_refused(seconds: float) -> None:
    with pytest.raises(InvalidArgument) as err:
        StartRequest(FlowType.NETFLOW, duration_seconds=seconds).spec()
    assert err.value.field == "durationSeconds"
    assert "between 1 second and 604800 seconds (168h, one week)" in err.value.message
    assert StartRequest(FlowType.NETFLOW, duration_seconds=MAX_DURATION_SECONDS).spec(now=T).deadline == T + 604800


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"nodes": ["node-1"], "node_selector": [("a", "b")]}, "nodes", "not both"),
        ({"nodes": []}, "nodes", "1 to 1000 node names"),
        ({"nodes": [f"n{i}" for i in range(1001)]}, "nodes", "nodeSelector"),
        ({"nodes": ["Node_1"]}, "nodes", "is not a node name"),
        ({"nodes": ["a" * 254]}, "nodes", "is not a node name"),
        ({"nodes": ["node-1", "node-1"]}, "nodes", "given twice"),
        ({"nodes": ["node-1\n"]}, "nodes", "is not a node name"),
        ({"node_selector": []}, "nodeSelector", "at least one label"),
        ({"node_selector": [("bad key!", "x")]}, "nodeSelector", "not a valid label name"),
        ({"node_selector": [("zone", "-a")]}, "nodeSelector", "is not valid"),
        ({"node_selector": [("zone", "a"), ("zone", "b")]}, "nodeSelector", "given twice"),
    ],
)
def test_a_bad_node_choice_names_its_field(kwargs: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        StartRequest(FlowType.NETFLOW, **kwargs).spec()
    assert err.value.field == field and words in err.value.message


def test_nodes_are_chosen_by_name_or_by_their_labels_now() -> None:
    by_name = StartRequest(FlowType.NETFLOW, nodes=["node-2", "node-1"]).spec().nodes
    assert by_name == NodeChoice(names=("node-2", "node-1")) and by_name.describe() == "nodes node-2, node-1"
    assert by_name.chooses(NodeInfo("node-1")) and not by_name.chooses(NodeInfo("node-3"))
    by_label = StartRequest(FlowType.NETFLOW, node_selector=[("zone", "a"), ("flows", "")]).spec().nodes
    assert by_label.labels == (("flows", ""), ("zone", "a"))
    assert by_label.chooses(NodeInfo("n", labels=(("flows", ""), ("x", "y"), ("zone", "a"))))
    assert not by_label.chooses(NodeInfo("n", labels=(("zone", "a"),)))
    assert not by_label.chooses(NodeInfo("n", labels=(("flows", "yes"), ("zone", "a"))))
    assert NodeChoice().chooses(NodeInfo("n")) and NodeChoice().describe() == "every node"
    for spec in (FlowExportSpec(FlowType.IPFIX, nodes=by_name), FlowExportSpec(FlowType.IPFIX, nodes=by_label)):
        assert FlowExportSpec.from_spec(spec.to_spec()) == spec
    assert FlowExportSpec(nodes=by_name).to_spec()["nodes"] is None  # a stop forgets the choice
    labelled = NodeInfo.from_object({"metadata": {"name": "n", "labels": {"zone": "a", "flows": ""}}})
    assert labelled.labels == (("flows", ""), ("zone", "a"))


def test_unknown_node_names_are_refused_unless_the_caller_starts_on_the_known_ones_only() -> None:
    choice = NodeChoice(names=("node-1", "node-9", "node-2"))
    known = {"node-1", "node-2", "node-3"}
    with pytest.raises(InvalidArgument) as err:
        known_nodes_only(choice, known, ignore_unknown=False)
    assert err.value.field == "nodes"
    assert err.value.message == (
        "nodes: 'node-9' is no node of this cluster; flow export was not changed. Correct the names, or set "
        "ignoreUnknownNodes to start on the 2 known ones only."
    )
    assert known_nodes_only(choice, known, ignore_unknown=True) == NodeChoice(names=("node-1", "node-2"))
    with pytest.raises(InvalidArgument, match="no node named is"):
        known_nodes_only(NodeChoice(names=("x", "y")), known, ignore_unknown=True)
    assert known_nodes_only(NodeChoice(labels=(("a", "b"),)), set(), ignore_unknown=False).labels  # labels: any


def test_derived_state_of_chosen_unchosen_and_ended_nodes() -> None:
    labelled = FlowExportSpec(
        FlowType.NETFLOW, CollectorTarget(node_port=30001), nodes=NodeChoice(labels=(("f", "on"),))
    )
    export_ = FlowExport(labelled, generation=4)
    on, off = NodeInfo("n1", labels=(("f", "on"),)), NodeInfo("n1")
    emitting = replace(report(NodeFlowState.EMITTING, 4), selected=True)
    assert node_flow_status(on, export_, emitting, now=T).state is NodeFlowState.EMITTING
    # The label went: Disabled at once, with a note until the agent says so itself.
    left = node_flow_status(off, export_, emitting, now=T)
    assert (left.state, left.selected) == (NodeFlowState.DISABLED, False)
    assert (
        left.message
        == "not selected: flow export runs on the nodes labelled f=on; the node agent has not yet confirmed"
    )
    said = FlowReport("n1", NodeFlowState.DISABLED, message="not selected: …", observed_generation=4, selected=False)
    assert node_flow_status(off, export_, said, now=T).message == "not selected: …"
    # The label came: Pending until the agent acts on it (labels move no generation).
    joining = node_flow_status(on, export_, said, now=T)
    assert joining.state is NodeFlowState.PENDING and "labels" in (joining.message or "")

    timed = FlowExport(FlowExportSpec(FlowType.NETFLOW, CollectorTarget(node_port=30001), deadline=T), generation=5)
    running = report(NodeFlowState.EMITTING, 5)
    assert node_flow_status("n1", timed, running, now=T - 0.1).state is NodeFlowState.EMITTING
    ended = node_flow_status("n1", timed, running, now=T)
    assert ended.state is NodeFlowState.DISABLED
    assert ended.message == "export ended at its deadline, 2027-01-15T08:00:00Z; the node agent has not yet confirmed"
    confirmed = FlowReport("n1", NodeFlowState.DISABLED, message="export ended at …", observed_generation=5)
    assert node_flow_status("n1", timed, confirmed, now=T + 60).message == "export ended at …"

    state = flows_state(timed, ["n2", "n1"], {"n1": running}, network_support(None, []), now=T + 180)
    assert (state.enabled, state.ended, state.deadline, state.type) == (False, True, T, FlowType.NETFLOW)
    assert state.summary.disabled == 2 and state.summary.selected == 2
    chosen = flows_state(export_, [on, NodeInfo("n2")], {}, network_support(None, []), now=T)
    assert chosen.summary.selected == 1 and chosen.node_choice == labelled.nodes and chosen.enabled
