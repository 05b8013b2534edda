"""The delivery verdict, its rate and when it is worth writing, derived from collector counters on a
fake clock (plain seconds): no agent, no collector, no waiting."""

from __future__ import annotations

import pytest

from gateway.domain.delivery import (
    NO_METRICS,
    CollectorCounts,
    DeliveryConfig,
    DeliveryTracker,
    ExporterCounts,
)
from gateway.domain.model import Delivery, DeliveryReport, FlowExportSpec, FlowType, format_time

T0 = 1_700_000_000.0  # any wall-clock second
SCRAPE = 10.0


def config(flow_type: FlowType = FlowType.NETFLOW, *, timeout: int | None = None, sampling: int | None = None,
           metrics: str | None = "10.89.0.1:30002") -> DeliveryConfig:  # fmt: skip
    spec = FlowExportSpec(type=flow_type, active_timeout_seconds=timeout, sampling=sampling)
    return DeliveryConfig.of(spec, ("10.89.0.1:30001",), "10.89.0.1", metrics)


class Feed:
    """A tracker fed by a pretend collector: `records` grows as the test says; each `tick` is one
    scrape interval later. The collector is read as soon as the settings take effect, as the agent
    does (a tracker's first reading of a collector is its baseline)."""

    def __init__(self, cfg: DeliveryConfig, scrape: float = SCRAPE) -> None:
        self.tracker = DeliveryTracker(scrape_interval=scrape)
        self.now = T0
        self.scrape = scrape
        self.records = 0.0
        self.packets = 0.0
        self.writes: list[DeliveryReport] = []
        self.tracker.configure(self.now, cfg)
        self.tracker.observe(self.now, CollectorCounts())
        self.report()

    def report(self) -> DeliveryReport | None:
        report = self.tracker.report(self.now)
        if report is not None and (not self.writes or self.writes[-1] != report):
            self.writes.append(report)
        return report

    def tick(self, records: float = 0.0, packets: float | None = None, seconds: float | None = None) -> DeliveryReport:
        self.now += seconds if seconds is not None else self.scrape
        self.records += records
        self.packets += records if packets is None else packets
        self.tracker.observe(self.now, CollectorCounts(self.records, self.packets))
        report = self.report()
        assert report is not None
        return report

    def state(self) -> Delivery:
        view = self.tracker.view(self.now)
        assert view is not None
        return view.state


def test_expected_first_record_follows_the_active_timeout_and_sampling() -> None:
    assert config(FlowType.NETFLOW).expected_within(SCRAPE) == 80  # 60 s timeout + 10 s scrape + 10 s slack
    assert config(FlowType.IPFIX).expected_within(SCRAPE) == 140  # and 3 x 400 / 20 pps for sampling 1-in-400
    assert config(FlowType.SFLOW).expected_within(SCRAPE) == 81  # 1 s flush + 60 s sampling wait
    fast = config(FlowType.IPFIX, timeout=1, sampling=1)
    assert fast.expected_within(1.0) == 12  # 1 s timeout + 1 s scrape + 10 s slack
    assert config(FlowType.NETFLOW, sampling=50).sampling == 1  # NetFlow sees every flow


def test_waiting_until_the_first_record_then_confirmed_with_a_rate() -> None:
    feed = Feed(config())
    assert feed.writes[0].state is Delivery.WAITING
    assert "active timeout of 60 s" in (feed.writes[0].message or "")
    assert "within 80 s" in (feed.writes[0].message or "")
    for _ in range(5):  # 50 s of nothing: still within the 80 s bound
        assert feed.tick().state is Delivery.WAITING
    report = feed.tick(records=120)
    assert report.state is Delivery.CONFIRMED
    assert report.message is None
    assert report.last_record_time == report.last_transition_time == format_time(feed.now)
    assert report.records_per_second == pytest.approx(120 / 60)
    assert len(feed.writes) == 2  # Waiting, then Confirmed: no write while waiting


def test_nothing_within_the_bound_is_not_received_with_the_likely_causes() -> None:
    feed = Feed(config())
    states = [feed.tick().state for _ in range(9)]
    assert states[:8] == [Delivery.WAITING] * 8  # 10..80 s
    assert states[8] is Delivery.NOT_RECEIVED  # 90 s > 80 s
    message = feed.writes[-1].message or ""
    assert "no NetFlow records from 10.89.0.1" in message
    assert "expected within 80 s" in message
    assert "firewall" in message and "10.89.0.1:30001" in message and "no pod traffic" in message
    feed.tick()
    assert len(feed.writes) == 2  # the sentence holds still while nothing changes: no rewrite
    assert feed.tick(records=3).state is Delivery.CONFIRMED


