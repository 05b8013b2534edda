"""Whether a node's flow records really reach its collector: the verdict (Confirmed, Waiting,
NotReceived, Unknown), the rate and the time of the last record, derived from the collector's own
counters for this node's address, the export settings and the time since they took effect.

Pure: the agent feeds a DeliveryTracker the counters it scraped and the time (any clock; tests
use a fake one) and writes the DeliveryReport the tracker hands out. The tracker also decides
when a report is worth writing: a verdict change at once, the rate when it moved by half or more
(at most once a minute), and a refresh of the rate and last record every five minutes — so a
cluster at steady state costs one status write per node per five minutes, not one per scrape.

How long the first record may take (`expected_within`): OVS reports a flow once its active
timeout passes (NetFlow active_timeout, IPFIX cache_active_timeout; sFlow sends its samples
within about a second), and with sampling 1-in-N the node first has to forward a sampled packet:
at a reference 20 packets a second through the bridge, three mean waits (3 N / 20 s) cover about
95 % of nodes. One scrape interval passes before the agent sees a count move, and ten seconds of
slack cover OVS's export cycle and a busy node. Defaults: NetFlow 60 s timeout → 80 s with a 10 s
scrape; IPFIX 60 s and 1-in-400 → 140 s; sFlow 1-in-400 → 81 s. The same bound, counted from the
last record, tells a stream that stopped (NotReceived) from one that is merely bursty."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from gateway.domain.model import (
    DEFAULT_ACTIVE_TIMEOUT_SECONDS,
    DEFAULT_IPFIX_SAMPLING,
    Delivery,
    DeliveryReport,
    FlowExportSpec,
    FlowType,
    format_time,
    parse_time,
)

# OVS's own sFlow default (SFL_DEFAULT_SAMPLING_RATE) when FlowExport names no sampling.
DEFAULT_SFLOW_SAMPLING = 400
REFERENCE_PACKET_RATE = 20.0  # packets a second through the bridge of a node that runs pods
SAMPLING_PATIENCE = 3.0  # mean waits for a first sampled packet: P(sampled) = 1 - e^-3 ≈ 95 %
SFLOW_FLUSH_SECONDS = 1.0  # OVS's sFlow agent sends what it sampled every second
EXPORT_SLACK_SECONDS = 10.0

RATE_WINDOW_EXPORTS = 4  # the rate spans this many export intervals, so bursts average out...
RATE_WINDOW_SCRAPES = 10  # ...and this many scrapes, so a scrape's timing moves it by a tenth at most
RATE_WINDOW_MAX_SECONDS = 600.0
RATE_CHANGE = 1.5  # a rate is rewritten when it grew or shrank by this factor...
RATE_CHANGE_MIN = 0.2  # ...and by at least this many records a second
RATE_WRITE_SPACING_SECONDS = 60.0
REFRESH_SECONDS = 300.0
STALE_SCRAPES = 3  # failed scrapes in a row before the verdict becomes Unknown
MAX_RATE_SAMPLES = 512


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 1 else f"{value:.1f} s"


@dataclass(frozen=True)
class DeliveryConfig:
    """What this node exports and where its collector counts it: a change of any of it starts
    the wait for a first record anew."""

    type: FlowType
    targets: tuple[str, ...]
    source: str | None  # the address the collector sees this node's records come from
    metrics: str | None  # host:port of the collector's Prometheus metrics; None = nothing to read
    active_timeout: int = DEFAULT_ACTIVE_TIMEOUT_SECONDS
    sampling: int = 1

    @staticmethod
    def of(spec: FlowExportSpec, targets: tuple[str, ...], source: str | None, metrics: str | None) -> DeliveryConfig:
        """The settings OVS runs for this spec, with OVN-Kubernetes' and OVS's defaults filled in."""
        assert spec.type is not None
        if spec.type is FlowType.NETFLOW:
            sampling = 1
        elif spec.type is FlowType.IPFIX:
            sampling = spec.sampling or DEFAULT_IPFIX_SAMPLING
        else:
            sampling = spec.sampling or DEFAULT_SFLOW_SAMPLING
        return DeliveryConfig(
            type=spec.type,
            targets=tuple(targets),
            source=source,
            metrics=metrics,
            active_timeout=spec.active_timeout_seconds or DEFAULT_ACTIVE_TIMEOUT_SECONDS,
            sampling=sampling,
        )

    @property
    def export_interval(self) -> float:
        """How often OVS sends what it has for a steady flow."""
        return SFLOW_FLUSH_SECONDS if self.type is FlowType.SFLOW else float(self.active_timeout)

    def expected_within(self, scrape_interval: float) -> float:
        """Seconds after the settings took effect (or after the last record) by which a node with
        traffic has a record counted by its collector; see the module's note."""
        sampling_wait = SAMPLING_PATIENCE * self.sampling / REFERENCE_PACKET_RATE if self.sampling > 1 else 0.0
        return self.export_interval + sampling_wait + scrape_interval + EXPORT_SLACK_SECONDS

    def rate_window(self, scrape_interval: float) -> float:
        """The span the rate is averaged over: four export intervals or ten scrapes, the longer."""
        return min(
            RATE_WINDOW_MAX_SECONDS,
            max(RATE_WINDOW_EXPORTS * self.export_interval, RATE_WINDOW_SCRAPES * scrape_interval),
        )

    def describe_timing(self) -> str:
        if self.type is FlowType.SFLOW:
            timing = "sFlow sends its samples within a second"
        else:
            timing = f"OVS reports a flow after its active timeout of {self.active_timeout} s"
        if self.sampling > 1:
            timing += f" and samples 1 packet in {self.sampling}"
        return timing


