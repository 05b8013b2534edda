"""The status hub: one derived NodeFlowStatus per node, kept current from the shared informers
(gateway/watch/), fanned out to any number of subscribers.

Every change of FlowExport, Flow, Node or config Network is turned into the set of nodes whose
derived status actually changed (the operator Network changes only the cluster-level state); each subscriber gets those through its own Mailbox. A mailbox
holds at most one pending status per node (a newer one replaces the older), so a slow client
costs at most one entry per node and never delays anybody else: what it eventually reads is the
latest truth, which is all a status view needs."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gateway.domain.errors import InvalidArgument, Unavailable
from gateway.domain.model import (
    FLOW_EXPORT_NAME,
    FlowExport,
    FlowReport,
    FlowsState,
    NodeFlowState,
    NodeFlowStatus,
    NodeInfo,
    OperatorExport,
)
from gateway.domain.network import NetworkSupport, network_support, operator_export
from gateway.domain.status import cluster_state, flows_state, node_flow_status, summary_of
from gateway.kube.api import KubeApi
from gateway.kube.resources import CONFIG_NETWORKS, FLOW_EXPORTS, FLOWS, NODES, OPERATOR_NETWORKS
from gateway.watch.informer import Informer, InformerSet
from gateway.watch.store import WatchEvent

NOT_SYNCED = (
    "The gateway has not yet loaded the cluster's state from the Kubernetes API server; "
    "try again in a few seconds (GET /readyz tells when it is ready)."
)


def flow_informers(api: KubeApi, **options: Any) -> InformerSet:
    """The kinds flow export state is derived from, one list+watch each, whatever the number of
    readers. `options` go to every informer (silence_timeout, say)."""
    return InformerSet(
        [
            Informer.on_api(api, FLOW_EXPORTS, name=FLOW_EXPORT_NAME, **options),
            Informer.on_api(api, FLOWS, **options),
            Informer.on_api(api, NODES, **options),
            # Only OpenShift serves config.openshift.io; elsewhere OVN-K is known by node annotations.
            Informer.on_api(api, CONFIG_NETWORKS, name="cluster", optional=True, **options),
            # OpenShift's operator config: whether the Cluster Network Operator manages flow export.
            Informer.on_api(api, OPERATOR_NETWORKS, name="cluster", optional=True, **options),
        ]
    )


class Mailbox:
    """One subscriber's pending changes: the latest status per node, in first-changed order."""

    def __init__(self, hub: StatusHub, node: str | None) -> None:
        self.hub = hub
        self.node = node
        self._pending: dict[str, tuple[NodeFlowStatus, float]] = {}
        self._wakeup = asyncio.Event()
        self.closed = False

    def __len__(self) -> int:
        return len(self._pending)

    def wants(self, node: str) -> bool:
        return self.node is None or self.node == node

    def put(self, status: NodeFlowStatus, now: float) -> None:
        previous = self._pending.get(status.node)
        # Keep the first enqueue time: lag is how long the oldest undelivered change has waited.
        self._pending[status.node] = (status, previous[1] if previous else now)
        self._wakeup.set()

    async def get(self) -> NodeFlowStatus:
        while not self._pending:
            self._wakeup.clear()
            await self._wakeup.wait()
        status = self.get_nowait()
        assert status is not None
        return status

    def get_nowait(self) -> NodeFlowStatus | None:
        """The oldest pending change, or None when there is none."""
        if not self._pending:
            return None
        node = next(iter(self._pending))
        status, enqueued = self._pending.pop(node)
        self.hub.observe_lag(time.monotonic() - enqueued)
        return status

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.hub._mailboxes.discard(self)

    async def __aiter__(self) -> AsyncIterator[NodeFlowStatus]:
        try:
            while True:
                yield await self.get()
        finally:
            self.close()


@dataclass(frozen=True)
class TableUpdate:
    """One message of the table subscription: on the first (`snapshot`), every node; after
    that, the nodes that changed and the names of nodes that are gone since the last message.
    `state` is the cluster as of this message."""

    snapshot: bool
    changed: tuple[NodeFlowStatus, ...]
    removed: tuple[str, ...]
    state: FlowsState