def test_the_default_active_timeout_waits_a_minute_and_never_warns_before() -> None:
    feed = Feed(config(FlowType.NETFLOW))  # OVN-Kubernetes' 60 s
    for _ in range(6):
        assert feed.tick().state is Delivery.WAITING
    assert feed.tick(records=2).state is Delivery.CONFIRMED  # the first burst, at 70 s


def test_no_metrics_endpoint_is_unknown_and_never_changes() -> None:
    feed = Feed(config(metrics=None))
    assert feed.writes == [DeliveryReport(Delivery.UNKNOWN, None, None, format_time(T0), NO_METRICS)]
    for _ in range(100):
        feed.now += SCRAPE
        feed.report()
    assert len(feed.writes) == 1


def test_a_stream_that_stops_is_not_received_within_its_bound_and_recovers() -> None:
    cfg = config(FlowType.IPFIX, timeout=1, sampling=1)
    feed = Feed(cfg, scrape=1.0)
    for _ in range(40):
        feed.tick(records=40)
    assert feed.state() is Delivery.CONFIRMED
    stopped_at = feed.now
    while feed.state() is Delivery.CONFIRMED:
        feed.tick()
    assert feed.now - stopped_at == pytest.approx(cfg.expected_within(1.0) + 1)  # the first scrape past 12 s
    message = feed.writes[-1].message or ""
    assert f"since {format_time(stopped_at)}" in message and "expected at least every 12 s" in message
    feed.tick(records=40)
    assert feed.state() is Delivery.CONFIRMED
    assert [w.state for w in feed.writes] == [Delivery.WAITING, Delivery.CONFIRMED, Delivery.NOT_RECEIVED,
                                              Delivery.CONFIRMED]  # fmt: skip


def test_failed_scrapes_keep_the_verdict_until_three_in_a_row_then_unknown() -> None:
    feed = Feed(config(FlowType.SFLOW, sampling=1), scrape=1.0)
    feed.tick(records=10)
    for attempt in range(1, 4):
        feed.now += 1
        feed.tracker.failed(feed.now, "connection refused")
        report = feed.report()
        assert report is not None
        assert report.state is (Delivery.CONFIRMED if attempt < 3 else Delivery.UNKNOWN)
    assert "http://10.89.0.1:30002/metrics (connection refused)" in (feed.writes[-1].message or "")
    assert feed.tick(records=10).state is Delivery.CONFIRMED


def test_new_settings_wait_again_and_the_same_settings_do_not() -> None:
    feed = Feed(config(FlowType.NETFLOW, timeout=1), scrape=1.0)
    feed.tick(records=5)
    assert not feed.tracker.configure(feed.now, config(FlowType.NETFLOW, timeout=1))
    assert feed.state() is Delivery.CONFIRMED
    assert feed.tracker.configure(feed.now, config(FlowType.IPFIX, timeout=1, sampling=1))
    assert feed.state() is Delivery.WAITING
    feed.tracker.configure(feed.now, None)  # stopped: nothing to judge, nothing to write
    assert feed.tracker.view(feed.now) is None and feed.tracker.report(feed.now) is None


def test_a_collector_restart_counts_from_zero_again() -> None:
    feed = Feed(config(FlowType.NETFLOW, timeout=1), scrape=1.0)
    feed.tick(records=100)
    feed.tick(records=100)
    feed.records = 0  # the collector restarted: its counters start over
    report = feed.tick(records=7)
    assert report.state is Delivery.CONFIRMED
    assert feed.tracker.view(feed.now).records_per_second == pytest.approx(207 / 3)  # type: ignore[union-attr]


