"""The status hub on hand-fed informers: snapshot then changes, latest-per-node mailboxes, one
derived state shared by every subscriber."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from gateway.domain.errors import InvalidArgument, Unavailable
from gateway.domain.model import FlowType, NodeFlowState, format_time
from gateway.kube.resources import CONFIG_NETWORKS, FLOW_EXPORTS, FLOWS, NODES
from gateway.service.hub import StatusHub, TableMailbox, TableUpdate
from tests.unit.fakes import Cluster, export, flow, node

JSON = dict[str, Any]


async def next_update(table: TableMailbox, what: str, timeout: float = 5.0) -> TableUpdate:
    """The table mailbox's next update, or an AssertionError saying what was awaited and what the
    mailbox held once `timeout` seconds pass (the hub answers at once; only a fault waits)."""
    try:
        return await asyncio.wait_for(table.get(), timeout)
    except TimeoutError:
        raise AssertionError(
            f"waited {timeout:g} s for {what}; the table mailbox held changes to {sorted(table._changed)}, "
            f"removals of {sorted(table._removed)}, closed={table.closed}"
        ) from None


def drain(mailbox: Any) -> list[Any]:
    out = []
    while len(mailbox):
        out.append(mailbox_pop(mailbox))
    return out


def mailbox_pop(mailbox: Any) -> Any:
    node_name = next(iter(mailbox._pending))
    return mailbox._pending.pop(node_name)[0]


@pytest.fixture
def cluster() -> Cluster:
    c = Cluster()
    for name in ("node-a", "node-b", "node-c"):
        c.put(NODES, node(name))
    c.sync()
    return c


async def test_state_before_sync_is_unavailable() -> None:
    c = Cluster()
    with pytest.raises(Unavailable, match="readyz"):
        c.hub.state()


async def test_snapshot_lists_every_node_disabled(cluster: Cluster) -> None:
    state = cluster.hub.state()
    assert [n.node for n in state.nodes] == ["node-a", "node-b", "node-c"]
    assert {n.state for n in state.nodes} == {NodeFlowState.DISABLED}
    assert state.supported and state.network_type == "OVNKubernetes"
    mailbox = cluster.hub.subscribe()
    assert [s.node for s in drain(mailbox)] == ["node-a", "node-b", "node-c"]


async def test_start_makes_every_node_pending_then_agent_report_makes_one_emitting(cluster: Cluster) -> None:
    mailbox = cluster.hub.subscribe()
    drain(mailbox)
    cluster.put(FLOW_EXPORTS, export("NetFlow", 1))
    pending = drain(mailbox)
    assert {s.state for s in pending} == {NodeFlowState.PENDING} and len(pending) == 3
    assert all(s.type is FlowType.NETFLOW for s in pending)
    cluster.put(FLOWS, flow("node-b", "Emitting", 1, "10.0.0.1:30001"))
    (change,) = drain(mailbox)
    assert (change.node, change.state, change.endpoint) == ("node-b", NodeFlowState.EMITTING, "10.0.0.1:30001")


async def test_mailbox_keeps_only_the_latest_state_per_node(cluster: Cluster) -> None:
    mailbox = cluster.hub.subscribe()
    cluster.put(FLOW_EXPORTS, export("NetFlow", 1))
    for i in range(1000):
        cluster.put(FLOWS, flow("node-a", "Emitting" if i % 2 else "Error", 1))
    assert len(mailbox) == 3  # bounded by the number of nodes, whatever the event count
    latest = {s.node: s for s in drain(mailbox)}
    assert latest["node-a"].state is NodeFlowState.EMITTING


async def test_unchanged_derivation_is_not_delivered(cluster: Cluster) -> None:
    mailbox = cluster.hub.subscribe()
    drain(mailbox)
    cluster.put(NODES, {**node("node-a"), "metadata": {**node("node-a")["metadata"], "resourceVersion": "2"}})
    assert len(mailbox) == 0


async def test_subscribe_to_one_node(cluster: Cluster) -> None:
    mailbox = cluster.hub.subscribe("node-c")
    assert [s.node for s in drain(mailbox)] == ["node-c"]
    cluster.put(FLOW_EXPORTS, export("NetFlow", 1))
    assert [s.node for s in drain(mailbox)] == ["node-c"]
    with pytest.raises(InvalidArgument) as err:
        cluster.hub.subscribe("node-z")
    assert err.value.field == "node"


async def test_new_node_is_delivered_and_deleted_node_dropped(cluster: Cluster) -> None:
    mailbox = cluster.hub.subscribe()
    drain(mailbox)
    cluster.put(NODES, node("node-d"))
    assert [s.node for s in drain(mailbox)] == ["node-d"]
    cluster.delete(NODES, node("node-d"))
    assert [n.node for n in cluster.hub.state().nodes] == ["node-a", "node-b", "node-c"]


async def test_flow_of_unknown_node_is_ignored(cluster: Cluster) -> None:
    mailbox = cluster.hub.subscribe()
    drain(mailbox)
    cluster.put(FLOWS, flow("ghost", "Emitting", 1))
    assert len(mailbox) == 0


async def test_mailbox_iterates_and_closes(cluster: Cluster) -> None:
    mailbox = cluster.hub.subscribe("node-a")
    assert cluster.hub.subscriber_count == 1
    stream = mailbox.__aiter__()
    first = await stream.__anext__()
    assert first.node == "node-a"
    waiting = asyncio.ensure_future(stream.__anext__())
    await asyncio.sleep(0)
    assert not waiting.done()
    cluster.put(FLOW_EXPORTS, export("IPFIX", 2))
    second = await asyncio.wait_for(waiting, 1)
    assert second.state is NodeFlowState.PENDING and second.type is FlowType.IPFIX
    await stream.aclose()
    assert cluster.hub.subscriber_count == 0


async def test_config_network_decides_support(cluster: Cluster) -> None:
    cluster.put(CONFIG_NETWORKS, {"metadata": {"name": "cluster"}, "status": {"networkType": "OpenShiftSDN"}})
    state = cluster.hub.state()
    assert (state.network_type, state.supported) == ("OpenShiftSDN", False)


async def test_network_support_follows_node_annotations_without_walking_every_node(pair: Cluster) -> None:
    """On plain Kubernetes OVN-K is known by its node annotations: the hub keeps which nodes carry
    them from Node events, and a change of support is an update for table subscribers."""
    table = pair.hub.subscribe_table(batch_window=0)
    await next_update(table, "the snapshot")
    assert pair.hub.network().supported
    version = pair.hub.version
    plain = {"metadata": {"name": "node-a", "resourceVersion": "2"}, "status": {}}
    pair.put(NODES, plain)  # node-b still runs OVN-K
    assert pair.hub.network().supported and not table.pending
    pair.put(NODES, {**plain, "metadata": {"name": "node-b", "resourceVersion": "2"}})
    assert (pair.hub.network().network_type, pair.hub.network().supported) == (None, False)
    assert pair.hub.version > version and table.pending
    assert not (await next_update(table, "the update for the network type change")).state.supported
    pair.delete(NODES, plain)
    pair.put(NODES, node("node-c"))  # a new OVN-K node
    assert pair.hub.network().supported and table.pending


async def test_hub_built_after_the_lists_knows_the_network_from_the_store() -> None:
    c = Cluster()
    c.put(NODES, node("node-a"))
    late = StatusHub(c.informers)  # listened only after the Node list arrived
    c.sync()
    assert late.network().supported


async def test_every_node_is_derived_as_soon_as_the_lists_are_in() -> None:
    c = Cluster()
    for name in ("node-a", "node-b"):
        c.put(NODES, node(name))
    deriving = asyncio.ensure_future(c.hub.derive_when_synced())
    await asyncio.sleep(0)
    assert not c.hub._published and not deriving.done() and not c.hub.derived
    for informer in c.informers.informers:
        informer.synced.set()
    await asyncio.wait_for(deriving, 1)
    assert sorted(c.hub._published) == ["node-a", "node-b"]  # before any reader asked
    assert c.hub.derived  # what /readyz waits for


async def test_wait_for_export_sees_own_write(cluster: Cluster) -> None:
    waiter = asyncio.ensure_future(cluster.hub.wait_for_export("7", timeout=1))
    await asyncio.sleep(0)
    cluster.put(FLOW_EXPORTS, export("NetFlow", 7))
    assert await waiter
    assert not await cluster.hub.wait_for_export("8", timeout=0.05)


async def test_wait_for_export_wakes_every_waiter_on_their_version_only(cluster: Cluster) -> None:
    waiters = [asyncio.ensure_future(cluster.hub.wait_for_export("7", timeout=1)) for _ in range(2)]
    await asyncio.sleep(0)
    cluster.put(FLOW_EXPORTS, export("NetFlow", 6))  # someone else's write
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    cluster.put(FLOW_EXPORTS, export("NetFlow", 7))
    assert await asyncio.gather(*waiters) == [True, True]


async def test_first_read_after_sync_derives_every_node_at_once() -> None:
    c = Cluster()
    for name in ("node-a", "node-b"):
        c.put(NODES, node(name))  # before the sync: nothing derived yet
    for informer in c.informers.informers:
        informer.synced.set()  # the last list brought no event (e.g. no Flow yet)
    mailbox = c.hub.subscribe("node-b")
    assert [s.node for s in drain(mailbox)] == ["node-b"]
    assert [s.node for s in c.hub.statuses()] == ["node-a", "node-b"]


# -- the table subscription --------------------------------------------------------------------


@pytest.fixture
def pair() -> Cluster:
    c = Cluster()
    for name in ("node-a", "node-b"):
        c.put(NODES, node(name))
    c.sync()
    return c


async def test_table_snapshot_is_one_update_then_batches_and_removals(pair: Cluster) -> None:
    table = pair.hub.subscribe_table(batch_window=0)
    first = await next_update(table, "the snapshot")
    assert first.snapshot and [s.node for s in first.changed] == ["node-a", "node-b"] and first.removed == ()
    assert first.state.summary.total == 2 and first.state.summary.disabled == 2
    pair.put(FLOW_EXPORTS, export("NetFlow", 1))  # every node turns PENDING
    pair.put(NODES, node("node-c"))
    batch = await next_update(table, "the update of every node turning PENDING and node-c added")
    assert not batch.snapshot
    assert sorted((s.node, s.state) for s in batch.changed) == [
        ("node-a", NodeFlowState.PENDING),
        ("node-b", NodeFlowState.PENDING),
        ("node-c", NodeFlowState.PENDING),
    ]
    assert batch.state.enabled and batch.state.summary.pending == 3
    pair.put(FLOWS, flow("node-a", "Emitting", 1, endpoint="10.0.0.1:30001"))
    pair.delete(NODES, node("node-b"))
    batch = await next_update(table, "the update of node-a Emitting and node-b removed")
    assert [(s.node, s.state) for s in batch.changed] == [("node-a", NodeFlowState.EMITTING)]
    assert batch.removed == ("node-b",)
    assert batch.state.summary.total == 2 and [n.node for n in batch.state.nodes] == ["node-a", "node-c"]
    assert not table.pending


async def test_a_table_mailbox_without_snapshot_waits_for_the_first_change(pair: Cluster) -> None:
    table = pair.hub.subscribe_table(batch_window=0, snapshot=False)
    assert not table.pending
    pair.put(FLOWS, flow("node-a", "Emitting", 1))
    update = await next_update(table, "the first change (node-a Emitting)")
    assert not update.snapshot and [s.node for s in update.changed] == ["node-a"]


async def test_a_removed_node_that_returns_is_a_change_not_a_removal(pair: Cluster) -> None:
    table = pair.hub.subscribe_table(batch_window=0)
    await next_update(table, "the snapshot")
    pair.delete(NODES, node("node-b"))
    pair.put(NODES, node("node-b"))
    batch = await next_update(table, "the update of node-b removed and back")
    assert [s.node for s in batch.changed] == ["node-b"] and batch.removed == ()


async def test_a_slow_table_reader_holds_one_entry_per_node(pair: Cluster) -> None:
    table = pair.hub.subscribe_table(batch_window=0)
    await next_update(table, "the snapshot")
    pair.put(FLOW_EXPORTS, export("NetFlow", 1))
    for i in range(500):
        pair.put(FLOWS, flow("node-a", "Emitting" if i % 2 else "Error", 1))
    assert len(table._changed) == 2
    batch = await next_update(table, "the update after 500 changes to node-a")
    assert {s.node: s.state for s in batch.changed}["node-a"] is NodeFlowState.EMITTING  # the last of 500


async def test_a_cluster_level_change_alone_is_an_update(pair: Cluster) -> None:
    table = pair.hub.subscribe_table(batch_window=0)
    await next_update(table, "the snapshot")
    pair.put(CONFIG_NETWORKS, {"metadata": {"name": "cluster"}, "status": {"networkType": "OpenShiftSDN"}})
    batch = await next_update(table, "the update for the network type change")
    assert batch.changed == () and not batch.state.supported
    assert batch.state.unsupported_reason == "OpenShiftSDN does not support flows tracing."


async def test_a_burst_is_gathered_into_one_update(pair: Cluster) -> None:
    table = pair.hub.subscribe_table(batch_window=0.05)
    await next_update(table, "the snapshot")
    waiting = asyncio.ensure_future(table.get())
    await asyncio.sleep(0)
    pair.put(FLOW_EXPORTS, export("NetFlow", 1))  # wakes the reader …
    await asyncio.sleep(0.01)
    pair.put(FLOWS, flow("node-a", "Emitting", 1))  # … which is still gathering
    batch = await asyncio.wait_for(waiting, 5)
    assert {s.node: s.state.name for s in batch.changed} == {"node-a": "EMITTING", "node-b": "PENDING"}


def test_closing_the_hub_closes_table_mailboxes(pair: Cluster) -> None:
    table = pair.hub.subscribe_table()
    assert pair.hub.subscriber_count == 1
    pair.hub.close()
    assert table.closed and pair.hub.subscriber_count == 0


def test_flows_query_is_served_from_the_derived_rows(pair: Cluster) -> None:
    pair.put(FLOW_EXPORTS, export("NetFlow", 2))
    first = pair.hub.state()
    assert first.nodes is pair.hub.state().nodes  # no re-derivation between changes
    pair.put(FLOWS, flow("node-a", "Emitting", 2))
    again = pair.hub.state()
    assert again.summary.emitting == 1 and again.nodes is not first.nodes


async def test_a_deadline_passing_re_derives_every_node_without_any_event(cluster: Cluster) -> None:
    offset = 0.0
    cluster.hub.clock = lambda: time.time() + offset  # the API server's clock
    deadline = float(int(time.time()) + 100)
    offset = deadline - 0.2 - time.time()  # the deadline is 0.2 s away on that clock
    timed = export("NetFlow", 2)
    timed["spec"]["deadline"] = format_time(deadline)
    cluster.put(FLOW_EXPORTS, timed)
    for name in ("node-a", "node-b", "node-c"):
        cluster.put(FLOWS, flow(name, "Emitting", 2, "10.0.0.1:30001"))
    assert cluster.hub.state().enabled
    table = cluster.hub.subscribe_table(batch_window=0)
    await table.get()  # the snapshot
    version = cluster.hub.version
    update = await asyncio.wait_for(table.get(), timeout=2)  # the deadline, and nothing else, passed
    assert cluster.hub.clock() >= deadline and cluster.hub.version > version
    assert {s.state for s in update.changed} == {NodeFlowState.DISABLED} and len(update.changed) == 3
    assert update.state.ended and not update.state.enabled and update.state.deadline == deadline
    assert all("export ended at its deadline" in (s.message or "") for s in update.changed)
