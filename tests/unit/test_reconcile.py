"""The agent's decisions (pure) and its loop against an in-memory API server and bridge."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.agent.agent import NodeAgent
from gateway.agent.collector import CollectorMetrics, ScrapeError
from gateway.agent.metrics import render
from gateway.agent.ovs import ExportSettings
from gateway.agent.reconcile import OvsAction, export_on_since, next_report, ovs_action, plan, status_patch
from gateway.domain.delivery import NO_METRICS, CollectorCounts
from gateway.domain.model import (
    CollectorTarget,
    Delivery,
    FlowExport,
    FlowExportSpec,
    FlowReport,
    FlowType,
    NodeChoice,
    NodeFlowState,
    NodeInfo,
    format_time,
)
from gateway.domain.traffic import TrafficMeter
from gateway.kube.resources import ENDPOINT_SLICES, FLOW_EXPORTS, FLOWS, NODES, OPERATOR_NETWORKS, SERVICES
from gateway.retry import Backoff
from tests.unit.fakes import FakeBridge, FakeKube, eventually

NODE = NodeInfo("node-2", internal_ip="10.89.0.2", uid="uid-2")
NETFLOW = ExportSettings(FlowType.NETFLOW, ("10.89.0.2:30001",), active_timeout=60)


def service(
    name: str = "collector",
    node_port: int = 30001,
    labels: dict[str, str] | None = None,
    metrics_port: int | None = None,
) -> dict[str, Any]:
    ports: list[dict[str, Any]] = [{"port": 2055, "nodePort": node_port}]
    if metrics_port is not None:
        ports.append({"name": "metrics", "protocol": "TCP", "port": 8080, "nodePort": metrics_port})
    return {
        "metadata": {"name": name, "namespace": "flows", "labels": labels or {"role": "flows-collector"}},
        "spec": {"type": "NodePort", "ports": ports},
    }


def endpoint_slice(node: str = "node-2", ready: bool = True, name: str = "collector") -> dict[str, Any]:
    return {
        "metadata": {"name": f"{name}-abc", "namespace": "flows", "labels": {"kubernetes.io/service-name": name}},
        "endpoints": [{"addresses": ["10.244.2.5"], "nodeName": node, "conditions": {"ready": ready}}],
    }


def export(flow_type: FlowType | None, generation: int = 3, **collector: Any) -> FlowExport:
    target = CollectorTarget.from_spec(collector or {"nodePort": 30001})
    return FlowExport(FlowExportSpec(type=flow_type, collector=target), generation=generation)


# -- pure decisions ------------------------------------------------------------------------------


def test_plan_disabled_without_export_or_type() -> None:
    for desired in (None, export(None)):
        wanted = plan(desired, NODE, [], [], "ovn-k8s-mp0")
        assert wanted.settings is None
        assert wanted.report.state is NodeFlowState.DISABLED
    assert plan(export(None, generation=7), NODE, [], [], "mp0").report.observed_generation == 7


def test_plan_node_port_emits_to_the_nodes_own_address() -> None:
    wanted = plan(export(FlowType.NETFLOW), NODE, [service()], [endpoint_slice()], "ovn-k8s-mp0")
    assert wanted.settings == NETFLOW
    assert wanted.report == FlowReport(
        "node-2", NodeFlowState.EMITTING, FlowType.NETFLOW, "10.89.0.2:30001", observed_generation=3, selected=True
    )


def test_plan_without_local_collector_is_an_error_and_clears_ovs() -> None:
    wanted = plan(export(FlowType.IPFIX), NODE, [service()], [endpoint_slice(node="node-1")], "mp0")
    assert wanted.settings is None
    assert wanted.report.state is NodeFlowState.ERROR
    assert wanted.report.message == "no flows collector on node-2 behind nodePort 30001"
    assert wanted.report.type is FlowType.IPFIX


def test_plan_selector_and_static_targets() -> None:
    by_label = export(FlowType.SFLOW, selector={"app": "goflow"})
    wanted = plan(by_label, NODE, [service(labels={"app": "goflow"}, node_port=30002)], [endpoint_slice()], "mp0")
    assert wanted.settings == ExportSettings(FlowType.SFLOW, ("10.89.0.2:30002",), agent="mp0")
    missing = plan(export(FlowType.SFLOW, selector={"role": "nope"}), NODE, [service()], [endpoint_slice()], "mp0")
    assert missing.report.message == "no Service matches selector role=nope"
    static = plan(export(FlowType.NETFLOW, targets=["192.0.2.1:2055", "192.0.2.2:2055"]), NODE, [], [], "mp0")
    assert static.report.endpoint == "192.0.2.1:2055,192.0.2.2:2055"


def test_plan_a_node_not_chosen_or_past_the_deadline_exports_nothing_and_says_why() -> None:
    by_name = FlowExport(FlowExportSpec(FlowType.NETFLOW, nodes=NodeChoice(names=("node-1",))), generation=4)
    wanted = plan(by_name, NODE, [service()], [endpoint_slice()], "mp0")
    assert wanted.settings is None and wanted.report.state is NodeFlowState.DISABLED
    assert wanted.report.message == "not selected: flow export runs on the nodes named (node-1)"
    assert wanted.report.selected is False and wanted.report.observed_generation == 4
    labelled = FlowExport(FlowExportSpec(FlowType.NETFLOW, nodes=NodeChoice(labels=(("flows", "on"),))))
    assert plan(labelled, NODE, [service()], [endpoint_slice()], "mp0").report.selected is False
    chosen = NodeInfo("node-2", internal_ip="10.89.0.2", labels=(("flows", "on"), ("zone", "a")))
    assert plan(labelled, chosen, [service()], [endpoint_slice()], "mp0").settings == NETFLOW

    timed = FlowExport(FlowExportSpec(FlowType.NETFLOW, deadline=1_800_000_000.0), generation=5)
    assert plan(timed, NODE, [service()], [endpoint_slice()], "mp0", now=1_799_999_999.9).settings == NETFLOW
    ended = plan(timed, NODE, [service()], [endpoint_slice()], "mp0", now=1_800_000_000.0)
    assert ended.settings is None and ended.report.state is NodeFlowState.DISABLED
    assert ended.report.message == "export ended at its deadline, 2027-01-15T08:00:00Z"


def test_ovs_action_tells_a_new_wish_from_drift() -> None:
    assert ovs_action(NETFLOW, (NETFLOW,), None, False) is OvsAction.NONE
    assert ovs_action(NETFLOW, (), None, False) is OvsAction.APPLY  # first pass after start
    assert ovs_action(NETFLOW, (), None, True) is OvsAction.APPLY  # was stopped, now started
    assert ovs_action(NETFLOW, (), NETFLOW, True) is OvsAction.REPAIR  # cleared behind our back
    assert ovs_action(None, (NETFLOW,), None, True) is OvsAction.REPAIR  # set behind our back
    assert ovs_action(None, (NETFLOW,), NETFLOW, True) is OvsAction.APPLY  # stop


def test_next_report_skips_same_observation_and_keeps_transition_time() -> None:
    first = next_report(None, FlowReport("n", NodeFlowState.EMITTING, FlowType.NETFLOW, "a:1"), "T1")
    assert first is not None and first.last_transition_time == "T1"
    assert next_report(first, FlowReport("n", NodeFlowState.EMITTING, FlowType.NETFLOW, "a:1"), "T2") is None
    moved = next_report(first, FlowReport("n", NodeFlowState.EMITTING, FlowType.NETFLOW, "b:1", None, 4), "T3")
    assert moved is not None and moved.last_transition_time == "T1"
    failed = next_report(moved, FlowReport("n", NodeFlowState.ERROR, FlowType.NETFLOW, message="x"), "T4")
    assert failed is not None and failed.last_transition_time == "T4"


def test_status_patch_clears_fields_the_new_state_lacks() -> None:
    patch = status_patch(FlowReport("n", NodeFlowState.DISABLED, observed_generation=5, last_transition_time="T"))
    assert patch == {
        "status": {
            "state": "Disabled",
            "type": None,
            "endpoint": None,
            "message": None,
            "delivery": None,
            "traffic": None,
            "selected": None,
            "observedGeneration": 5,
            "lastTransitionTime": "T",
        }
    }


# -- the loop ------------------------------------------------------------------------------------


class FakeCollector(CollectorMetrics):
    """A collector whose NetFlow count for the node is whatever the test sets."""

    def __init__(self) -> None:
        super().__init__(timeout=1.0)
        self.records = 0.0
        self.fail: str | None = None
        self.asked: list[tuple[str, str]] = []

    async def counts(self, endpoint: str, router: str) -> dict[FlowType, CollectorCounts]:
        self.asked.append((endpoint, router))
        if self.fail:
            raise ScrapeError(self.fail)
        return {t: CollectorCounts(self.records if t is FlowType.NETFLOW else 0.0) for t in FlowType}


class Rig:
    def __init__(self, resync: float = 0.2, metrics_port: int | None = None, traffic_interval: float = 10.0) -> None:
        self.kube = FakeKube()
        self.bridge = FakeBridge()
        self.collector = FakeCollector()
        self.kube.put(
            NODES,
            {
                "metadata": {"name": "node-2", "uid": "uid-2"},
                "status": {"addresses": [{"type": "InternalIP", "address": "10.89.0.2"}]},
            },
        )
        self.kube.put(SERVICES, service(metrics_port=metrics_port))
        self.kube.put(ENDPOINT_SLICES, endpoint_slice())
        self.agent = NodeAgent(
            self.kube,  # type: ignore[arg-type]
            "node-2",
            self.bridge,
            sflow_agent="ovn-k8s-mp0",
            resync=resync,
            backoff=Backoff(0.05, 0.2),
            scrape_interval=0.02,
            collector=self.collector,
            traffic_interval=traffic_interval,
        )

    def flow(self) -> FlowReport | None:
        obj = self.kube.objects.get(FLOWS, {}).get("node-2")
        return FlowReport.from_object(obj) if obj else None

    def state(self) -> NodeFlowState | None:
        report = self.flow()
        return report.state if report else None

    def start(
        self,
        flow_type: FlowType | None,
        *,
        deadline: float | None = None,
        nodes: NodeChoice | None = None,
        **collector: Any,
    ) -> None:
        spec = FlowExportSpec(
            type=flow_type,
            collector=CollectorTarget.from_spec(collector or {"nodePort": 30001}),
            deadline=deadline,
            nodes=nodes or NodeChoice(),
        )
        body = {k: v for k, v in spec.to_spec().items() if v is not None}
        self.kube.put(FLOW_EXPORTS, {"metadata": {"name": "cluster", "uid": "export-uid"}, "spec": body})

    def label(self, **labels: str) -> None:
        node = self.kube.objects[NODES]["node-2"]
        self.kube.put(NODES, {**node, "metadata": {**node["metadata"], "labels": labels}})

    def deadline_in(self, seconds: float) -> float:
        """A whole-second deadline `seconds` from now on the API server's clock (which is moved
        so that it is)."""
        deadline = float(int(time.time()) + 100)
        self.kube.clock_offset = deadline - seconds - time.time()
        return deadline


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    rig = Rig()
    task = asyncio.create_task(rig.agent.run())
    yield rig
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_creates_its_flow_owned_by_the_node_and_reports_disabled(rig: Rig) -> None:
    await eventually(lambda: rig.state() is NodeFlowState.DISABLED)
    created = next(body for verb, _, body in rig.kube.writes if verb == "create")
    assert created["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Node", "name": "node-2", "uid": "uid-2"}
    ]
    assert created["spec"] == {"nodeName": "node-2"}
    assert rig.bridge.applies == 0  # the bridge was already clear


async def test_start_emits_then_idles_without_writes(rig: Rig) -> None:
    rig.start(FlowType.NETFLOW)
    await eventually(lambda: rig.state() is NodeFlowState.EMITTING)
    report = rig.flow()
    assert report is not None and report.endpoint == "10.89.0.2:30001" and report.observed_generation == 1
    assert rig.bridge.state == (NETFLOW,)
    writes, applies, passes = len(rig.kube.writes), rig.bridge.applies, rig.agent.reconciles
    await eventually(lambda: rig.agent.reconciles >= passes + 3)  # a few resyncs
    assert (len(rig.kube.writes), rig.bridge.applies) == (writes, applies)


async def test_drift_is_repaired_and_logged(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig.start(FlowType.NETFLOW)
    await eventually(lambda: rig.bridge.state == (NETFLOW,))
    caplog.set_level(logging.INFO, "flowgate.agent")
    rig.bridge.tamper()  # as an ovnkube-node restart would
    await eventually(lambda: rig.bridge.state == (NETFLOW,))
    assert any("changed outside flowgate; restored NetFlow to 10.89.0.2:30001" in r.message for r in caplog.records)


async def test_ovsdb_monitor_repairs_drift_without_waiting_for_resync() -> None:
    rig = Rig(resync=60)
    task = asyncio.create_task(rig.agent.run())
    try:
        rig.start(FlowType.NETFLOW)
        await eventually(lambda: rig.bridge.state == (NETFLOW,))
        rig.bridge.tamper(seen=True)
        await eventually(lambda: rig.bridge.state == (NETFLOW,), timeout=1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_collector_gone_is_an_error_and_its_return_emits_again(rig: Rig) -> None:
    rig.start(FlowType.IPFIX)
    await eventually(lambda: rig.state() is NodeFlowState.EMITTING)
    applies = rig.bridge.applies
    rig.kube.put(ENDPOINT_SLICES, endpoint_slice(ready=False))
    await eventually(lambda: rig.state() is NodeFlowState.ERROR)
    error = rig.flow()
    assert error is not None and error.message == "no flows collector on node-2 behind nodePort 30001"
    assert error.type is FlowType.IPFIX and error.endpoint is None
    assert not rig.bridge.state and rig.bridge.applies == applies + 1  # cleared, not left sending into the void
    rig.kube.put(ENDPOINT_SLICES, endpoint_slice())
    await eventually(lambda: rig.state() is NodeFlowState.EMITTING)
    back = rig.flow()
    assert back is not None and back.message is None and back.endpoint == "10.89.0.2:30001"
    assert rig.bridge.state == (ExportSettings(FlowType.IPFIX, ("10.89.0.2:30001",), 60, 400),)
    assert rig.bridge.applies == applies + 2  # created again (so IPFIX templates go out at once)
    # Each transition was written once, in order, each with its own time.
    states = [w["state"] for w in rig.kube.status_writes()]
    assert states[-3:] == ["Emitting", "Error", "Emitting"]


async def test_stop_clears_the_bridge_and_reports_disabled(rig: Rig) -> None:
    rig.start(FlowType.SFLOW)
    await eventually(lambda: rig.state() is NodeFlowState.EMITTING)
    rig.start(None)
    await eventually(lambda: rig.state() is NodeFlowState.DISABLED and rig.flow().observed_generation == 2)  # type: ignore[union-attr]
    assert not rig.bridge.state
    assert rig.flow().endpoint is None and rig.flow().type is None  # type: ignore[union-attr]


async def test_api_outage_keeps_ovs_and_the_report_follows_later(rig: Rig) -> None:
    rig.start(FlowType.NETFLOW)
    await eventually(lambda: rig.state() is NodeFlowState.EMITTING)
    rig.kube.down = True
    rig.bridge.tamper()  # drift during the outage is still repaired
    await eventually(lambda: rig.bridge.state == (NETFLOW,))
    passes = rig.agent.reconciles
    await eventually(lambda: rig.agent.reconciles >= passes + 3)
    assert rig.bridge.state == (NETFLOW,)
    # A change made while writes fail: OVS follows the cache, the report waits for the API.
    rig.kube.put(ENDPOINT_SLICES, endpoint_slice(node="node-1"))
    await eventually(lambda: rig.bridge.state == ())
    assert rig.state() is NodeFlowState.EMITTING
    rig.kube.down = False
    await eventually(lambda: rig.state() is NodeFlowState.ERROR)


async def test_ovs_unreachable_is_reported_and_retried(rig: Rig) -> None:
    rig.bridge.broken = True
    rig.start(FlowType.NETFLOW)
    await eventually(lambda: rig.state() is NodeFlowState.ERROR)
    assert rig.flow().message == (  # type: ignore[union-attr]
        "OVS not reachable at unix:/run/fake-ovs/db.sock: database connection failed (Connection refused)."
    )
    rig.bridge.broken = False
    await eventually(lambda: rig.state() is NodeFlowState.EMITTING)


async def test_deleted_flow_is_recreated(rig: Rig) -> None:
    rig.start(FlowType.NETFLOW)
    await eventually(lambda: rig.state() is NodeFlowState.EMITTING)
    rig.kube.remove(FLOWS, "node-2")
    await eventually(lambda: rig.state() is NodeFlowState.EMITTING)
    assert sum(1 for verb, _, _ in rig.kube.writes if verb == "create") == 2


async def test_a_recreated_flow_is_owned_by_the_node_as_it_is_now_not_as_the_watch_last_saw_it(rig: Rig) -> None:
    """A loaded agent's Node watch can lag: the Node deleted and added again (a new uid), the
    garbage collector gone through its Flow, and the watch still holding the old Node. The Flow the
    agent writes again must be owned by the Node that exists, or the collector deletes it again;
    with no Node at all it writes none."""
    rig.start(FlowType.NETFLOW)
    await eventually(lambda: rig.state() is NodeFlowState.EMITTING)
    # Behind the watch's back (no event): the Node replaced, its Flow collected.
    rig.kube.objects[NODES]["node-2"] = {
        **rig.kube.objects[NODES]["node-2"],
        "metadata": {"name": "node-2", "uid": "uid-2b"},
    }
    del rig.kube.objects[FLOWS]["node-2"]
    await eventually(lambda: rig.flow() is not None, what="Flow/node-2 written again at a resync")
    owners = rig.kube.objects[FLOWS]["node-2"]["metadata"]["ownerReferences"]
    assert [o["uid"] for o in owners] == ["uid-2b"], owners
    await eventually(lambda: rig.state() is NodeFlowState.EMITTING)
    # The Node gone for good while the watch still has it: no Flow for the collector to delete.
    del rig.kube.objects[NODES]["node-2"]
    del rig.kube.objects[FLOWS]["node-2"]
    passes = rig.agent.reconciles
    await eventually(lambda: rig.agent.reconciles >= passes + 3, what="three more reconciles (resync 0.2 s)")
    assert rig.flow() is None


async def test_switch_type_is_one_apply(rig: Rig) -> None:
    rig.start(FlowType.NETFLOW)
    await eventually(lambda: rig.bridge.state == (NETFLOW,))
    applies = rig.bridge.applies
    rig.start(FlowType.IPFIX)
    await eventually(lambda: bool(rig.bridge.state) and rig.bridge.state[0].type is FlowType.IPFIX)
    assert rig.bridge.applies == applies + 1
    await eventually(lambda: rig.flow().type is FlowType.IPFIX)  # type: ignore[union-attr]


async def test_a_flow_changed_by_someone_else_is_put_right_at_resync(rig: Rig) -> None:
    rig.start(FlowType.NETFLOW)
    await eventually(lambda: rig.state() is NodeFlowState.EMITTING)
    obj = rig.kube.objects[FLOWS]["node-2"]
    rig.kube.put(FLOWS, {**obj, "status": {"state": "Error", "message": "edited by hand"}})
    await eventually(lambda: rig.state() is NodeFlowState.EMITTING)
    assert rig.flow().message is None  # type: ignore[union-attr]


async def test_node_heartbeats_do_not_reconcile_but_a_new_address_does() -> None:
    rig = Rig(resync=60)
    task = asyncio.create_task(rig.agent.run())
    try:
        rig.start(FlowType.NETFLOW)
        await eventually(lambda: rig.bridge.state == (NETFLOW,))
        await asyncio.sleep(0.2)
        passes = rig.agent.reconciles
        node = rig.kube.objects[NODES]["node-2"]
        heartbeat = {"type": "Ready", "status": "True", "lastHeartbeatTime": "2030-01-01T00:00:00Z"}
        rig.kube.put(NODES, {**node, "status": {**node["status"], "conditions": [heartbeat]}})
        await asyncio.sleep(0.3)
        assert rig.agent.reconciles == passes
        rig.kube.put(NODES, {**node, "status": {"addresses": [{"type": "InternalIP", "address": "10.89.0.22"}]}})
        await eventually(lambda: rig.bridge.state[0].targets == ("10.89.0.22:30001",))
        await eventually(lambda: rig.flow().endpoint == "10.89.0.22:30001")  # type: ignore[union-attr]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_turning_to_error_records_one_warning_and_flapping_makes_a_series() -> None:
    rig = Rig()
    now = [0.0]
    rig.agent.events.clock = lambda: now[0]
    rig.agent.events.refresh = 30.0
    task = asyncio.create_task(rig.agent.run())
    try:
        rig.start(FlowType.IPFIX)
        await eventually(lambda: rig.state() is NodeFlowState.EMITTING)
        for _ in range(5):  # the collector flaps
            rig.kube.put(ENDPOINT_SLICES, endpoint_slice(ready=False))
            await eventually(lambda: rig.state() is NodeFlowState.ERROR)
            rig.kube.put(ENDPOINT_SLICES, endpoint_slice())
            await eventually(lambda: rig.state() is NodeFlowState.EMITTING)
            now[0] += 1
        (event,) = rig.kube.events()  # five transitions, one Event
        assert event["type"] == "Warning" and event["reason"] == "ExportFailed"
        assert event["note"] == "no flows collector on node-2 behind nodePort 30001"
        assert event["regarding"]["kind"] == "Flow" and event["regarding"]["name"] == "node-2"
        assert event["regarding"]["uid"] == rig.kube.objects[FLOWS]["node-2"]["metadata"]["uid"]
        assert event["reportingController"] == "flowgate.dev/agent" and event["reportingInstance"] == "node-2"
        assert "series" not in event  # the count is written at most every 30 s
        now[0] += 31
        await eventually(lambda: "series" in rig.kube.events()[0])  # written at the next pass
        assert rig.kube.events()[0]["series"]["count"] == 5
        assert rig.agent.events.created == 1 and rig.agent.events.folded == 4
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# -- delivery ------------------------------------------------------------------------------------


async def running(rig: Rig) -> asyncio.Task[None]:
    return asyncio.create_task(rig.agent.run())


async def test_delivery_waits_then_confirms_from_the_collectors_count_without_a_write_per_scrape() -> None:
    rig = Rig(metrics_port=30002)
    task = await running(rig)
    try:
        rig.start(FlowType.NETFLOW)
        await eventually(lambda: (rig.flow() or FlowReport("", NodeFlowState.PENDING)).delivery is not None)
        report = rig.flow()
        assert report is not None and report.delivery is not None
        assert report.delivery.state is Delivery.WAITING
        # The verdict is written as soon as the tracker is pointed at the collector; its first
        # scrape may come a moment after.
        await eventually(lambda: bool(rig.collector.asked), what="the agent's first scrape of its collector")
        assert rig.collector.asked[0] == ("10.89.0.2:30002", "10.89.0.2")  # node-local, this node's address
        rig.collector.records = 40
        await eventually(lambda: rig.flow().delivery.state is Delivery.CONFIRMED)  # type: ignore[union-attr]
        writes, scrapes = len(rig.kube.writes), rig.agent.scrapes
        steady = 0
        while steady < 10 or rig.agent.scrapes < scrapes + 5:  # a loaded machine scrapes less often
            assert steady < 300, f"the agent scraped {rig.agent.scrapes - scrapes} times in {steady} steps"
            rig.collector.records += 2
            await asyncio.sleep(0.03)
            steady += 1
        assert len(rig.kube.writes) == writes  # the rate barely moved: nothing to write
        rig.start(None)
        await eventually(lambda: rig.state() is NodeFlowState.DISABLED)
        assert rig.flow().delivery is None  # type: ignore[union-attr]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_while_the_operator_manages_export_the_bridge_is_left_alone(rig: Rig) -> None:
    rig.start(FlowType.NETFLOW)
    await eventually(lambda: rig.bridge.state == (NETFLOW,))
    operator = {
        "metadata": {"name": "cluster"},
        "spec": {"exportNetworkFlows": {"sFlow": {"collectors": ["192.0.2.1:6343"]}}},
    }
    rig.kube.put(OPERATOR_NETWORKS, operator)
    await eventually(lambda: rig.state() is NodeFlowState.DISABLED)
    assert rig.flow().message == (  # type: ignore[union-attr]
        "managed by the Cluster Network Operator (spec.exportNetworkFlows: sFlow to 192.0.2.1:6343); "
        "flowgate leaves br-int alone"
    )
    # What ovnkube-node then puts on the bridge (and clears at its restarts) is not flowgate's to change.
    applies = rig.bridge.applies
    cno = ExportSettings(FlowType.SFLOW, ("192.0.2.1:6343",), agent="ovn-k8s-mp0")
    rig.bridge.tamper(cno, seen=True)
    passes = rig.agent.reconciles
    await eventually(lambda: rig.agent.reconciles >= passes + 3)
    assert rig.bridge.state == (cno,) and rig.bridge.applies == applies
    rig.bridge.tamper(seen=True)  # an ovnkube-node restart clears it
    passes = rig.agent.reconciles
    await eventually(lambda: rig.agent.reconciles >= passes + 3)
    assert rig.bridge.state == () and rig.bridge.applies == applies
    # The operator lets go: flowgate's own setting is applied again.
    rig.kube.put(OPERATOR_NETWORKS, {"metadata": {"name": "cluster"}, "spec": {}})
    await eventually(lambda: rig.bridge.state == (NETFLOW,))
    await eventually(lambda: rig.state() is NodeFlowState.EMITTING)


async def test_the_operators_network_is_read_afresh_before_br_int_is_written() -> None:
    """The operator's Network is read, not watched: at a resync, and again right before any write
    to br-int. Taken over between two resyncs, then asked for another exporter, the agent must
    find the operator there before it writes, and leave the bridge as the operator has it."""
    rig = Rig(resync=3600)  # no resync within the test: only the read before a write can see it
    rig.kube.put(OPERATOR_NETWORKS, {"metadata": {"name": "cluster"}, "spec": {}})  # there, managing nothing
    task = await running(rig)
    try:
        rig.start(FlowType.NETFLOW)
        await eventually(lambda: rig.state() is NodeFlowState.EMITTING and rig.bridge.state == (NETFLOW,))
        applies = rig.bridge.applies
        operator = {
            "metadata": {"name": "cluster"},
            "spec": {"exportNetworkFlows": {"sFlow": {"collectors": ["192.0.2.1:6343"]}}},
        }
        rig.kube.put(OPERATOR_NETWORKS, operator)  # no event reaches the agent
        rig.start(FlowType.IPFIX)  # one does: flowgate's own setting changed
        await eventually(
            lambda: rig.state() is NodeFlowState.DISABLED, what="Flow/node-2 saying the operator manages export"
        )
        assert rig.bridge.state == (NETFLOW,) and rig.bridge.applies == applies, (
            f"the agent wrote br-int ({rig.bridge.applies - applies} transactions, now {rig.bridge.state}) "
            "while the operator managed export"
        )
        assert "managed by the Cluster Network Operator" in (rig.flow().message or "")  # type: ignore[union-attr]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_vswitchd_gone_while_the_database_still_holds_the_exporter_is_an_error(rig: Rig) -> None:
    rig.start(FlowType.NETFLOW)
    await eventually(lambda: rig.state() is NodeFlowState.EMITTING)
    rig.bridge.vswitchd_down = True  # the bridge still "holds" NetFlow in the database
    await eventually(lambda: rig.state() is NodeFlowState.ERROR)
    assert rig.flow().message == (  # type: ignore[union-attr]
        "ovs-vswitchd is not running on this node (/run/fake-ovs/ovs-vswitchd.1.ctl: Connection refused)."
    )
    rig.bridge.vswitchd_down = False
    await eventually(lambda: rig.state() is NodeFlowState.EMITTING)


async def test_no_metrics_endpoint_is_unknown_and_quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "flowgate.agent")
    rig = Rig()  # the collector Service has no `metrics` port
    task = await running(rig)
    try:
        rig.start(FlowType.NETFLOW)
        await eventually(lambda: (rig.flow() or FlowReport("", NodeFlowState.PENDING)).delivery is not None)
        assert rig.flow().delivery.state is Delivery.UNKNOWN  # type: ignore[union-attr]
        assert rig.flow().delivery.message == NO_METRICS  # type: ignore[union-attr]
        passes = rig.agent.reconciles
        await eventually(lambda: rig.agent.reconciles >= passes + 3)
        assert rig.collector.asked == []
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert sum("is unknown" in r.message for r in caplog.records) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_unreadable_collector_metrics_are_logged_once_and_make_delivery_unknown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "flowgate.agent")
    rig = Rig(metrics_port=30002)
    rig.collector.fail = "Connection refused"
    task = await running(rig)
    try:
        rig.start(FlowType.NETFLOW)
        await eventually(
            lambda: (
                (rig.flow() or FlowReport("", NodeFlowState.PENDING)).delivery is not None
                and rig.flow().delivery.state is Delivery.UNKNOWN
            )  # type: ignore[union-attr]
        )
        assert "(Connection refused)" in (rig.flow().delivery.message or "")  # type: ignore[union-attr]
        failures = rig.agent.scrape_failures
        await eventually(lambda: rig.agent.scrape_failures >= failures + 10)
        assert sum("cannot read the collector's counters" in r.message for r in caplog.records) == 1
        rig.collector.fail = None
        rig.collector.records = 5
        await eventually(lambda: rig.flow().delivery.state is not Delivery.UNKNOWN)  # type: ignore[union-attr]
        assert any("can be read again" in r.message for r in caplog.records)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_only_what_can_be_the_collector_is_watched_and_static_targets_watch_nothing(rig: Rig) -> None:
    for i in range(20):  # the rest of the cluster: never sent to the agent
        rig.kube.put(SERVICES, {"metadata": {"name": f"web-{i}", "namespace": "shop"}, "spec": {"type": "ClusterIP"}})
        rig.kube.put(ENDPOINT_SLICES, endpoint_slice(name=f"web-{i}"))
    rig.kube.put(SERVICES, service("other", node_port=30009, labels={"app": "other"}))
    await eventually(lambda: rig.state() is NodeFlowState.DISABLED)

    def watches() -> int:
        return sum(len(queues) for queues in rig.kube.queues.values())

    # No FlowExport yet: the default collector's Service (role=flows-collector), listed ahead of a start.
    assert [s["metadata"]["name"] for s in rig.agent.services.items()] == ["collector"]
    assert [s["metadata"]["name"] for s in rig.agent.slices.items()] == ["collector-abc"] and watches() == 4
    rig.start(FlowType.NETFLOW)  # node port 30001: any Service publishing it
    await eventually(lambda: rig.state() is NodeFlowState.EMITTING)
    assert sorted(s["metadata"]["name"] for s in rig.agent.services.items()) == ["collector", "other"]
    assert [s["metadata"]["name"] for s in rig.agent.slices.items()] == ["collector-abc"]
    assert watches() == 4
    rig.start(FlowType.NETFLOW, selector={"role": "flows-collector"})
    await eventually(lambda: [s["metadata"]["name"] for s in rig.agent.services.items()] == ["collector"])
    generation = rig.kube.objects[FLOW_EXPORTS]["cluster"]["metadata"]["generation"]
    await eventually(lambda: rig.flow() is not None and rig.flow().observed_generation == generation)  # type: ignore[union-attr]
    assert rig.state() is NodeFlowState.EMITTING and watches() == 4
    rig.start(FlowType.NETFLOW, targets=["192.0.2.9:2055"])
    await eventually(lambda: rig.flow() is not None and rig.flow().endpoint == "192.0.2.9:2055")  # type: ignore[union-attr]
    assert not rig.agent.services.watching and not rig.agent.slices.watching
    await eventually(lambda: watches() == 2)


def test_export_on_since_holds_across_changes_and_errors_and_carries_the_flows_time_over() -> None:
    emitting = FlowReport("node-2", NodeFlowState.EMITTING, type=FlowType.NETFLOW)
    error = FlowReport("node-2", NodeFlowState.ERROR, type=FlowType.IPFIX)
    disabled = FlowReport("node-2", NodeFlowState.DISABLED)
    assert export_on_since(None, disabled, None, 100.0) is None
    assert export_on_since(None, emitting, disabled, 100.0) == 100.0  # switched on now
    assert export_on_since(100.0, error, emitting, 500.0) == 100.0  # an error or a switch keeps it
    assert export_on_since(100.0, disabled, error, 600.0) is None  # off again
    # A restarted agent on a node already exporting: the time its Flow last changed state.
    written = FlowReport("node-2", NodeFlowState.EMITTING, last_transition_time="1970-01-01T00:00:40Z")
    assert export_on_since(None, emitting, written, 100.0) == 40.0
    assert export_on_since(None, emitting, FlowReport("node-2", NodeFlowState.EMITTING), 100.0) == 100.0


def samples(agent: NodeAgent) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(render(agent))
        for sample in family.samples
    }


async def test_the_agents_metrics_say_the_nodes_state_and_since_when_export_is_on(rig: Rig) -> None:
    await eventually(lambda: rig.state() is NodeFlowState.DISABLED)
    page = samples(rig.agent)
    assert page[("flowgate_agent_state", (("node", "node-2"), ("state", "Disabled"), ("type", "")))] == 1.0
    assert page[("flowgate_agent_state", (("node", "node-2"), ("state", "Error"), ("type", "")))] == 0.0
    assert not [name for name, _ in page if name == "flowgate_agent_export_on_since_timestamp_seconds"]
    before = time.time()
    rig.start(FlowType.NETFLOW)
    await eventually(lambda: rig.state() is NodeFlowState.EMITTING)
    page = samples(rig.agent)
    assert page[("flowgate_agent_state", (("node", "node-2"), ("state", "Emitting"), ("type", "NetFlow")))] == 1.0
    since = page[("flowgate_agent_export_on_since_timestamp_seconds", (("node", "node-2"),))]
    assert before - 1 <= since <= time.time()
    exporter = (
        "flowgate_agent_ovs_exporter",
        (
            ("active_timeout", "60"),
            ("agent", ""),
            ("bridge", "br-int"),
            ("cache_max_flows", ""),
            ("node", "node-2"),
            ("sampling", ""),
            ("targets", "10.89.0.2:30001"),
            ("type", "NetFlow"),
        ),
    )
    await eventually(lambda: exporter in samples(rig.agent))  # br-int as the agent last read it
    rig.start(FlowType.NETFLOW, nodePort=30009)  # no collector there: Error, and export is still on
    await eventually(lambda: rig.state() is NodeFlowState.ERROR)
    page = samples(rig.agent)
    assert page[("flowgate_agent_state", (("node", "node-2"), ("state", "Error"), ("type", "NetFlow")))] == 1.0
    assert page[("flowgate_agent_export_on_since_timestamp_seconds", (("node", "node-2"),))] == since
    # Until stopped, no deadline to publish; started for a while, its deadline (the alert that
    # export was left on leaves such a node alone).
    deadline_series = ("flowgate_agent_export_deadline_timestamp_seconds", (("node", "node-2"),))
    assert deadline_series not in page
    deadline = rig.deadline_in(3600)
    rig.start(FlowType.NETFLOW, deadline=deadline)
    await eventually(lambda: samples(rig.agent).get(deadline_series) == deadline)
    rig.start(None)
    await eventually(lambda: rig.state() is NodeFlowState.DISABLED)
    page = samples(rig.agent)
    assert not [
        name
        for name, _ in page
        if name in ("flowgate_agent_export_on_since_timestamp_seconds", exporter[0], deadline_series[0])
    ]
    assert ("flowgate_agent_ovs_read_timestamp_seconds", (("node", "node-2"),)) in page


async def test_the_traffic_through_br_int_is_reported_while_export_is_off_and_not_rewritten_at_once() -> None:
    rig = Rig(traffic_interval=0.02)
    rig.agent.meter = TrafficMeter(window=0.5, first_span=0.2)
    task = await running(rig)

    async def pods_talk(per_reading: float) -> None:
        while True:
            rig.bridge.received["pod1"] += per_reading
            await asyncio.sleep(0.01)

    talking = asyncio.create_task(pods_talk(10.0))  # about 1,000 packets a second
    try:
        await eventually(lambda: (rig.flow() or FlowReport("", NodeFlowState.PENDING)).traffic is not None)
        report = rig.flow()
        assert report is not None and report.state is NodeFlowState.DISABLED and report.traffic is not None
        assert 200 < report.traffic.packets_per_second < 2000, report.traffic
        writes = rig.agent.status_writes
        talking.cancel()
        talking = asyncio.create_task(pods_talk(100.0))  # ten times the traffic
        await asyncio.sleep(1.0)
        # Within a minute of the last status write the new rate waits (the write budget).
        assert rig.agent.status_writes == writes
        assert rig.agent.meter.rate() is not None and rig.agent.meter.rate() > 3 * report.traffic.packets_per_second  # type: ignore[operator]
    finally:
        talking.cancel()
        task.cancel()
        await asyncio.gather(task, talking, return_exceptions=True)


async def test_a_node_joins_and_leaves_with_its_label_without_a_new_start(rig: Rig) -> None:
    rig.start(FlowType.NETFLOW, nodes=NodeChoice(labels=(("flows", "on"),)))
    await eventually(lambda: rig.flow() is not None and rig.flow().selected is False)  # type: ignore[union-attr]
    report = rig.flow()
    assert report is not None and report.state is NodeFlowState.DISABLED
    assert report.message == "not selected: flow export runs on the nodes labelled flows=on"
    assert rig.bridge.state == ()
    rig.label(flows="on")
    await eventually(lambda: rig.state() is NodeFlowState.EMITTING, timeout=1)
    assert rig.bridge.state == (NETFLOW,) and rig.flow().selected is True  # type: ignore[union-attr]
    rig.label(flows="off")
    await eventually(lambda: rig.state() is NodeFlowState.DISABLED, timeout=1)
    assert rig.bridge.state == ()
    assert rig.kube.objects[FLOW_EXPORTS]["cluster"]["metadata"]["generation"] == 1  # no new start


async def test_the_deadline_stops_export_with_the_api_server_frozen_and_the_report_follows(rig: Rig) -> None:
    deadline = rig.deadline_in(0.6)
    rig.start(FlowType.NETFLOW, deadline=deadline)
    await eventually(lambda: rig.state() is NodeFlowState.EMITTING)
    assert rig.bridge.state == (NETFLOW,)
    rig.kube.frozen = True  # every call hangs from now on, as with SIGSTOP
    await eventually(lambda: rig.bridge.state == (), timeout=1.5)
    assert rig.kube.server_time() >= deadline  # not a moment before it
    assert rig.state() is NodeFlowState.EMITTING  # nothing could be written meanwhile
    rig.kube.frozen = False
    await eventually(lambda: rig.state() is NodeFlowState.DISABLED)
    assert rig.flow().message == f"export ended at its deadline, {format_time(deadline)}"  # type: ignore[union-attr]
    await eventually(lambda: len(rig.kube.events()) == 1)
    (event,) = rig.kube.events()
    assert event["reason"] == "FlowExportExpired" and event["metadata"]["name"] == f"cluster.expired-g1-{int(deadline)}"
    assert event["regarding"] == {
        "apiVersion": "flowgate.dev/v1alpha1",
        "kind": "FlowExport",
        "name": "cluster",
        "uid": "export-uid",
    }
    assert f"reached its deadline {format_time(deadline)} and stopped" in event["note"]
    rig.bridge.tamper(NETFLOW, seen=True)  # export put back behind its back after the end: cleared again
    await eventually(lambda: rig.bridge.state == ())


async def test_one_event_records_the_expiry_however_many_agents_stop() -> None:
    rig = Rig()
    rig.kube.put(NODES, {"metadata": {"name": "node-1", "uid": "uid-1"}, "status": {"addresses": []}})
    second = NodeAgent(
        rig.kube,  # type: ignore[arg-type]
        "node-1",
        FakeBridge(),
        sflow_agent="ovn-k8s-mp0",
        resync=0.2,
        backoff=Backoff(0.05, 0.2),
        scrape_interval=0.02,
        collector=FakeCollector(),
    )
    tasks = [asyncio.create_task(rig.agent.run()), asyncio.create_task(second.run())]
    try:
        deadline = rig.deadline_in(0.4)
        rig.start(FlowType.NETFLOW, deadline=deadline, targets=["192.0.2.1:2055"])
        await eventually(lambda: rig.state() is NodeFlowState.DISABLED and rig.flow().message is not None)  # type: ignore[union-attr]
        flow = rig.kube.objects[FLOWS]
        await eventually(lambda: "ended" in (flow.get("node-1", {}).get("status", {}).get("message") or ""))
        await asyncio.sleep(0.3)  # both had their chance to record it
        assert [e["reason"] for e in rig.kube.events()] == ["FlowExportExpired"]
        tries = [name for verb, name, _ in rig.kube.writes if verb == "event"]
        assert tries == [f"cluster.expired-g1-{int(deadline)}"]  # the second create was refused (409)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
