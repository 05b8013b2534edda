"""The reconcile loop: one node, one bridge. Desired state comes from informers (gateway/watch/):
FlowExport/cluster and this Node, and unless export goes to static targets, the Services that can
be its collector and their EndpointSlices, filtered by the API server (at most four watches,
whatever the cluster's size). OpenShift's operator Network, which may hand br-int to the Cluster
Network Operator, is read at every resync and, where it exists, before any change to the bridge.
Every relevant change, every change OVS reports on the bridge and every resync runs one reconcile.
Nothing here ever exits on an error: it reports, backs off and tries again.

Beside it, the deadline guard stops export at a time-boxed start's deadline from the FlowExport
the agent already holds, on the API server's clock as its answers tell it, whatever the reconcile
loop is waiting for: with the API server frozen a report write can take its whole timeout, and
export must not run on meanwhile. The report of the end, and the one Event recording it, follow
when the API server answers again.

Beside them, the delivery loop reads the collector's counters (and OVS's own, for IPFIX) every
scrape interval and feeds them to the domain's DeliveryTracker; when the report the tracker hands
out changes, it wakes the reconcile loop, which stays the one writer of Flow/<node>. The traffic
loop likewise reads br-int's interface counters every traffic interval, whatever the export, and
feeds the domain's TrafficMeter: the packet rate a projection of export's cost starts from."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from gateway.agent.collector import CollectorMetrics, ScrapeError
from gateway.agent.ovs import ExportSettings, OvsBridge, OvsError, describe_observed, matches
from gateway.agent.reconcile import (
    OvsAction,
    export_on_since,
    next_report,
    ovs_action,
    ovs_failure,
    plan,
    status_patch,
)
from gateway.domain.audit import NODE_ERROR_ACTION, NODE_ERROR_REASON, expiry_event_name, expiry_record
from gateway.domain.delivery import DeliveryConfig, DeliveryTracker, DeliveryView
from gateway.domain.discovery import endpoint_slice_scope, service_scope
from gateway.domain.model import (
    API_VERSION,
    FLOW_EXPORT_KIND,
    FLOW_EXPORT_NAME,
    FLOW_KIND,
    OPERATOR,
    CollectorTarget,
    Delivery,
    DeliveryReport,
    FlowExport,
    FlowReport,
    FlowType,
    NodeFlowState,
    NodeInfo,
    OperatorExport,
    TrafficReport,
    format_time,
)
from gateway.domain.network import operator_export
from gateway.domain.traffic import TrafficMeter
from gateway.kube.api import NODE_NAME_EXTRA, ApiError, ApiUnreachable, KubeApi
from gateway.kube.events import EventRecorder, Occurrence, SeriesRecorder, object_reference
from gateway.kube.resources import ENDPOINT_SLICES, FLOW_EXPORTS, FLOWS, NODES, OPERATOR_NETWORKS, SERVICES
from gateway.retry import Backoff
from gateway.watch.informer import Informer, InformerSet
from gateway.watch.scoped import ScopedInformer
from gateway.watch.store import WatchEvent

log = logging.getLogger("flowgate.agent")

# Several watch events usually arrive together (a Service and its EndpointSlice); waiting this
# long after the first folds them into one reconcile.
COALESCE_SECONDS = 0.05
REPEAT_LOG_SECONDS = 60.0
AGENT_REPORTER = "flowgate.dev/agent"  # the reportingController of the agent's Events


class _Complaint:
    """One kind of failure, logged when it starts or changes and then once a minute, not at
    every retry; its end is logged too."""

    def __init__(self) -> None:
        self.text: str | None = None
        self.at = 0.0
        self.repeats = 0

    def log(self, level: int, text: str) -> None:
        now = time.monotonic()
        if text != self.text or now - self.at >= REPEAT_LOG_SECONDS:
            suffix = f" (failed {self.repeats + 1} times so far)" if text == self.text else ""
            log.log(level, "%s%s", text, suffix)
            self.at = now
        self.repeats = self.repeats + 1 if text == self.text else 0
        self.text = text

    def resolved(self, sentence: str) -> None:
        if self.text is not None:
            log.info("%s", sentence)
        self.text = None
        self.repeats = 0


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class NodeAgent:
    """Keeps one node's OVS bridge and Flow/<node> in line with FlowExport/cluster."""

    def __init__(
        self,
        api: KubeApi,
        node: str,
        bridge: OvsBridge,
        *,
        sflow_agent: str,
        resync: float = 30.0,
        backoff: Backoff | None = None,
        scrape_interval: float = 10.0,
        collector: CollectorMetrics | None = None,
        watch_filtering: bool = True,
        traffic_interval: float = 10.0,
    ) -> None:
        self.api = api
        self.node = node
        self.bridge = bridge
        self.sflow_agent = sflow_agent
        self.resync = resync
        self.backoff = backoff or Backoff(maximum=max(resync, 5.0))
        self.exports = Informer.on_api(api, FLOW_EXPORTS, name=FLOW_EXPORT_NAME)
        self.nodes = Informer.on_api(api, NODES, name=node)
        self.informers = InformerSet([self.exports, self.nodes])
        self._wake = asyncio.Event()
        self._export_changed = asyncio.Event()  # what the deadline guard sleeps on
        # Every change to the bridge holds this (never across a call to the API server): the
        # deadline guard must be able to clear the bridge while a reconcile waits for the API.
        self._ovs_lock = asyncio.Lock()
        self._ended: tuple[int, float] | None = None  # (generation, deadline) the guard has enforced
        self._expiry_due: FlowExport | None = None  # its Event still to be recorded
        # Only what can be the collector FlowExport names (the default one when there is none), and
        # nothing for static targets.
        # watch_filtering=False watches every Service and EndpointSlice of the cluster instead:
        # the naive baseline the benchmark measures the filtering against.
        self.watch_filtering = watch_filtering
        self.services = ScopedInformer(
            str(SERVICES),
            lambda labels, fields: Informer.on_api(api, SERVICES, label_selector=labels, field_selector=fields),
            on_synced=self._wake.set,
        )
        self.slices = ScopedInformer(
            str(ENDPOINT_SLICES),
            lambda labels, fields: Informer.on_api(api, ENDPOINT_SLICES, label_selector=labels, field_selector=fields),
            on_synced=self._wake.set,
        )
        # OpenShift only: whether the Cluster Network Operator manages flow export (then OVS is
        # not ours). Read, not watched: it changes about never, and it is read afresh before any
        # change to the bridge, so the agent never writes over the operator's setting.
        self._operator: OperatorExport | None = None
        self._operator_read_at: float | None = None
        self._operator_network_exists = False  # OpenShift: read afresh before every change to br-int
        # What this agent last put on the bridge (None = cleared); tells a new wish from drift.
        self._applied: ExportSettings | None = None
        self._applied_once = False
        # What Flow/<node> says, as far as this agent knows (None = no object). The agent only
        # needs get/create/patch on Flows, no watch: it reads its Flow back at start and at every
        # resync, which also notices a Flow deleted or edited by someone else.
        self._reported: FlowReport | None = None
        self._flow_exists = False
        self._flow_read_at: float | None = None  # monotonic time of the last read-back
        self._flow_ref: dict[str, Any] | None = None  # Flow/<node> as an Event's `regarding`
        self._missing_node_logged = False
        self._hands_off = False  # the Cluster Network Operator manages br-int's exporters
        self._ovs_trouble = _Complaint()
        self._api_trouble = _Complaint()
        self._operator_trouble = _Complaint()
        # A Warning Event whenever the node turns to Error; a flapping node makes one Event
        # with a count, not one per flap.
        self.events = SeriesRecorder(EventRecorder(api, AGENT_REPORTER, instance=node))
        self._scrape_trouble = _Complaint()
        self._stats_trouble = _Complaint()
        # Delivery: the tracker is fed by the delivery loop; the reconcile loop writes its report.
        self.scrape_interval = scrape_interval
        self.collector = collector or CollectorMetrics(timeout=max(1.0, min(5.0, scrape_interval)))
        self.tracker = DeliveryTracker(scrape_interval=scrape_interval)
        self._scrape_now = asyncio.Event()
        self._delivery: DeliveryReport | None = None  # the tracker's report as the reconcile loop last took it
        self.delivery_view: DeliveryView | None = None  # as of the last scrape, for /metrics
        # Traffic: the meter is fed by the traffic loop; the reconcile loop writes its report.
        self.traffic_interval = traffic_interval
        self.meter = TrafficMeter()
        self._traffic: TrafficReport | None = None  # the meter's report as the reconcile loop last took it
        self._traffic_trouble = _Complaint()
        self._written_at: float | None = None  # when Flow/<node>'s status was last written (time.time())
        # What happened, for /metrics.
        self.reconciles = 0
        self.repairs = 0
        self.ovs_errors = 0
        self.status_writes = 0
        self.scrapes = 0
        self.scrape_failures = 0
        self.received_records: dict[FlowType, float] = {}
        self.ovs_sent_records: float | None = None
        self.ovs_seen: tuple[ExportSettings, ...] | None = None  # the bridge's exporters at the last read
        self.ovs_seen_at: float | None = None
        self.export_since: float | None = None  # Unix time FlowExport has had this node export since (None: off)

    @property
    def watch_count(self) -> int:
        return self.informers.watch_count + self.services.watching + self.slices.watching

    def cached_objects(self) -> dict[str, int]:
        return {
            "flowexports": len(self.exports),
            "nodes": len(self.nodes),
            "services": len(self.services),
            "endpointslices": len(self.slices),
        }

    @property
    def reported(self) -> FlowReport | None:
        """What Flow/<node> says, as far as this agent knows."""
        return self._reported

    @property
    def _ovs_ok(self) -> str:
        return f"OVS bridge {self.bridge.bridge} at {self.bridge.db} is working again."

    # -- events ------------------------------------------------------------------------------

    def _on_change(self, event: WatchEvent) -> None:
        self._wake.set()

    def _on_export_change(self, event: WatchEvent) -> None:
        self._wake.set()
        self._export_changed.set()

    def _on_node_change(self, event: WatchEvent) -> None:
        # Status heartbeats change nothing the agent uses; its address and uid do.
        old = NodeInfo.from_object(event.old) if event.old else None
        if event.type == "DELETED" or old != NodeInfo.from_object(event.object):
            self._wake.set()

    # -- the loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Reconcile until cancelled."""
        self.exports.add_listener(self._on_export_change)
        self.nodes.add_listener(self._on_node_change)
        self.services.add_listener(self._on_change)
        self.slices.add_listener(self._on_change)
        self.informers.start()
        monitor = asyncio.create_task(self.bridge.monitor(self._wake.set), name="ovs monitor")
        deliveries = asyncio.create_task(self._deliveries(), name="delivery")
        traffic = asyncio.create_task(self._measure_traffic(), name="traffic")
        deadlines = asyncio.create_task(self._deadlines(), name="deadline guard")
        try:
            await self._wait_synced()
            await self._introduce()
            log.info(
                "watching FlowExport/%s, Node/%s and, when discovering the collector, its Services; "
                "driving OVS bridge %s at %s",
                FLOW_EXPORT_NAME,
                self.node,
                self.bridge.bridge,
                self.bridge.db,
            )
            while True:
                self._wake.clear()
                ok = await self.reconcile()
                await self.events.flush()
                if ok:
                    self.backoff.reset()
                    delay = self.resync
                else:
                    delay = min(self.backoff.next(), self.resync)
                try:
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                    await asyncio.sleep(COALESCE_SECONDS)
                except TimeoutError:
                    pass
        finally:
            monitor.cancel()
            deliveries.cancel()
            traffic.cancel()
            deadlines.cancel()
            await asyncio.gather(monitor, deliveries, traffic, deadlines, return_exceptions=True)
            await self.collector.close()
            await asyncio.gather(self.informers.stop(), self.services.stop(), self.slices.stop())

    async def _introduce(self) -> None:
        """Say who this agent acts as, as the API server sees it, and warn when its credentials
        belong to another node's pod (the admission policy would refuse every report)."""
        try:
            me = await self.api.whoami()
        except (ApiError, ApiUnreachable):
            return  # whatever fails next says why
        bound = ((me.get("extra") or {}).get(NODE_NAME_EXTRA) or [None])[0]
        if bound is not None and bound != self.node:
            log.error(
                "these credentials belong to a pod on node %s, but this agent was told it runs on %s (--node); "
                "the API server will refuse its reports on Flow/%s. Run it with its own pod's token.",
                bound,
                self.node,
                self.node,
            )
            return
        where = f", a pod on node {bound}" if bound else ""
        log.info("acting as %s%s", me.get("username") or "an unnamed user", where)

    async def _wait_synced(self) -> None:
        while True:
            try:
                await self.informers.wait_synced(timeout=30)
                return
            except TimeoutError:
                log.warning(
                    "still waiting to list %s from the API server; OVS is left as it is until then",
                    ", ".join(self.informers.waiting()),
                )

    async def reconcile(self) -> bool:
        """One pass. Returns False when something failed and should be retried soon."""
        self.reconciles += 1
        node_obj = self.nodes.get(self.node)
        if node_obj is None:
            if not self._missing_node_logged:
                log.warning(
                    "Node %s does not exist in the cluster; check --node. OVS is left as it is until it appears.",
                    self.node,
                )
                self._missing_node_logged = True
            return True
        self._missing_node_logged = False
        node = NodeInfo.from_object(node_obj)
        try:
            export = FlowExport.from_object(self.exports.get(FLOW_EXPORT_NAME))
        except ValueError as exc:
            log.error("FlowExport/%s cannot be read (%s); OVS is left as it is", FLOW_EXPORT_NAME, exc)
            return True
        operator = await self._operator_export(fresh=False)
        if not self._watch_collector(export):
            return True  # woken again once the lists are in
        now = self.api.server_time()
        wanted = plan(export, node, self.services.items(), self.slices.items(), self.sflow_agent, operator, now=now)
        if wanted.hands_off:
            if not self._hands_off:
                assert operator is not None
                log.warning("%s OVS bridge %s is left alone until then.", operator.reason, self.bridge.bridge)
                self._hands_off = True
                # Whatever this agent put on the bridge is no longer known to be there: when the
                # operator lets go, flowgate's setting is applied afresh, not "repaired".
                self._applied, self._applied_once = None, False
            report, ovs_ok = wanted.report, True
        else:
            if self._hands_off:
                log.info(
                    "the %s no longer manages flow export; flowgate drives OVS bridge %s again",
                    OPERATOR,
                    self.bridge.bridge,
                )
                self._hands_off = False
            driven = await self._drive_ovs(wanted.settings, wanted.report)
            if driven is None:
                self._wake.set()  # the operator took br-int over, or the deadline came: plan again
                return True
            report, ovs_ok = driven
        flow_read = await self._read_flow()  # first: a restarted agent carries its Flow's verdict over
        self._follow_delivery(report, wanted.delivery)
        self.export_since = export_on_since(self.export_since, wanted.report, self._reported, time.time())
        if not flow_read:
            return False
        before = self._reported
        observed = replace(report, delivery=self._delivery, traffic=self._take_traffic(writing=False))
        if not observed.same_observation(before):
            # A write happens anyway: it carries the latest packet rate at no extra cost.
            observed = replace(observed, traffic=self._take_traffic(writing=True))
        written = await self._write(observed)
        if written and export is not None and export.spec.ended(now) and not _same_end(before, observed):
            self._expiry_due = export  # this node's report of the end is in: record the Event too
        if self._expiry_due is not None:
            await self._record_expiry(self._expiry_due)
        return ovs_ok and written

    def _take_traffic(self, *, writing: bool) -> TrafficReport | None:
        self._traffic = self.meter.report(time.time(), self._written_at, writing=writing)
        return self._traffic

    def _follow_delivery(self, report: FlowReport, config: DeliveryConfig | None) -> None:
        """Point the tracker at what OVS now exports (nothing unless emitting) and take its report."""
        emitting = report.state is NodeFlowState.EMITTING
        previous = self._reported
        carried = (
            previous.delivery
            if previous is not None and (previous.type, previous.endpoint) == (report.type, report.endpoint)
            else None
        )
        if self.tracker.configure(time.time(), config if emitting else None, carried):
            self._scrape_now.set()  # a baseline at once, so the first records are counted
        delivery = self.tracker.report(time.time())
        self._log_delivery(delivery)
        self._delivery = delivery

    def _watch_collector(self, export: FlowExport | None) -> bool:
        """Point the Service and EndpointSlice watches at what can be the collector (nothing for
        static targets); False while their lists are still on the way. While export is off they
        follow the collector it names (or the default one), so that a start finds them listed."""
        collector = export.spec.collector if export is not None else CollectorTarget.default()
        if not self.watch_filtering:
            self.services.scope(None, None)
            self.slices.scope(None, None)
            return self.services.synced and self.slices.synced
        services = service_scope(collector)
        if services is None:
            self.services.unscope()
        else:
            self.services.scope(services.label_selector, services.field_selector)
        if not self.services.synced:
            return False
        slices = endpoint_slice_scope(collector, self.services.items())
        if slices is None:
            self.slices.unscope()
        else:
            self.slices.scope(slices.label_selector, slices.field_selector)
        return self.slices.synced

    async def _operator_export(self, fresh: bool) -> OperatorExport | None:
        """networks.operator.openshift.io/cluster's flow export, read when the last read is older
        than a resync (or `fresh`); None on a cluster without it. A failed read keeps what was known."""
        now = time.monotonic()
        if not fresh and self._operator_read_at is not None and now - self._operator_read_at < self.resync:
            return self._operator
        try:
            network = await self.api.get_or_none(OPERATOR_NETWORKS, "cluster")
            self._operator_network_exists = network is not None
        except (ApiError, ApiUnreachable) as exc:
            self._operator_trouble.log(
                logging.WARNING, f"could not read the {OPERATOR}'s Network ({exc}); retrying at the next resync."
            )
            return self._operator
        self._operator_trouble.resolved(f"the {OPERATOR}'s Network can be read again.")
        self._operator, self._operator_read_at = operator_export(network), now
        return self._operator

    async def _drive_ovs(self, desired: ExportSettings | None, wanted: FlowReport) -> tuple[FlowReport, bool] | None:
        """Bring the bridge to `desired`; None when the Cluster Network Operator turned out to
        own it (nothing was changed)."""
        try:
            async with self._ovs_lock:
                observed = self._saw(await self.bridge.read())
                if desired is not None:
                    await self.bridge.check_vswitchd()  # the database alone does not export
                action = ovs_action(desired, observed, self._applied, self._applied_once)
                if action is OvsAction.NONE:
                    self._ovs_trouble.resolved(self._ovs_ok)
                    self._applied, self._applied_once = desired, True
                    return wanted, True
            if self._operator_network_exists and await self._operator_export(fresh=True) is not None:
                return None
            async with self._ovs_lock:
                if desired is not None and self._deadline_passed():
                    return None  # the deadline came while the operator's Network was read
                await self.bridge.apply(desired)
                after = self._saw(await self.bridge.read())
        except OvsError as exc:
            self.ovs_errors += 1
            self._ovs_trouble.log(logging.ERROR, f"{exc} Retrying with backoff.")
            return ovs_failure(wanted, str(exc)), False
        self._ovs_trouble.resolved(self._ovs_ok)
        self._applied, self._applied_once = desired, True
        target = f"{desired.describe()}" if desired else "no flow export"
        if action is OvsAction.REPAIR:
            self.repairs += 1
            log.warning(
                "OVS bridge %s had %s, changed outside flowgate; restored %s",
                self.bridge.bridge,
                describe_observed(observed),
                target,
            )
        elif desired is None:
            log.info("cleared flow export on OVS bridge %s (%s)", self.bridge.bridge, _why(wanted))
        else:
            log.info("OVS bridge %s now exports %s", self.bridge.bridge, target)
        if ovs_action(desired, after, desired, True) is not OvsAction.NONE:
            message = (
                f"OVS bridge {self.bridge.bridge} holds {describe_observed(after)} after flowgate set {target}; "
                "something else is changing it."
            )
            self._ovs_trouble.log(logging.ERROR, f"{message} Retrying with backoff.")
            return ovs_failure(wanted, message), False
        return wanted, True

    def _saw(self, observed: Sequence[ExportSettings]) -> Sequence[ExportSettings]:
        """Keep what the bridge held at the last read, for /metrics (and so for must-gather)."""
        self.ovs_seen, self.ovs_seen_at = tuple(observed), time.time()
        return observed

    # -- the deadline --------------------------------------------------------------------------

    def _held_export(self) -> FlowExport | None:
        try:
            return FlowExport.from_object(self.exports.get(FLOW_EXPORT_NAME))
        except ValueError:
            return None  # the reconcile loop says why

    @property
    def export_deadline(self) -> float | None:
        """When export on this node stops by itself (Unix time on the API server's clock): the held
        FlowExport's deadline while it has this node export; None while it runs until stopped."""
        export = self._held_export()
        if self.export_since is None or export is None or not export.spec.enabled:
            return None
        return export.spec.deadline

    def _deadline_passed(self) -> bool:
        export = self._held_export()
        return export is not None and export.spec.ended(self.api.server_time())

    async def _deadlines(self) -> None:
        """Sleep until the held FlowExport's deadline (again whenever it changes), then stop export."""
        while True:
            self._export_changed.clear()
            export = self._held_export()
            wait: float | None = None
            if export is not None and export.spec.enabled and export.spec.deadline is not None:
                remaining = export.spec.deadline - self.api.server_time()
                if remaining > 0:
                    wait = remaining
                else:
                    await self._end_export(export)
            try:
                async with asyncio.timeout(wait):
                    await self._export_changed.wait()
            except TimeoutError:
                pass

    async def _end_export(self, export: FlowExport) -> None:
        """Clear what this agent put on the bridge for `export`, which just reached its deadline;
        no call to the API server on the way. The reconcile loop then writes the report."""
        assert export.spec.deadline is not None
        key = (export.generation, export.spec.deadline)
        if self._ended == key:
            return
        async with self._ovs_lock:
            applied = self._applied
            if applied is not None and not self._hands_off:
                try:
                    # Only what this agent itself put there: anything else is the reconcile loop's to judge.
                    if matches(self._saw(await self.bridge.read()), applied):
                        await self.bridge.apply(None)
                        self._applied, self._applied_once = None, True
                        log.info(
                            "flow export reached its deadline %s; cleared OVS bridge %s",
                            format_time(export.spec.deadline),
                            self.bridge.bridge,
                        )
                except OvsError as exc:
                    self.ovs_errors += 1
                    self._ovs_trouble.log(logging.ERROR, f"{exc} Retrying with backoff.")
        self._ended = key
        self._wake.set()

    async def _record_expiry(self, export: FlowExport) -> None:
        """The one Event of the export's end: a fixed name, so the first agent's create stands and
        every other one's is refused (409)."""
        assert export.spec.deadline is not None
        record = expiry_record(export.spec, export.generation)
        uid = ((self.exports.get(FLOW_EXPORT_NAME) or {}).get("metadata") or {}).get("uid")
        regarding = {"apiVersion": API_VERSION, "kind": FLOW_EXPORT_KIND, "name": FLOW_EXPORT_NAME}
        if uid:
            regarding["uid"] = uid  # `kubectl describe flowexport cluster` matches on it
        occurrence = Occurrence(
            regarding=regarding,
            type="Normal",
            reason=record.reason,
            action=record.action,
            note=record.note,
            annotations=record.annotations,
            name=expiry_event_name(export.generation, export.spec.deadline),
        )
        if await self.events.recorder.record_once(occurrence):
            self._expiry_due = None

    async def _read_flow(self) -> bool:
        """Read Flow/<node> back when the last read is older than a resync."""
        now = time.monotonic()
        if self._flow_read_at is not None and now - self._flow_read_at < self.resync:
            return True
        try:
            current = await self.api.get_or_none(FLOWS, self.node)
        except (ApiError, ApiUnreachable) as exc:
            self._api_trouble.log(
                logging.WARNING,
                f"could not read or write Flow/{self.node} ({exc}); OVS keeps its settings and the report is retried.",
            )
            self._flow_read_at = None
            return False
        self._flow_exists = current is not None
        self._reported = FlowReport.from_object(current) if current else None
        # A restarted agent keeps the rate its Flow says until its own measurements differ enough.
        self.meter.carry(self._reported.traffic if self._reported else None, time.time())
        self._flow_ref = object_reference(current) if current else None
        self._flow_read_at = now
        return True

    async def _write(self, report: FlowReport) -> bool:
        try:
            update = next_report(self._reported, report, _now())
            if update is None:
                self._api_trouble.resolved(f"Flow/{self.node} can be read and written again.")
                return True
            if not self._flow_exists and not await self._create_flow():
                return True  # the Node is gone: no report until it is back (its watch wakes this loop)
            try:
                await self._patch_status(update)
            except ApiError as exc:
                if not exc.not_found:
                    raise
                self._flow_exists = False
                if not await self._create_flow():
                    return True
                await self._patch_status(update)
        except (ApiError, ApiUnreachable) as exc:
            # OVS keeps what was applied; only the report waits for the API server.
            self._api_trouble.log(
                logging.WARNING,
                f"could not read or write Flow/{self.node} ({exc}); OVS keeps its settings and the report is retried.",
            )
            self._flow_read_at = None  # what the API holds is unknown now
            return False
        self._api_trouble.resolved(f"Flow/{self.node} can be read and written again.")
        previous = self._reported
        self._reported = update
        if previous is None or previous.state is not update.state:
            log.info("Flow/%s is now %s%s", self.node, update.state.value, _detail(update))
        if update.state is NodeFlowState.ERROR and (
            previous is None or previous.state is not NodeFlowState.ERROR or previous.message != update.message
        ):
            await self._warn(update)
        return True

    async def _warn(self, report: FlowReport) -> None:
        """The Warning Event of a node turning to Error (or to another error), on its Flow."""
        regarding = self._flow_ref or {"apiVersion": API_VERSION, "kind": FLOW_KIND, "name": self.node}
        regarding = {k: v for k, v in regarding.items() if k != "resourceVersion"}  # one series across writes
        await self.events.record(
            Occurrence(
                regarding=regarding,
                type="Warning",
                reason=NODE_ERROR_REASON,
                action=NODE_ERROR_ACTION,
                note=report.message or "flow export failed on this node",
            )
        )

    async def _patch_status(self, report: FlowReport) -> None:
        written = await self.api.merge_patch(FLOWS, self.node, status_patch(report), subresource="status")
        self.status_writes += 1
        self._written_at = time.time()
        if written:
            self._flow_ref = object_reference(written)

    # -- traffic -----------------------------------------------------------------------------

    async def _measure_traffic(self) -> None:
        """Read br-int's interface counters every traffic interval, export or not, and wake the
        reconcile loop when the packet rate to report changes."""
        loop = asyncio.get_running_loop()
        while True:
            next_at = loop.time() + self.traffic_interval
            try:
                received = await self.bridge.received_packets()
            except OvsError as exc:
                self.meter.failed()
                self._traffic_trouble.log(
                    logging.WARNING,
                    f"cannot read br-int's packet counters ({exc}); retrying every {self.traffic_interval:g}s.",
                )
            else:
                self._traffic_trouble.resolved("br-int's packet counters can be read again.")
                self.meter.observe(time.time(), received)
            if self.meter.report(time.time(), self._written_at) != self._traffic:
                self._wake.set()
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    # -- delivery ----------------------------------------------------------------------------

    async def _deliveries(self) -> None:
        """Read the collector's counters every scrape interval (at once after new settings) and
        wake the reconcile loop when the delivery report changes."""
        loop = asyncio.get_running_loop()
        while True:
            self._scrape_now.clear()
            next_at = loop.time() + self.scrape_interval  # a steady cadence, however long a scrape takes
            config = self.tracker.config
            if config is not None and config.metrics is not None:
                await self._scrape(config)
            now = time.time()
            self.delivery_view = self.tracker.view(now)
            if self.tracker.report(now) != self._delivery:
                self._wake.set()
            try:
                async with asyncio.timeout_at(next_at):
                    await self._scrape_now.wait()
            except TimeoutError:
                pass

    async def _scrape(self, config: DeliveryConfig) -> None:
        assert config.metrics is not None
        if config.type is FlowType.IPFIX:
            try:
                counts = await self.bridge.ipfix_stats()
                self._stats_trouble.resolved("OVS's IPFIX counters can be read again.")
                if self.tracker.config is not config:
                    return  # the settings changed meanwhile: this reading belongs to the old ones
                self.tracker.exporter(counts)
                self.ovs_sent_records = counts.sent_records if counts else None
            except OvsError as exc:
                self._stats_trouble.log(logging.WARNING, f"{exc} Delivery is judged from the collector alone.")
        else:
            self.ovs_sent_records = None
        self.scrapes += 1
        try:
            counts_by_type = await self.collector.counts(config.metrics, config.source or "")
        except ScrapeError as exc:
            self.scrape_failures += 1
            if self.tracker.config is config:
                self.tracker.failed(time.time(), str(exc))
            self._scrape_trouble.log(
                logging.WARNING,
                f"cannot read the collector's counters at http://{config.metrics}/metrics ({exc}); retrying every "
                f"{self.scrape_interval:g}s.",
            )
            return
        self._scrape_trouble.resolved(f"the collector's counters at http://{config.metrics}/metrics can be read again.")
        self.received_records = {t: c.records for t, c in counts_by_type.items()}
        if self.tracker.config is config:  # else the settings changed during the scrape: a stale reading
            self.tracker.observe(time.time(), counts_by_type[config.type])

    def _log_delivery(self, report: DeliveryReport | None) -> None:
        previous = self._delivery
        if report is None or (previous is not None and previous.state is report.state):
            return
        if report.state is Delivery.NOT_RECEIVED:
            log.warning("flow records are not reaching the collector: %s", report.message)
        elif report.state is Delivery.CONFIRMED:
            rate = f" ({report.records_per_second:g} records/s)" if report.records_per_second is not None else ""
            log.info("the collector receives this node's flow records%s", rate)
        elif report.state is Delivery.WAITING:
            log.info("%s", report.message)
        else:
            log.info("whether the collector receives this node's records is unknown: %s", report.message)

    async def _create_flow(self) -> bool:
        """Create Flow/<node>, owned by the Node, so the report goes when the node does; False
        when the Node is gone. Its owner is read afresh, not from the Node watch: a loaded agent's
        watch can still hold a Node deleted and added again, and a Flow owned by the deleted one
        is garbage-collected soon after it is written (seen under load: the re-added node's report
        vanished after it had shown Emitting)."""
        current = await self.api.get_or_none(NODES, self.node)
        if current is None:
            log.info("Node %s is gone; Flow/%s is written again once the Node is back", self.node, self.node)
            return False
        node = NodeInfo.from_object(current)
        body: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": FLOW_KIND,
            "metadata": {"name": self.node},
            "spec": {"nodeName": self.node},
        }
        if node.uid:
            body["metadata"]["ownerReferences"] = [
                {"apiVersion": "v1", "kind": "Node", "name": node.name, "uid": node.uid}
            ]
        try:
            self._flow_ref = object_reference(await self.api.create(FLOWS, body))
        except ApiError as exc:
            if not exc.conflict:
                raise
        self._flow_exists = True
        return True


def _same_end(before: FlowReport | None, after: FlowReport) -> bool:
    """The Flow already said this (the end, at this generation) before the write: no new end."""
    return before is not None and (before.state, before.message, before.observed_generation) == (
        after.state,
        after.message,
        after.observed_generation,
    )


def _why(report: FlowReport) -> str:
    return report.message or "flow export is stopped"


def _detail(report: FlowReport) -> str:
    if report.endpoint:
        return f": {report.type.value if report.type else ''} to {report.endpoint}"
    if report.message:
        return f": {report.message}"
    return ""