class TableMailbox:
    """A table subscriber's pending changes: the latest status per node and the nodes removed,
    handed over together in one update. A slow reader holds at most one entry per node."""

    def __init__(self, hub: StatusHub, batch_window: float, snapshot: bool = True) -> None:
        self.hub = hub
        self.batch_window = batch_window
        self._snapshot = snapshot
        self._changed: dict[str, tuple[NodeFlowStatus, float]] = {}
        self._removed: dict[str, None] = {}
        self._touched = False  # cluster-level state changed (type, collector, network)
        self._wakeup = asyncio.Event()
        if snapshot:
            self._wakeup.set()  # the snapshot is due at once
        self.closed = False

    def put(self, status: NodeFlowStatus, now: float) -> None:
        previous = self._changed.get(status.node)
        self._changed[status.node] = (status, previous[1] if previous else now)
        self._removed.pop(status.node, None)
        self._wakeup.set()

    def remove(self, node: str) -> None:
        self._changed.pop(node, None)
        self._removed[node] = None
        self._wakeup.set()

    def touch(self) -> None:
        self._touched = True
        self._wakeup.set()

    @property
    def pending(self) -> bool:
        return self._snapshot or bool(self._changed or self._removed or self._touched)

    @property
    def pending_nodes(self) -> int:
        return len(self._changed) + len(self._removed)

    async def get(self) -> TableUpdate:
        while not self.pending:
            self._wakeup.clear()
            await self._wakeup.wait()
        if not self._snapshot and self.batch_window > 0:
            # Changes come in bursts (a start touches every node): let the burst gather.
            await asyncio.sleep(self.batch_window)
        return self.get_nowait()

    def get_nowait(self) -> TableUpdate:
        snapshot = self._snapshot
        if snapshot:
            changed = tuple(self.hub.statuses())
        else:
            now = time.monotonic()
            for _, enqueued in self._changed.values():
                self.hub.observe_lag(now - enqueued)
            changed = tuple(status for status, _ in self._changed.values())
        update = TableUpdate(snapshot, changed, () if snapshot else tuple(self._removed), self.hub.overview())
        self._snapshot = self._touched = False
        self._changed.clear()
        self._removed.clear()
        return update

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.hub._tables.discard(self)


