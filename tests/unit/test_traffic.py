"""The packet rate into br-int (gateway/domain/traffic.py): what the meter measures from OVS's
interface counters, and when it lets the agent write it."""

from __future__ import annotations

import random

from gateway.domain.model import FlowReport, NodeFlowState, TrafficReport, format_time
from gateway.domain.traffic import (
    REFRESH_SECONDS,
    STALE_READINGS,
    WRITE_SPACING_SECONDS,
    TrafficMeter,
    significant,
)


def feed(meter: TrafficMeter, start: float, seconds: float, rate: float, every: float = 10.0) -> float:
    """Readings every `every` seconds of one interface growing at `rate` packets a second (and
    one that does not move), carrying on from the meter's last reading; returns the time after."""
    last = meter._counters.last
    total = last["pod1"] if last else 0.0
    now = start
    while now < start + seconds:
        if last is not None or now > start:
            total += rate * every
        meter.observe(now, {"pod1": total, "mp0": 7.0})
        now += every
    return now


def test_the_rate_needs_two_readings_far_enough_apart_then_follows_the_counters() -> None:
    meter = TrafficMeter()
    meter.observe(0.0, {"pod1": 100.0})
    assert meter.rate() is None  # a baseline
    meter.observe(5.0, {"pod1": 600.0})
    assert meter.rate() is None  # 5 s: one refresh of OVS's counters could be all it saw
    meter.observe(10.0, {"pod1": 1100.0})
    assert meter.rate() == 100.0
    feed(meter, 20.0, 120.0, 2000.0)
    assert meter.rate() == 2000.0  # the window holds only the new traffic


def test_interfaces_that_come_go_or_start_again_never_count_backwards() -> None:
    meter = TrafficMeter()
    meter.observe(0.0, {"a": 1000.0, "b": 5000.0})
    meter.observe(10.0, {"a": 2000.0, "b": 6000.0})  # +2000
    meter.observe(20.0, {"a": 3000.0, "c": 400.0})  # b gone (its pod deleted), c new: +1000
    meter.observe(30.0, {"a": 500.0, "c": 900.0})  # a's counter started again: +500 +500
    assert meter.rate() == (2000 + 1000 + 1000) / 30


def test_no_traffic_is_a_rate_of_zero() -> None:
    meter = TrafficMeter()
    feed(meter, 0.0, 30.0, 0.0)
    assert meter.rate() == 0.0
    report = meter.report(30.0, None)
    assert report is not None and report.packets_per_second == 0.0


def test_the_first_rate_is_reported_at_once_with_three_significant_digits() -> None:
    meter = TrafficMeter()
    now = feed(meter, 0.0, 20.0, 12345.6)
    report = meter.report(now, last_write=now - 1)  # a write a second ago does not hold the first back
    assert report == TrafficReport(significant(meter.rate() or 0), format_time(now))
    assert report.packets_per_second == 12300.0


def test_steady_traffic_is_not_rewritten_and_a_big_move_waits_a_minute_after_any_write() -> None:
    meter = TrafficMeter()
    now = feed(meter, 0.0, 20.0, 10000.0)
    first = meter.report(now, None)
    writes = [now]
    rng = random.Random(7)
    # An hour of traffic wobbling by ±5 % around the same rate: nothing new to write.
    for _ in range(360):
        now = feed(meter, now, 10.0, 10000.0 * rng.uniform(0.95, 1.05))
        if meter.report(now, writes[-1]) != first:
            writes.append(now)
    assert writes == writes[:1]
    # The traffic triples, right after some other status write (a delivery verdict, say).
    other_write = now
    now = feed(meter, now, 60.0, 30000.0)
    assert meter.report(now - 1, other_write) == first  # within a minute of that write: not yet
    moved = meter.report(now, other_write)
    assert moved is not None and moved.packets_per_second == 30000.0


def test_under_any_traffic_the_meter_never_adds_a_write_within_a_minute_of_another() -> None:
    meter = TrafficMeter()
    rng = random.Random(11)
    now = feed(meter, 0.0, 20.0, 100.0)
    last_write: float | None = None
    reported = meter.report(now, last_write)
    last_write = now
    for _ in range(2000):  # five and a half hours of traffic jumping about every 10 s
        now = feed(meter, now, 10.0, rng.choice([0.0, 50.0, 500.0, 5000.0, 50000.0]))
        report = meter.report(now, last_write)
        if report != reported:
            assert now - last_write >= WRITE_SPACING_SECONDS
            reported, last_write = report, now


def test_a_write_that_happens_anyway_carries_the_latest_rate() -> None:
    meter = TrafficMeter()
    now = feed(meter, 0.0, 20.0, 1000.0)
    meter.report(now, None)
    now = feed(meter, now, 60.0, 1040.0)  # moved by 4 %: not worth a write of its own
    assert meter.report(now, now - 120).packets_per_second == 1000.0  # type: ignore[union-attr]
    carried = meter.report(now, now - 120, writing=True)
    assert carried is not None and carried.packets_per_second == significant(meter.rate() or 0)


def test_a_tenth_more_is_written_after_five_minutes() -> None:
    meter = TrafficMeter()
    now = feed(meter, 0.0, 20.0, 1000.0)
    meter.report(now, None)
    start = now
    now = feed(meter, now, 120.0, 1200.0)
    assert meter.report(now, start).packets_per_second == 1000.0  # type: ignore[union-attr]
    now = feed(meter, now, REFRESH_SECONDS - 120.0, 1200.0)
    assert meter.report(now, start).packets_per_second == 1200.0  # type: ignore[union-attr]


def test_a_rate_nobody_can_vouch_for_is_withdrawn() -> None:
    meter = TrafficMeter()
    now = feed(meter, 0.0, 20.0, 500.0)
    assert meter.report(now, None) is not None
    for _ in range(STALE_READINGS - 1):
        meter.failed()
    assert meter.report(now + 30, now) is not None
    meter.failed()
    assert meter.report(now + 40, now) is None


def test_a_restarted_agent_keeps_its_flows_rate_until_its_own_measurement_differs() -> None:
    meter = TrafficMeter()
    previous = TrafficReport(2000.0, format_time(1000.0))
    meter.carry(previous, 1300.0)
    assert meter.report(1300.0, 1000.0) == previous  # nothing measured yet
    now = feed(meter, 1300.0, 30.0, 2050.0)
    assert meter.report(now, 1000.0) == previous  # within a tenth: kept
    now = feed(meter, now, 70.0, 9000.0)
    assert meter.report(now, 1000.0).packets_per_second == 9000.0  # type: ignore[union-attr]


def test_traffic_round_trips_through_the_flow_status_and_counts_as_an_observation() -> None:
    report = FlowReport("n", NodeFlowState.DISABLED, traffic=TrafficReport(1500.0, "2026-01-01T00:00:00Z"))
    status = report.to_status()
    assert status["traffic"] == {"packetsPerSecond": 1500.0, "measuredAt": "2026-01-01T00:00:00Z"}
    assert FlowReport.from_object({"metadata": {"name": "n"}, "status": status}) == report
    assert not report.same_observation(FlowReport("n", NodeFlowState.DISABLED))
    for bad in ({"packetsPerSecond": -1, "measuredAt": "x"}, {"packetsPerSecond": "many"}, {"measuredAt": "x"}):
        assert TrafficReport.from_status(bad) is None