@dataclass(frozen=True)
class CollectorCounts:
    """A collector's cumulative counters for one sender and one type, since the collector started."""

    records: float = 0.0  # flow records (NetFlow/IPFIX data records, sFlow flow samples)
    packets: float = 0.0  # export datagrams of any kind (IPFIX templates and sFlow counter samples too)


@dataclass(frozen=True)
class ExporterCounts:
    """OVS's own cumulative counters for the exporter (IPFIX only: `ovs-ofctl dump-ipfix-bridge`)."""

    sampled_packets: float
    sent_records: float  # flows OVS created records for (less those still in its cache)
    sent_packets: float
    send_errors: float


@dataclass(frozen=True)
class DeliveryView:
    """The verdict as of now, with the live rate; what the agent's own metrics show every scrape."""

    state: Delivery
    records_per_second: float | None = None
    last_record_at: float | None = None
    message: str | None = None
    received_records: float | None = None  # the collector's count for this node and type, as last read
    sent_records: float | None = None  # OVS's count of records sent, where OVS has one


def _significant(value: float) -> float:
    """Three significant digits: what a person reads, and no churn from the fourth."""
    if value <= 0:
        return 0.0
    digits = 2 - math.floor(math.log10(value))
    return round(value, max(0, digits))


def _rate_moved(old: float | None, new: float | None) -> bool:
    low, high = sorted((old or 0.0, new or 0.0))
    return high - low >= RATE_CHANGE_MIN and high >= RATE_CHANGE * low


@dataclass
class _Counter:
    """A cumulative counter as read over time: the increase since the first reading, with
    collector restarts (a count that went down) taken as a fresh start from zero."""

    last: float | None = None
    increase: float = 0.0

    def read(self, value: float) -> float:
        """The increase this reading adds."""
        if self.last is None:
            self.last = value
            return 0.0
        added = value - self.last if value >= self.last else value
        self.last = value
        self.increase += added
        return added


