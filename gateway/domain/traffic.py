"""How many packets a second enter a node's OVS bridge br-int: the rate flow export's cost
follows, measured all the time (also while export is off) so that the cost of a start can be
projected from each node's own traffic before anything is switched.

The counter: the sum of `rx pkts` over br-int's own ports (`ovs-ofctl dump-ports br-int`: every
pod port, the management port, the bridge's internal port and the patch port from the external
bridge), i.e. every packet that enters br-int, counted once, however it leaves. Export cost
follows exactly that count: OVS's bridge-level IPFIX and sFlow sampling choose among the packets
the bridge receives (ofproto-dpif-xlate.c adds the sample action to each datapath flow of the
bridge, at its input port), and NetFlow accounts every flow those packets make; the benchmark's
cost table is keyed on the same count (packets a pod sends into br-int). The datapath's own
counters (`ovs-appctl dpctl/show`: lookups hit + missed) would count every bridge on the
datapath: on OVN-Kubernetes br-ex too, which carries the node's own host traffic that br-int's
exporter never sees. The port counters are read live from ovs-vswitchd, one small OpenFlow request
per reading (the copy in its database is refreshed only every 5 s: a first rate over two readings
10 s apart could be off by half).

Pure: the agent feeds a TrafficMeter each reading of those counters (per interface, so pods that
come and go, and counters that start again, never count backwards) with the time, and writes the
TrafficReport the meter hands out. The meter keeps the node's status writes within the budget
the delivery figures keep: a first rate at once, a rate that moved by half at most once a minute
and never within a minute of any other status write, and a refresh every five minutes only when
the rate moved by a tenth; any write that happens anyway carries the latest rate."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.domain.model import TrafficReport, format_time, parse_time

WINDOW_SECONDS = 60.0  # the rate spans this much, so a burst moves it little
FIRST_SPAN_SECONDS = 10.0  # a first rate needs readings this far apart
RATE_CHANGE = 1.5  # a rate is rewritten when it grew or shrank by this factor...
RATE_CHANGE_MIN = 10.0  # ...and by at least this many packets a second
WRITE_SPACING_SECONDS = 60.0  # and at least this long after the node's last status write of any kind
REFRESH_SECONDS = 300.0  # a smaller move is written after this long...
REFRESH_CHANGE = 1.1  # ...when it is at least this factor
STALE_READINGS = 3  # failed readings in a row before the rate is withdrawn as unknown
MAX_SAMPLES = 512


def significant(value: float, digits: int = 3) -> float:
    """`digits` significant digits: what a person reads, and no churn from the next one."""
    if value <= 0:
        return 0.0
    return float(round(value, digits - 1 - math.floor(math.log10(value))))


def _moved(old: float, new: float, factor: float, minimum: float) -> bool:
    low, high = sorted((old, new))
    return high - low >= minimum and high >= factor * low


@dataclass
class _InterfaceCounters:
    """Cumulative per-interface counters read over time: the packets added since the last
    reading, summed. An interface seen for the first time adds nothing (its packets may predate
    the previous reading); one whose count went down started again from zero."""

    last: dict[str, float] | None = None

    def read(self, counts: Mapping[str, float]) -> float | None:
        """The packets this reading adds; None for the first reading (a baseline)."""
        previous, self.last = self.last, dict(counts)
        if previous is None:
            return None
        added = 0.0
        for name, value in counts.items():
            before = previous.get(name)
            if before is not None:
                added += value - before if value >= before else value
        return added


@dataclass
class TrafficMeter:
    """One node's packet rate into br-int: `observe` each reading, `failed` when OVS could not
    be read, `report` for what Flow/<node> should say."""

    window: float = WINDOW_SECONDS
    first_span: float = FIRST_SPAN_SECONDS
    _counters: _InterfaceCounters = field(default_factory=_InterfaceCounters)
    _samples: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))
    _total: float = 0.0
    _failures: int = 0
    _reported: TrafficReport | None = None
    _reported_at: float | None = None  # when the meter last changed its report

    def carry(self, previous: TrafficReport | None, now: float) -> None:
        """What Flow/<node> said before this meter existed (an agent restart): kept until the new
        measurements say otherwise, by the same rules as any other change."""
        if self._reported is None and self._reported_at is None and previous is not None:
            self._reported = previous
            self._reported_at = parse_time(previous.measured_at) or now

    def observe(self, now: float, received: Mapping[str, float]) -> None:
        """A reading of br-int's ports: received packets by port."""
        self._failures = 0
        added = self._counters.read(received)
        if added is None:
            self._samples.clear()
        else:
            self._total += added
        self._samples.append((now, self._total))
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.window:
            self._samples.popleft()

    def failed(self) -> None:
        self._failures += 1

    def rate(self) -> float | None:
        """Packets a second over the window; None until two readings are far enough apart, or
        once readings keep failing."""
        if self._failures >= STALE_READINGS or len(self._samples) < 2:
            return None
        (t0, c0), (t1, c1) = self._samples[0], self._samples[-1]
        if t1 - t0 < self.first_span:
            return None
        return max(0.0, (c1 - c0) / (t1 - t0))

    def report(self, now: float, last_write: float | None, *, writing: bool = False) -> TrafficReport | None:
        """What Flow/<node>.status.traffic should say. `last_write`: when the node's status was
        last written for any reason; `writing`: a write is happening anyway, so the latest rate
        rides along at no cost."""
        rate = self.rate()
        previous = self._reported
        if rate is None:
            if previous is not None and self._failures >= STALE_READINGS:
                self._adopt(now, None)  # a rate nobody can vouch for any more is withdrawn
            return self._reported
        shown = significant(rate)
        if previous is None:
            self._adopt(now, TrafficReport(shown, format_time(now)))
            return self._reported
        if shown == previous.packets_per_second:
            return previous
        quiet = last_write is None or now - last_write >= WRITE_SPACING_SECONDS
        since = now - (self._reported_at or 0.0)
        if (
            writing
            or (quiet and _moved(previous.packets_per_second, shown, RATE_CHANGE, RATE_CHANGE_MIN))
            or (quiet and since >= REFRESH_SECONDS and _moved(previous.packets_per_second, shown, REFRESH_CHANGE, 1.0))
        ):
            self._adopt(now, TrafficReport(shown, format_time(now)))
        return self._reported

    def _adopt(self, now: float, report: TrafficReport | None) -> None:
        self._reported = report
        self._reported_at = now
