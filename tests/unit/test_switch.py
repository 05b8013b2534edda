"""Start/stop orchestration against a scripted API server: create when absent, guarded update
with bounded retry on 409, and the API server's refusals as sentences with codes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gateway.domain.errors import Conflict, Forbidden, InvalidArgument, Unavailable, UnsupportedNetwork
from gateway.domain.model import FlowType
from gateway.domain.validation import StartRequest
from gateway.kube.api import ApiError, ApiUnreachable
from gateway.kube.resources import CONFIG_NETWORKS, EVENTS, FLOW_EXPORTS, NODES, OPERATOR_NETWORKS
from gateway.service.switch import FlowSwitch
from tests.unit.fakes import Cluster, node

JSON = dict[str, Any]


class ScriptedApi:
    """get/create/replace on FlowExport/cluster; `conflicts` replaces fail with 409 first."""

    def __init__(self, stored: JSON | None = None, conflicts: int = 0, fail: Exception | None = None) -> None:
        self.stored = stored
        self.conflicts = conflicts
        self.fail = fail
        self.calls: list[str] = []  # FlowExport calls only
        self.events: list[JSON] = []  # Events recorded (created)
        self.user = "alice"  # who the API server says this client is
        self.whoami_calls = 0
        self.version = 10
        self.on_store: Any = None  # the watch: feeds the hub's cache with each write
        self.server_now = 1_800_000_000.0  # the API server's clock, as its answers tell it

    def server_time(self) -> float:
        return self.server_now

    async def __aenter__(self) -> ScriptedApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    async def get_or_none(self, resource: Any, name: str) -> JSON | None:
        self.calls.append("get")
        if self.fail is not None:
            raise self.fail
        return copy.deepcopy(self.stored)

    def _store(self, obj: JSON, generation: int) -> JSON:
        self.version += 1
        obj["metadata"].update(resourceVersion=str(self.version), generation=generation)
        self.stored = copy.deepcopy(obj)
        if self.on_store is not None:
            self.on_store(copy.deepcopy(obj))
        return obj

    async def whoami(self) -> JSON:
        self.whoami_calls += 1
        return {"username": self.user}

    async def create(self, resource: Any, obj: JSON, namespace: str | None = None) -> JSON:
        if resource == EVENTS:
            assert namespace == obj["metadata"]["namespace"]
            self.events.append(copy.deepcopy(obj))
            return obj
        self.calls.append("create")
        if self.stored is not None:
            raise ApiError(409, "AlreadyExists", "already exists")
        return self._store(obj, 1)

    async def replace(self, resource: Any, obj: JSON) -> JSON:
        self.calls.append("replace")
        if self.conflicts:
            self.conflicts -= 1
            assert self.stored is not None
            self.stored["metadata"]["resourceVersion"] = str(self.version + 100)
            raise ApiError(409, "Conflict", "the object has been modified")
        assert self.stored is not None
        generation = self.stored["metadata"]["generation"]
        if obj["spec"] != self.stored["spec"]:
            generation += 1
        return self._store(obj, generation)


class Switch:
    """The switch on a hand-fed hub, writing through a scripted API client."""

    def __init__(self, api: ScriptedApi) -> None:
        self.api = api
        self.cluster = Cluster()
        for name in ("node-a", "node-b"):
            self.cluster.put(NODES, node(name))
        self.cluster.sync()
        api.on_store = lambda obj: self.cluster.put(FLOW_EXPORTS, obj)
        self.cluster.hub.clock = api.server_time  # one API server, one clock
        self.switch = FlowSwitch(self.cluster.hub)

    async def start(self, request: StartRequest) -> Any:
        return await self.switch.start(self.api, request)  # type: ignore[arg-type]

    async def stop(self) -> Any:
        return await self.switch.stop(self.api)  # type: ignore[arg-type]


def control(api: ScriptedApi) -> tuple[Switch, Cluster]:
    switch = Switch(api)
    return switch, switch.cluster


NETFLOW = StartRequest(FlowType.NETFLOW, node_port=30001)


async def test_start_creates_when_absent() -> None:
    api = ScriptedApi()
    ctl, _ = control(api)
    state = await ctl.start(NETFLOW)
    assert api.calls == ["get", "create"]
    assert api.stored is not None and api.stored["spec"] == {"type": "NetFlow", "collector": {"nodePort": 30001}}
    assert state.enabled and state.generation == 1 and {n.state.name for n in state.nodes} == {"PENDING"}


async def test_update_retries_on_conflict_then_succeeds() -> None:
    stored = {"metadata": {"name": "cluster", "resourceVersion": "5", "generation": 3}, "spec": {}}
    api = ScriptedApi(stored, conflicts=2)
    ctl, _ = control(api)
    state = await ctl.start(NETFLOW)
    assert api.calls == ["get", "replace"] * 3
    assert state.generation == 4


async def test_deleted_between_read_and_update_is_created_again() -> None:
    stored = {"metadata": {"name": "cluster", "resourceVersion": "5", "generation": 3}, "spec": {}}
    api = ScriptedApi(stored)

    async def deleted_meanwhile(resource: Any, obj: JSON) -> JSON:
        api.calls.append("replace")
        api.stored = None
        raise ApiError(404, "NotFound", 'flowexports.flowgate.dev "cluster" not found')

    api.replace = deleted_meanwhile  # type: ignore[method-assign]
    ctl, _ = control(api)
    state = await ctl.start(NETFLOW)
    assert api.calls == ["get", "replace", "get", "create"]
    assert state.enabled and state.generation == 1


async def test_update_gives_up_after_bounded_retries() -> None:
    stored = {"metadata": {"name": "cluster", "resourceVersion": "5", "generation": 3}, "spec": {}}
    api = ScriptedApi(stored, conflicts=100)
    ctl, _ = control(api)
    with pytest.raises(Conflict, match="kept changing"):
        await ctl.start(NETFLOW)
    assert api.calls.count("replace") == 5


async def test_same_start_twice_keeps_the_generation() -> None:
    api = ScriptedApi()
    ctl, _ = control(api)
    first = await ctl.start(NETFLOW)
    again = await ctl.start(NETFLOW)
    assert api.calls == ["get", "create", "get", "replace"]  # still asked of the API server: RBAC decides
    assert first.generation == again.generation == 1


async def test_stop_when_absent_records_stopped() -> None:
    api = ScriptedApi()
    ctl, _ = control(api)
    state = await ctl.stop()
    assert api.calls == ["get", "create"]
    assert api.stored is not None and api.stored["spec"] == {}
    assert not state.enabled


async def test_stop_clears_every_field_of_a_running_export() -> None:
    stored = {
        "metadata": {"name": "cluster", "resourceVersion": "5", "generation": 3},
        "spec": {"type": "IPFIX", "collector": {"targets": ["10.0.0.9:4739"]}, "sampling": 64},
    }
    api = ScriptedApi(stored)
    ctl, _ = control(api)
    state = await ctl.stop()
    assert api.calls == ["get", "replace"]
    assert api.stored is not None and api.stored["spec"] == {} and api.stored["metadata"]["generation"] == 4
    assert not state.enabled and state.generation == 4


@pytest.mark.parametrize(
    ("error", "kind", "text"),
    [
        (
            ApiError(
                403,
                "Forbidden",
                'flowexports.flowgate.dev "cluster" is forbidden: User "alice" cannot get resource "flowexports"',
            ),
            Forbidden,
            'User "alice" may not get flowexports.flowgate.dev "cluster"',
        ),
        (ApiError(403, "Forbidden", "nope"), Forbidden, 'You may not get flowexports.flowgate.dev "cluster"'),
        (ApiError(503, "ServiceUnavailable", "etcd down"), Unavailable, "try again shortly"),
        (ApiUnreachable("refused"), Unavailable, "cannot be reached"),
    ],
)
async def test_api_refusals_become_sentences(error: Exception, kind: type[Exception], text: str) -> None:
    ctl, _ = control(ScriptedApi(fail=error))
    with pytest.raises(kind, match=text):
        await ctl.start(NETFLOW)


async def test_invalid_from_the_api_server_names_the_field() -> None:
    api = ScriptedApi()

    async def create(resource: Any, obj: JSON) -> JSON:
        raise ApiError(
            422,
            "Invalid",
            'FlowExport.flowgate.dev "cluster" is invalid: spec.collector.nodePort: Invalid value: 70000: '
            "spec.collector.nodePort in body should be less than or equal to 65535",
        )

    api.create = create  # type: ignore[method-assign]
    ctl, _ = control(api)
    with pytest.raises(InvalidArgument) as err:
        await ctl.start(NETFLOW)
    assert err.value.field == "collector.nodePort"


async def test_unsupported_network_writes_nothing() -> None:
    api = ScriptedApi()
    ctl, cluster = control(api)
    cluster.put(CONFIG_NETWORKS, {"metadata": {"name": "cluster"}, "status": {"networkType": "OpenShiftSDN"}})
    with pytest.raises(UnsupportedNetwork) as err:
        await ctl.start(NETFLOW)
    assert err.value.message == "OpenShiftSDN does not support flows tracing."
    assert api.calls == []


async def test_invalid_request_writes_nothing() -> None:
    api = ScriptedApi()
    ctl, _ = control(api)
    with pytest.raises(InvalidArgument) as err:
        await ctl.start(StartRequest(FlowType.IPFIX, selector=[("a", "1"), ("a", "2")]))
    assert err.value.field == "collector.selector"
    assert api.calls == []


def test_flow_exports_resource_path() -> None:
    assert FLOW_EXPORTS.path("cluster") == "/apis/flowgate.dev/v1alpha1/flowexports/cluster"


# -- the audit trail ---------------------------------------------------------------------------


async def test_start_switch_change_and_stop_each_record_who_and_what() -> None:
    api = ScriptedApi()
    ctl, _ = control(api)
    await ctl.start(NETFLOW)
    await ctl.switch.start(api, StartRequest(FlowType.IPFIX, selector=[("role", "c")], sampling=64), user="bob")  # type: ignore[arg-type]
    await ctl.switch.start(api, StartRequest(FlowType.IPFIX, node_port=30002), user="bob")  # type: ignore[arg-type]
    await ctl.stop()
    notes = [(e["reason"], e["action"], e["note"]) for e in api.events]
    assert notes == [
        ("FlowExportStarted", "Start", 'User "alice" started flow export: NetFlow to nodePort 30001; generation 1.'),
        (
            "FlowExportSwitched",
            "Switch",
            'User "bob" switched flow export from NetFlow to nodePort 30001 to IPFIX to selector role=c '
            "(sampling 1 in 64); generation 2.",
        ),
        (
            "FlowExportChanged",
            "Change",
            'User "bob" changed flow export from IPFIX to selector role=c (sampling 1 in 64) to IPFIX to '
            "nodePort 30002; generation 3.",
        ),
        ("FlowExportStopped", "Stop", 'User "alice" stopped flow export (was IPFIX to nodePort 30002); generation 4.'),
    ]
    # The user comes from the API server: a TokenReview handed in, else SelfSubjectReview (asked twice).
    assert api.whoami_calls == 2
    first = api.events[0]
    assert first["metadata"]["namespace"] == "default"
    assert first["metadata"]["name"].startswith("cluster.")
    assert first["metadata"]["annotations"] == {
        "flowgate.dev/user": "alice",
        "flowgate.dev/from": "stopped",
        "flowgate.dev/to": "NetFlow to nodePort 30001",
    }
    assert first["regarding"]["kind"] == "FlowExport" and first["regarding"]["name"] == "cluster"
    assert first["type"] == "Normal" and first["reportingController"] == "flowgate.dev/gateway"
    assert first["eventTime"].endswith("Z") and "." in first["eventTime"]


async def test_asking_for_what_is_there_records_nothing() -> None:
    api = ScriptedApi()
    ctl, _ = control(api)
    await ctl.stop()  # nothing was running: no change
    await ctl.start(NETFLOW)
    await ctl.start(NETFLOW)
    assert [e["reason"] for e in api.events] == ["FlowExportStarted"]


async def test_a_refused_write_records_nothing() -> None:
    api = ScriptedApi(fail=ApiError(403, "Forbidden", 'User "eve" cannot get resource "flowexports"'))
    ctl, _ = control(api)
    with pytest.raises(Forbidden):
        await ctl.start(NETFLOW)
    assert api.events == [] and api.whoami_calls == 0


async def test_an_event_the_api_server_refuses_does_not_undo_the_change(caplog: pytest.LogCaptureFixture) -> None:
    api = ScriptedApi()
    stored_create = api.create

    async def create(resource: Any, obj: JSON, namespace: str | None = None) -> JSON:
        if resource == EVENTS:
            raise ApiError(403, "Forbidden", 'User "alice" cannot create resource "events"')
        return await stored_create(resource, obj)

    api.create = create  # type: ignore[method-assign]
    ctl, _ = control(api)
    state = await ctl.start(NETFLOW)
    assert state.enabled
    assert 'could not record the Normal Event FlowExportStarted on FlowExport/cluster: User "alice" cannot create' in (
        caplog.text
    )


# -- OpenShift's Cluster Network Operator ----------------------------------------------------------

CNO_NETFLOW = {
    "metadata": {"name": "cluster"},
    "spec": {"exportNetworkFlows": {"netFlow": {"collectors": ["192.0.2.1:2055"]}}},
}


async def test_a_start_while_the_operator_manages_export_names_the_field_and_writes_nothing() -> None:
    api = ScriptedApi()
    ctl, cluster = control(api)
    cluster.put(OPERATOR_NETWORKS, CNO_NETFLOW)
    with pytest.raises(Conflict) as err:
        await ctl.start(NETFLOW)
    assert err.value.code == "CONFLICT"
    assert err.value.message == (
        "Flow export on this cluster is managed by the Cluster Network Operator: networks.operator.openshift.io/cluster "
        "sets spec.exportNetworkFlows (NetFlow to 192.0.2.1:2055) and ovnkube-node configures br-int from it. "
        "flowgate does not start, switch or repair flow export while that field is set; remove "
        "spec.exportNetworkFlows to let it."
    )
    assert api.calls == [] and api.events == []
    state = cluster.hub.state()
    assert state.operator_export is not None and state.operator_export.describe() == "NetFlow to 192.0.2.1:2055"
    # Stopping flowgate's own export stays possible (it touches no bridge while the operator manages them).
    assert not (await ctl.stop()).enabled
    cluster.put(OPERATOR_NETWORKS, {"metadata": {"name": "cluster"}, "spec": {"exportNetworkFlows": None}})
    assert (await ctl.start(NETFLOW)).enabled and cluster.hub.state().operator_export is None


async def test_a_start_for_a_while_takes_its_deadline_from_the_api_servers_clock() -> None:
    api = ScriptedApi()
    api.server_now = 1_800_000_000.4  # whatever this machine's clock says
    ctl, _ = control(api)
    state = await ctl.start(StartRequest(FlowType.NETFLOW, node_port=30001, duration_seconds=1200))
    assert api.stored is not None and api.stored["spec"]["deadline"] == "2027-01-15T08:20:01Z"
    assert state.deadline == 1_800_001_201 and state.enabled and not state.ended
    # Starting again replaces the deadline (here with none: until stopped), recorded as a change.
    await ctl.start(NETFLOW)
    assert "deadline" not in api.stored["spec"]
    assert [e["reason"] for e in api.events] == ["FlowExportStarted", "FlowExportChanged"]
    assert api.events[0]["note"].endswith("NetFlow to nodePort 30001 until 2027-01-15T08:20:01Z; generation 1.")


async def test_unknown_nodes_change_nothing_unless_asked_to_start_on_the_known_ones() -> None:
    api = ScriptedApi()
    ctl, _ = control(api)  # nodes node-a and node-b
    with pytest.raises(InvalidArgument, match="'node-z' is no node of this cluster; flow export was not changed"):
        await ctl.start(StartRequest(FlowType.NETFLOW, nodes=["node-a", "node-z"]))
    assert api.calls == [] and api.stored is None
    state = await ctl.start(StartRequest(FlowType.NETFLOW, nodes=["node-a", "node-z"], ignore_unknown_nodes=True))
    assert api.stored is not None and api.stored["spec"]["nodes"] == ["node-a"]
    assert [(n.node, n.selected, n.state.name) for n in state.nodes] == [
        ("node-a", True, "PENDING"),
        ("node-b", False, "DISABLED"),
    ]
    assert state.summary.selected == 1


def test_a_dry_run_projects_only_the_nodes_a_start_would_choose_with_the_same_refusals() -> None:
    ctl, _ = control(ScriptedApi())  # nodes node-a and node-b
    everywhere = ctl.switch.dry_run(StartRequest(FlowType.IPFIX))
    assert [n.node for n in everywhere.nodes] == ["node-a", "node-b"]
    chosen = ctl.switch.dry_run(StartRequest(FlowType.IPFIX, nodes=["node-b"], duration_seconds=600))
    assert [n.node for n in chosen.nodes] == ["node-b"]
    with pytest.raises(InvalidArgument, match="'node-z' is no node of this cluster"):
        ctl.switch.dry_run(StartRequest(FlowType.IPFIX, nodes=["node-z", "node-a"]))
    labelled = ctl.switch.dry_run(StartRequest(FlowType.IPFIX, node_selector=[("zone", "a")]))
    assert labelled.nodes == ()
