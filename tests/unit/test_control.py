"""Start/stop orchestration against a scripted API server: create when absent, guarded update
with bounded retry on 409, and the API server's refusals as sentences with codes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gateway.access import Caller
from gateway.domain.errors import Conflict, Forbidden, InvalidArgument, Unavailable, UnsupportedNetwork
from gateway.domain.model import FlowType
from gateway.flows.control import FlowControl, StartRequest
from gateway.kube.client import ApiError, ApiUnreachable
from gateway.kube.config import ClusterCredentials
from gateway.kube.resources import CONFIG_NETWORKS, FLOW_EXPORTS, NODES
from tests.unit.test_hub import Cluster, node

JSON = dict[str, Any]
ALICE = Caller(token="alice-token", username="alice")


class ScriptedApi:
    """get/create/replace on FlowExport/cluster; `conflicts` replaces fail with 409 first."""

    def __init__(self, stored: JSON | None = None, conflicts: int = 0, fail: Exception | None = None) -> None:
        self.stored = stored
        self.conflicts = conflicts
        self.fail = fail
        self.calls: list[str] = []
        self.tokens: list[str | None] = []
        self.version = 10
        self.on_store: Any = None  # the watch: feeds the hub's cache with each write

    def __call__(self, credentials: ClusterCredentials) -> ScriptedApi:
        self.tokens.append(credentials.token)
        return self

    async def close(self) -> None:
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

    async def create(self, resource: Any, obj: JSON) -> JSON:
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


def control(api: ScriptedApi) -> tuple[FlowControl, Cluster]:
    cluster = Cluster()
    for name in ("node-a", "node-b"):
        cluster.put(NODES, node(name))
    cluster.sync()
    api.on_store = lambda obj: cluster.put(FLOW_EXPORTS, obj)
    creds = ClusterCredentials(server="https://127.0.0.1:1", token="gateway-token")
    return FlowControl(cluster.hub, creds, client_for=api), cluster  # type: ignore[arg-type]


NETFLOW = StartRequest(FlowType.NETFLOW, node_port=30001)


async def test_start_creates_as_the_caller() -> None:
    api = ScriptedApi()
    ctl, _ = control(api)
    state = await ctl.start(ALICE, NETFLOW)
    assert api.calls == ["get", "create"] and api.tokens == ["alice-token"]
    assert api.stored is not None and api.stored["spec"] == {"type": "NetFlow", "collector": {"nodePort": 30001}}
    assert state.enabled and state.generation == 1 and {n.state.name for n in state.nodes} == {"PENDING"}


async def test_update_retries_on_conflict_then_succeeds() -> None:
    stored = {"metadata": {"name": "cluster", "resourceVersion": "5", "generation": 3}, "spec": {}}
    api = ScriptedApi(stored, conflicts=2)
    ctl, _ = control(api)
    state = await ctl.start(ALICE, NETFLOW)
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
    state = await ctl.start(ALICE, NETFLOW)
    assert api.calls == ["get", "replace", "get", "create"]
    assert state.enabled and state.generation == 1


async def test_update_gives_up_after_bounded_retries() -> None:
    stored = {"metadata": {"name": "cluster", "resourceVersion": "5", "generation": 3}, "spec": {}}
    api = ScriptedApi(stored, conflicts=100)
    ctl, _ = control(api)
    with pytest.raises(Conflict, match="kept changing"):
        await ctl.start(ALICE, NETFLOW)
    assert api.calls.count("replace") == 5


async def test_same_start_twice_keeps_the_generation() -> None:
    api = ScriptedApi()
    ctl, _ = control(api)
    first = await ctl.start(ALICE, NETFLOW)
    again = await ctl.start(ALICE, NETFLOW)
    assert api.calls == ["get", "create", "get", "replace"]  # still asked of the API server: RBAC decides
    assert first.generation == again.generation == 1


async def test_stop_when_absent_records_stopped() -> None:
    api = ScriptedApi()
    ctl, _ = control(api)
    state = await ctl.stop(ALICE)
    assert api.stored is not None and api.stored["spec"] == {}
    assert not state.enabled


@pytest.mark.parametrize(
    ("error", "kind", "text"),
    [
        (ApiError(403, "Forbidden", "nope"), Forbidden, 'User "alice" may not get flowexports.flowgate.dev "cluster"'),
        (ApiError(503, "ServiceUnavailable", "etcd down"), Unavailable, "try again shortly"),
        (ApiUnreachable("refused"), Unavailable, "cannot be reached"),
    ],
)
async def test_api_refusals_become_sentences(error: Exception, kind: type[Exception], text: str) -> None:
    ctl, _ = control(ScriptedApi(fail=error))
    with pytest.raises(kind, match=text):
        await ctl.start(ALICE, NETFLOW)


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
        await ctl.start(ALICE, NETFLOW)
    assert err.value.field == "collector.nodePort"


async def test_unsupported_network_writes_nothing() -> None:
    api = ScriptedApi()
    ctl, cluster = control(api)
    cluster.put(CONFIG_NETWORKS, {"metadata": {"name": "cluster"}, "status": {"networkType": "OpenShiftSDN"}})
    with pytest.raises(UnsupportedNetwork) as err:
        await ctl.start(ALICE, NETFLOW)
    assert err.value.message == "OpenShiftSDN does not support flows tracing."
    assert api.calls == []


async def test_invalid_request_writes_nothing() -> None:
    api = ScriptedApi()
    ctl, _ = control(api)
    with pytest.raises(InvalidArgument) as err:
        await ctl.start(ALICE, StartRequest(FlowType.IPFIX, selector=[("a", "1"), ("a", "2")]))
    assert err.value.field == "collector.selector"
    assert api.calls == []


def test_flow_exports_resource_path() -> None:
    assert FLOW_EXPORTS.path("cluster") == "/apis/flowgate.dev/v1alpha1/flowexports/cluster"