class StatusHub:
    """Derived state of every node, updated synchronously from cache listeners on the event loop
    (so a subscriber's snapshot and its first change can never overlap or leave a gap)."""

    def __init__(
        self,
        informers: InformerSet,
        on_lag: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`clock`: the API server's time (KubeApi.server_time), which deadlines are on."""
        self.informers = informers
        self.clock = clock
        by_kind = {i.resource: i for i in informers.informers}
        self.exports = by_kind[FLOW_EXPORTS]
        self.flows = by_kind[FLOWS]
        self.nodes = by_kind[NODES]
        self.networks = by_kind.get(CONFIG_NETWORKS)
        self.operator_networks = by_kind.get(OPERATOR_NETWORKS)
        self._published: dict[str, NodeFlowStatus] = {}
        self._ordered: tuple[NodeFlowStatus, ...] | None = None  # _published sorted by name, built on demand
        self.derived = False  # every node derived once the lists were in (readiness waits for it)
        self._counts: Counter[NodeFlowState] = Counter()
        self._selected = 0  # rows the running export chose
        # A deadline passing changes every row without any watch event: a timer re-derives them.
        self._deadline_timer: asyncio.TimerHandle | None = None
        # Kept from Node events, so that reading the network type never walks every Node: at
        # 5,000 nodes that walk was most of what opening a console tab cost.
        self._ovn_nodes: dict[str, NodeInfo] = {}
        for node in self.nodes:  # those listed before the hub listened (none, when started together)
            info = NodeInfo.from_object(node)
            if info.ovn_kubernetes:
                self._ovn_nodes[info.name] = info
        self._network: NetworkSupport | None = None
        # Moves with every change a reader could see (a row, a removal, the cluster-level state):
        # what cached answers are keyed on.
        self.version = 0
        self._mailboxes: set[Mailbox] = set()
        self._tables: set[TableMailbox] = set()
        # Set, and replaced by a fresh one, on every FlowExport event: what wait_for_export sleeps on.
        self._export_changed = asyncio.Event()
        self._on_lag = on_lag
        self._unlisten = [i.add_listener(self._on_event) for i in informers.informers]

    # -- reading ---------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        return self.informers.synced

    @property
    def watching(self) -> bool:
        """The informers are running (not a one-shot listing): changes keep arriving."""
        return self.informers.running

    def require_synced(self) -> None:
        if not self.synced:
            raise Unavailable(NOT_SYNCED)

    def export(self) -> FlowExport | None:
        return FlowExport.from_object(self.exports.get(FLOW_EXPORT_NAME))

    def node_infos(self) -> list[NodeInfo]:
        return [NodeInfo.from_object(n) for n in self.nodes]

    def network(self) -> NetworkSupport:
        if self._network is None:
            config = self.networks.get("cluster") if self.networks is not None else None
            self._network = network_support(config, self._ovn_nodes.values())
        return self._network

    def operator_export(self) -> OperatorExport | None:
        """The Cluster Network Operator's flow export, when it manages export on this cluster."""
        if self.operator_networks is None:
            return None
        return operator_export(self.operator_networks.get("cluster"))

    def _reports(self) -> dict[str, FlowReport]:
        reports = (FlowReport.from_object(f) for f in self.flows)
        return {r.node: r for r in reports}

    def state(self, export: FlowExport | None = None, *, written: bool = False) -> FlowsState:
        """The whole cluster. With written=True, `export` is a mutation's own write, which the
        watch may not have delivered yet: derived afresh for it."""
        self.require_synced()
        if not written:
            return self.overview()
        return flows_state(
            export, self.node_infos(), self._reports(), self.network(), self.operator_export(), now=self.clock()
        )

    def overview(self) -> FlowsState:
        """The whole cluster from what is already derived (no per-request derivation)."""
        nodes = self._sorted()
        summary = summary_of(self._counts, self._selected)
        return cluster_state(self.export(), nodes, self.network(), summary, self.operator_export(), now=self.clock())

    def _sorted(self) -> tuple[NodeFlowStatus, ...]:
        self.require_synced()
        if not self._published:
            # The first read since every kind was listed (the last list may bring no event at
            # all, e.g. an empty Flow list): derive every node now.
            self._recompute(())
        if self._ordered is None:
            self._ordered = tuple(self._published[name] for name in sorted(self._published))
        return self._ordered

    def statuses(self, node: str | None = None) -> list[NodeFlowStatus]:
        """The current status of every node (sorted by name), or of the one named."""
        ordered = self._sorted()
        if node is not None:
            if node not in self._published:
                raise InvalidArgument("node", f"node: there is no node named {node!r} in this cluster.")
            return [self._published[node]]
        return list(ordered)

    async def derive_when_synced(self) -> None:
        """Derive every node as soon as every kind is listed, so that the first reader (a console
        tab on a 5,000-node cluster) does not wait for it."""
        while True:
            await self.informers.wait_synced()
            try:
                self._sorted()
            except Unavailable:  # a kind went back to listing in between
                await asyncio.sleep(0.1)
                continue
            self.derived = True
            return

    # -- subscribing -----------------------------------------------------------------------

    @property
    def subscriber_count(self) -> int:
        return len(self._mailboxes) + len(self._tables)

    def most_pending(self) -> int:
        """The most node statuses any one mailbox has waiting (at most the number of nodes,
        however slow its reader)."""
        pending = [len(m) for m in self._mailboxes] + [t.pending_nodes for t in self._tables]
        return max(pending, default=0)

    def subscribe(self, node: str | None = None, *, snapshot: bool = True) -> Mailbox:
        """A mailbox primed with the snapshot (every node, or the one asked) unless told not to,
        then every change."""
        now = time.monotonic()
        current = self.statuses(node)
        mailbox = Mailbox(self, node)
        for status in current if snapshot else ():
            mailbox.put(status, now)
        self._mailboxes.add(mailbox)
        return mailbox

    def subscribe_table(self, batch_window: float = 0.02, *, snapshot: bool = True) -> TableMailbox:
        """A mailbox whose first update is every node at once (unless told not to), then batched
        changes and removals."""
        self._sorted()  # raises Unavailable before anything is registered
        mailbox = TableMailbox(self, batch_window, snapshot)
        self._tables.add(mailbox)
        return mailbox

    def observe_lag(self, seconds: float) -> None:
        if self._on_lag is not None:
            self._on_lag(seconds)

    async def wait_for_export(self, resource_version: str, timeout: float = 2.0) -> bool:
        """Wait until the watch has delivered our own write (read-your-writes for the next query)."""

        def seen() -> bool:
            obj = self.exports.get(FLOW_EXPORT_NAME)
            return obj is not None and (obj.get("metadata") or {}).get("resourceVersion") == resource_version

        try:
            async with asyncio.timeout(timeout):
                while not seen():
                    await self._export_changed.wait()
            return True
        except TimeoutError:
            return False

    # -- keeping current -------------------------------------------------------------------

    def _on_event(self, event: WatchEvent) -> None:
        if event.resource == FLOW_EXPORTS:
            self._export_changed.set()
            self._export_changed = asyncio.Event()
            self._schedule_deadline()
        touched = event.resource in (FLOW_EXPORTS, CONFIG_NETWORKS, OPERATOR_NETWORKS)
        if event.resource in (NODES, CONFIG_NETWORKS):
            touched = self._network_changed(event) or touched
        if touched:
            self.version += 1
            for table in self._tables:
                table.touch()
        if event.resource == OPERATOR_NETWORKS:
            return  # cluster-level only: no node's derived status depends on it
        if event.resource == FLOWS:
            changed: Iterable[str] = [event.name]
        elif event.resource == NODES and event.type == "DELETED":
            self._forget(event.name)
            changed = []
        elif event.resource == NODES:
            changed = [event.name]
        else:
            changed = self._node_names()
        self._recompute(changed)

    def _network_changed(self, event: WatchEvent) -> bool:
        """Keep the OVN-K nodes and the network support derived from them; True when the
        support changed (a first OVN-K node on plain Kubernetes, say)."""
        if event.resource == NODES:
            info = NodeInfo.from_object(event.object)
            if event.type != "DELETED" and info.ovn_kubernetes:
                self._ovn_nodes[event.name] = info
            elif self._ovn_nodes.pop(event.name, None) is None:
                return False  # neither was nor is an OVN-K node: the support cannot have moved
        before, self._network = self._network, None
        return before is not None and before != self.network()

    def _schedule_deadline(self) -> None:
        """Re-derive every node when the running export's deadline passes (once, on time)."""
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        export = self.export() if self.exports.synced.is_set() else None
        if export is None or export.spec.deadline is None or export.spec.ended(self.clock()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a one-shot listing read synchronously): every read derives afresh
        self._deadline_timer = loop.call_later(export.spec.deadline - self.clock(), self._deadline_passed)

    def _deadline_passed(self) -> None:
        self._deadline_timer = None
        export = self.export()
        if export is None or export.spec.deadline is None:
            return
        if not export.spec.ended(self.clock()):
            self._schedule_deadline()  # the server clock's estimate moved: not yet
            return
        self.version += 1
        for table in self._tables:
            table.touch()
        self._recompute(self._node_names())

    def _node_names(self) -> list[str]:
        return [str((n.get("metadata") or {}).get("name", "")) for n in self.nodes]

    def _recompute(self, names: Iterable[str]) -> None:
        if not self.synced:
            # Until every kind has its first list, derived states would be half-true; the first
            # full pass happens on the first event or read after that.
            return
        export = self.export()
        now = time.monotonic()
        server_now = self.clock()
        if not self._published:
            names = self._node_names()
            self._schedule_deadline()
        for name in names:
            node = self.nodes.get(name)
            if node is None:
                continue  # a Flow whose Node is gone (or not yet seen): no row
            flow = self.flows.get(name)
            report = FlowReport.from_object(flow) if flow else None
            status = node_flow_status(NodeInfo.from_object(node), export, report, now=server_now)
            previous = self._published.get(name)
            if previous == status:
                continue
            self._published[name] = status
            self._count(previous, status)
            for mailbox in self._mailboxes:
                if mailbox.wants(name):
                    mailbox.put(status, now)
            for table in self._tables:
                table.put(status, now)

    def _count(self, previous: NodeFlowStatus | None, status: NodeFlowStatus | None) -> None:
        """Keep the summary counts, and drop the sorted rows (rebuilt on the next read)."""
        self.version += 1
        if previous is not None:
            self._counts[previous.state] -= 1
            self._selected -= previous.selected
        if status is not None:
            self._counts[status.state] += 1
            self._selected += status.selected
        self._ordered = None

    def _forget(self, name: str) -> None:
        """A node is gone: its row goes, and table subscribers are told."""
        previous = self._published.pop(name, None)
        if previous is None:
            return
        self._count(previous, None)
        for table in self._tables:
            table.remove(name)

    def close(self) -> None:
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
        for unlisten in self._unlisten:
            unlisten()
        for mailbox in list(self._mailboxes):
            mailbox.close()
        for table in list(self._tables):
            table.close()