def test_steady_traffic_writes_once_per_five_minutes_and_a_doubling_within_a_minute() -> None:
    feed = Feed(config(FlowType.NETFLOW, timeout=1), scrape=1.0)
    for second in range(3600):  # one hour at ~20 records a second, jittering by a quarter
        feed.tick(records=20 + (5 if second % 3 == 0 else -2))
    confirmed = [w for w in feed.writes if w.state is Delivery.CONFIRMED]
    assert len(feed.writes) - 2 <= 3600 / 300  # refreshes only: 0.2 writes a minute
    assert all(w.records_per_second and 18 <= w.records_per_second <= 24 for w in confirmed[1:])
    before = len(feed.writes)
    doubled_at = feed.now
    while feed.writes[-1].records_per_second is not None and feed.writes[-1].records_per_second < 35:
        feed.tick(records=42)
    assert feed.now - doubled_at <= 60 + 30  # at most a minute after the last write, once the window filled
    assert len(feed.writes) <= before + 2  # the new rate, and perhaps a refresh meanwhile


def test_bursty_default_netflow_rate_is_smoothed_over_four_timeouts() -> None:
    cfg = config(FlowType.NETFLOW)  # a burst of 120 records every 60 s: 2 a second on average
    assert cfg.rate_window(SCRAPE) == 240
    assert config(FlowType.SFLOW).rate_window(SCRAPE) == 100  # ten scrapes
    assert config(FlowType.IPFIX, timeout=1).rate_window(1.0) == 10
    feed = Feed(cfg)
    rates = []
    for step in range(1, 180):  # 30 minutes
        feed.tick(records=120 if step % 6 == 0 else 0)
        if step > 30:
            rates.append(feed.tracker.rate())
    assert all(r is not None and 1.5 <= r <= 2.6 for r in rates)
    assert all(w.state is not Delivery.NOT_RECEIVED for w in feed.writes)


def test_an_agent_restart_keeps_a_confirmed_delivery() -> None:
    cfg = config(FlowType.NETFLOW, timeout=1)
    earlier = DeliveryReport(Delivery.CONFIRMED, 20.0, format_time(T0 - 200), format_time(T0 - 3600))
    tracker = DeliveryTracker(scrape_interval=1.0)
    tracker.configure(T0, cfg, carried=earlier)
    assert tracker.report(T0) == earlier  # nothing to write after a restart
    tracker.observe(T0 + 1, CollectorCounts(5000, 5000))  # the first reading is only a baseline
    assert tracker.report(T0 + 1) == earlier
    tracker.observe(T0 + 13, CollectorCounts(5000, 5000))
    report = tracker.report(T0 + 13)
    assert report is not None and report.state is Delivery.NOT_RECEIVED  # one bound after the restart
    assert format_time(T0 - 200) in (report.message or "")


def test_ovs_counters_tell_lost_records_from_no_traffic() -> None:
    cfg = config(FlowType.IPFIX, timeout=1, sampling=1)

    def after_silence(sent: float, sampled: float, packets: float = 0) -> str:
        tracker = DeliveryTracker(scrape_interval=1.0)
        tracker.configure(T0, cfg)
        for second in range(20):
            tracker.exporter(ExporterCounts(sampled * second, sent * second, sent * second, 0))
            tracker.observe(T0 + second, CollectorCounts(0, packets * second))
        report = tracker.report(T0 + 20)
        assert report is not None and report.state is Delivery.NOT_RECEIVED
        return report.message or ""

    assert "lost between this node and 10.89.0.1:30001" in after_silence(sent=40, sampled=40)
    assert "lacks the templates" in after_silence(sent=40, sampled=40, packets=40)
    assert "sampled no packets" in after_silence(sent=0, sampled=0)


def test_sflow_counter_samples_alone_say_the_path_works() -> None:
    feed = Feed(config(FlowType.SFLOW, sampling=1), scrape=1.0)
    for _ in range(15):
        feed.tick(records=0, packets=1)  # counter samples, no flow samples
    assert feed.state() is Delivery.NOT_RECEIVED
    assert "counter samples, so the path works" in (feed.writes[-1].message or "")


def test_the_report_round_trips_through_the_flow_status() -> None:
    report = DeliveryReport(Delivery.NOT_RECEIVED, 0.0, "2025-01-01T00:00:00Z", "2025-01-01T00:01:00Z", "why")
    assert DeliveryReport.from_status(report.to_status()) == report
    assert DeliveryReport.from_status({"state": "Sideways"}) is None
    assert DeliveryReport.from_status(None) is None
    assert Delivery.NOT_RECEIVED.cli_name == "not-received"