@dataclass
class DeliveryTracker:
    """One node's delivery, fed by the agent: `configure` whenever the plan is computed, `observe`
    or `failed` at every scrape, `exporter` when OVS's own counters were read, and `report` for
    what Flow/<node> should say."""

    scrape_interval: float
    config: DeliveryConfig | None = None
    _configured_at: float = 0.0
    _records: _Counter = field(default_factory=_Counter)
    _packets: _Counter = field(default_factory=_Counter)
    _sent: _Counter = field(default_factory=_Counter)
    _sampled: _Counter = field(default_factory=_Counter)
    _exporter_read: bool = False
    # The datagram, OVS-sent and OVS-sampled increases as of the last record: what moved since.
    _mark: tuple[float, float, float] = (0.0, 0.0, 0.0)
    _samples: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=MAX_RATE_SAMPLES))
    _last_record_at: float | None = None
    _quiet_from: float | None = None  # a carried-over Confirmed is given one bound from here
    _key: tuple[FlowType, str | None, str | None] | None = None
    _failures: int = 0
    _failure: str | None = None
    _received: float | None = None
    _sent_total: float | None = None
    _reported: DeliveryReport | None = None
    _reported_at: float = 0.0

    # -- inputs -------------------------------------------------------------------------------

    def configure(self, now: float, config: DeliveryConfig | None, carried: DeliveryReport | None = None) -> bool:
        """Take the current settings; True when they differ from the last ones (the wait starts
        again). `carried` is what Flow/<node> said before this tracker existed (an agent restart):
        a Confirmed for the same settings stays Confirmed unless a bound passes without records."""
        if config == self.config:
            return False
        first = self.config is None and self._reported is None and self._key is None
        key = (config.type, config.metrics, config.source) if config is not None else None
        if key != self._key:
            # Other counters (another type, collector or sender): the next reading is a baseline.
            self._key = key
            self._records, self._packets = _Counter(), _Counter()
        self.config = config
        self._configured_at = now
        self._sent, self._sampled = _Counter(), _Counter()
        self._exporter_read = False
        self._mark = (self._packets.increase, 0.0, 0.0)
        self._samples.clear()
        if self._records.last is not None:
            self._samples.append((now, self._records.increase))
        self._last_record_at = None
        self._quiet_from = None
        self._failures = 0
        self._failure = None
        self._sent_total = None
        self._reported = None
        if first and carried is not None and config is not None and carried.state is Delivery.CONFIRMED:
            self._last_record_at = parse_time(carried.last_record_time) or now
            self._quiet_from = now
            self._reported = carried
            self._reported_at = now
        return True

    def observe(self, now: float, counts: CollectorCounts) -> None:
        """A successful scrape: the collector's counters for this node and type."""
        self._failures = 0
        self._failure = None
        self._received = counts.records
        added = self._records.read(counts.records)
        self._packets.read(counts.packets)
        if added > 0:
            self._last_record_at = now
            self._mark = (self._packets.increase, self._sent.increase, self._sampled.increase)
        self._samples.append((now, self._records.increase))
        window = (self.config or _NO_CONFIG).rate_window(self.scrape_interval)
        # Keep one sample at or before the window's start, so the rate spans the whole window.
        while len(self._samples) > 2 and self._samples[1][0] <= now - window:
            self._samples.popleft()

    def failed(self, now: float, reason: str) -> None:
        """A scrape that got no counters; `reason` says why, as a phrase."""
        self._failures += 1
        self._failure = reason

    def exporter(self, counts: ExporterCounts | None) -> None:
        """OVS's own counters for the exporter, where OVS keeps them (None: it keeps none)."""
        if counts is None:
            return
        self._exporter_read = True
        self._sent.read(counts.sent_records)
        self._sampled.read(counts.sampled_packets)
        self._sent_total = counts.sent_records

    # -- outputs ------------------------------------------------------------------------------

    def rate(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (t0, c0), (t1, c1) = self._samples[0], self._samples[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else None

    def view(self, now: float) -> DeliveryView | None:
        """The verdict now; None when there is no export to judge (stopped, or not running)."""
        config = self.config
        if config is None:
            return None
        if config.metrics is None:
            return DeliveryView(Delivery.UNKNOWN, message=NO_METRICS)
        if self._failure is not None and self._failures >= STALE_SCRAPES:
            return DeliveryView(
                Delivery.UNKNOWN,
                message=f"Cannot read the collector's counters at http://{config.metrics}/metrics ({self._failure}); "
                "delivery is unknown until they can be read.",
                received_records=self._received,
                sent_records=self._sent_total,
            )
        bound = config.expected_within(self.scrape_interval)
        rate = self.rate()
        common: dict[str, Any] = {
            "records_per_second": rate,
            "last_record_at": self._last_record_at,
            "received_records": self._received,
            "sent_records": self._sent_total,
        }
        if self._last_record_at is not None:
            quiet_since = max(self._last_record_at, self._quiet_from or self._last_record_at)
            if now - quiet_since <= bound:
                return DeliveryView(Delivery.CONFIRMED, **common)
            return DeliveryView(Delivery.NOT_RECEIVED, message=self._stalled(config, bound), **common)
        if now - self._configured_at <= bound:
            return DeliveryView(
                Delivery.WAITING,
                message=f"No records yet: {config.describe_timing()}, so the first is expected within "
                f"{_seconds(bound)}, by {format_time(self._configured_at + bound)}.",
                **common,
            )
        return DeliveryView(Delivery.NOT_RECEIVED, message=self._never(config, bound), **common)

    def report(self, now: float) -> DeliveryReport | None:
        """What Flow/<node>.status.delivery should say: the last report unless the verdict or
        its sentence changed, the rate moved by half or more (at most once a minute), or five
        minutes passed with a newer rate or last record to tell."""
        view = self.view(now)
        if view is None:
            self._reported = None
            return None
        rate = None if view.records_per_second is None else _significant(view.records_per_second)
        last = format_time(view.last_record_at) if view.last_record_at is not None else None
        previous = self._reported
        if previous is None or previous.state is not view.state or previous.message != view.message:
            transition = (
                previous.last_transition_time
                if previous is not None and previous.state is view.state
                else format_time(now)
            )
            self._adopt(now, DeliveryReport(view.state, rate, last, transition, view.message))
        elif (
            _rate_moved(previous.records_per_second, rate) and now - self._reported_at >= RATE_WRITE_SPACING_SECONDS
        ) or (
            now - self._reported_at >= REFRESH_SECONDS
            and (previous.records_per_second, previous.last_record_time) != (rate, last)
        ):
            self._adopt(now, replace(previous, records_per_second=rate, last_record_time=last))
        return self._reported

    def _adopt(self, now: float, report: DeliveryReport) -> None:
        self._reported = report
        self._reported_at = now

    # -- sentences ----------------------------------------------------------------------------

    def _where(self, config: DeliveryConfig) -> str:
        source = f" from {config.source}" if config.source else ""
        return f"{config.type.value} records{source}"

    def _causes(self, config: DeliveryConfig) -> str:
        """The likely causes, narrowed by what else moved since the last record (or since the
        settings, when there was none): the collector's datagram count and OVS's own counters."""
        packets, sent, sampled = (
            self._packets.increase - self._mark[0],
            self._sent.increase - self._mark[1],
            self._sampled.increase - self._mark[2],
        )
        targets = ",".join(config.targets)
        if self._exporter_read and sent > 0:
            if packets > 0:
                return (
                    "OVS reports records sent and the collector gets this node's IPFIX messages, but decodes no "
                    "data records from them: it lacks the templates (OVS re-sends them only every 10 minutes, so a "
                    "collector restarted after export started waits that long)."
                )
            return (
                f"OVS reports records sent, so they are lost between this node and {targets}: look for a firewall "
                "or network policy dropping UDP to that port, or a collector not listening there."
            )
        if self._exporter_read and sampled == 0:
            return (
                "OVS has sampled no packets since then: there may be no pod traffic on this node, "
                f"or sampling 1 in {config.sampling} is too sparse for it."
            )
        if packets > 0 and config.type is FlowType.SFLOW:
            return (
                "The collector gets this node's sFlow counter samples, so the path works, but no flow samples: "
                f"there may be no pod traffic on this node, or sampling 1 in {config.sampling} is too sparse for it."
            )
        if packets > 0 and config.type is FlowType.IPFIX:
            return (
                "The collector gets this node's IPFIX messages but decodes no data records from them: there may "
                "be no pod traffic to report, or the collector lacks the templates (OVS re-sends them only every "
                "10 minutes)."
            )
        return (
            f"Likely causes: a firewall or network policy dropping UDP from this node to {targets}, a collector not "
            f"listening for {config.type.value} on that port, or no pod traffic through OVS on this node."
        )

    def _never(self, config: DeliveryConfig, bound: float) -> str:
        return (
            f"The collector has counted no {self._where(config)} since export was set at "
            f"{format_time(self._configured_at)} (expected within {_seconds(bound)}). {self._causes(config)}"
        )

    def _stalled(self, config: DeliveryConfig, bound: float) -> str:
        assert self._last_record_at is not None
        return (
            f"The collector has counted no {self._where(config)} since {format_time(self._last_record_at)} "
            f"(expected at least every {_seconds(bound)}). {self._causes(config)}"
        )


_NO_CONFIG = DeliveryConfig(FlowType.SFLOW, (), None, None)

NO_METRICS = (
    "flowgate cannot tell whether the collector receives this node's records: it publishes no metrics endpoint. "
    "Name its Service's metrics port `metrics`, or set collector.metricsPort (collector.metricsTarget for "
    "static targets)."
)
