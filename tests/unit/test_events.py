"""Recording Events: the body the API server expects (events.k8s.io/v1), repeats folded into a
series written at most every `refresh` seconds, and a per-object limit on new Events, so a
flapping node cannot flood etcd. Time is injected; the API server is the in-memory fake."""

from __future__ import annotations

from gateway.domain.audit import AuditEntry, newest_first
from gateway.kube.events import EventRecorder, Occurrence, SeriesRecorder, micro_time
from tests.unit.fakes import FakeKube

FLOW = {"apiVersion": "flowgate.dev/v1alpha1", "kind": "Flow", "name": "node-1", "uid": "u-1"}


def warning(note: str = "OVS not reachable.", regarding: dict[str, str] = FLOW) -> Occurrence:
    return Occurrence(regarding=regarding, type="Warning", reason="ExportFailed", action="Export", note=note)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def recorder(kube: FakeKube, clock: Clock, **options: float) -> SeriesRecorder:
    return SeriesRecorder(
        EventRecorder(kube, "flowgate.dev/agent", instance="node-1"),  # type: ignore[arg-type]
        clock=clock,
        wall=lambda: 1_700_000_000.0 + clock.now,
        **options,  # type: ignore[arg-type]
    )


def test_an_event_body_is_what_the_api_server_validates() -> None:
    body = warning("x" * 2000).body("flowgate.dev/agent", "node-1", 1_700_000_000.5)
    assert body["metadata"] == {"name": f"node-1.{int(1_700_000_000.5 * 1e9):x}", "namespace": "default"}
    assert body["eventTime"] == "2023-11-14T22:13:20.500000Z"
    assert len(body["note"]) == 1024 and body["note"].endswith("…")
    assert {body[k] for k in ("reportingController", "reportingInstance", "action", "reason", "type")} == {
        "flowgate.dev/agent",
        "node-1",
        "Export",
        "ExportFailed",
        "Warning",
    }


async def test_repeats_become_one_event_whose_count_is_written_at_most_every_refresh() -> None:
    kube, clock = FakeKube(), Clock()
    events = recorder(kube, clock, refresh=30.0)
    for _ in range(100):  # a node flapping every 100 ms for 10 s
        await events.record(warning())
        clock.now += 0.1
    assert len(kube.events()) == 1
    assert "series" not in kube.events()[0]
    clock.now += 25
    await events.record(warning())  # 35 s after the first: due
    (event,) = kube.events()
    assert event["series"]["count"] == 101
    assert event["series"]["lastObservedTime"] == micro_time(1_700_000_000.0 + clock.now)
    assert events.patches == 1 and events.created == 1 and events.folded == 100
    await events.record(warning())
    await events.flush()  # not due yet: nothing written
    assert kube.events()[0]["series"]["count"] == 101
    clock.now += 30
    await events.flush()  # the last repeats are written even when none follow
    assert kube.events()[0]["series"]["count"] == 102


async def test_after_the_series_window_the_same_error_is_a_new_event() -> None:
    kube, clock = FakeKube(), Clock()
    events = recorder(kube, clock, series_window=360.0)
    await events.record(warning())
    clock.now += 361
    await events.flush()
    await events.record(warning())
    assert len(kube.events()) == 2


async def test_new_events_about_one_object_are_rate_limited() -> None:
    kube, clock = FakeKube(), Clock()
    events = recorder(kube, clock, burst=10, refill=60.0)
    for i in range(50):  # fifty different sentences in a second
        await events.record(warning(f"error number {i}."))
        clock.now += 0.02
    assert len(kube.events()) == 10 and events.dropped == 40
    other = {**FLOW, "name": "node-2", "uid": "u-2"}
    await events.record(warning(regarding=other))  # another object has its own allowance
    assert len(kube.events()) == 11
    clock.now += 60
    await events.record(warning("one more after a minute."))
    assert len(kube.events()) == 12


async def test_an_api_server_that_refuses_events_is_logged_not_raised(caplog: object) -> None:
    kube, clock = FakeKube(), Clock()
    kube.down = True
    events = recorder(kube, clock)
    await events.record(warning())
    assert events.created == 0 and kube.events() == []


async def test_an_event_with_a_fixed_name_is_stored_once_whoever_writes_it() -> None:
    kube = FakeKube()
    export = {"apiVersion": "flowgate.dev/v1alpha1", "kind": "FlowExport", "name": "cluster"}
    expired = Occurrence(export, "Normal", "FlowExportExpired", "Expire", "ended", name="cluster.expired-g3-1800000000")
    one = EventRecorder(kube, "flowgate.dev/agent", instance="node-1")  # type: ignore[arg-type]
    two = EventRecorder(kube, "flowgate.dev/agent", instance="node-2")  # type: ignore[arg-type]
    kube.down = True
    assert not await one.record_once(expired)  # not asked: to be tried again
    kube.down = False
    assert await one.record_once(expired) and await two.record_once(expired)  # the second: 409, done
    (stored,) = kube.events()
    assert stored["metadata"]["name"] == "cluster.expired-g3-1800000000"
    assert stored["reportingInstance"] == "node-1"


def test_audit_entries_read_back_from_events() -> None:
    switch = {
        "metadata": {"name": "cluster.1", "namespace": "default", "annotations": {"flowgate.dev/user": "alice"}},
        "eventTime": "2024-05-01T10:00:00.123456Z",
        "regarding": {"apiVersion": "flowgate.dev/v1alpha1", "kind": "FlowExport", "name": "cluster"},
        "type": "Normal",
        "reason": "FlowExportStarted",
        "note": 'User "alice" started flow export: NetFlow to nodePort 30001; generation 1.',
        "reportingController": "flowgate.dev/gateway",
    }
    flapping = {
        "metadata": {"name": "node-1.2", "namespace": "default"},
        "eventTime": "2024-05-01T09:00:00.000000Z",
        "series": {"count": 7, "lastObservedTime": "2024-05-01T11:00:00.000000Z"},
        "regarding": FLOW,
        "type": "Warning",
        "reason": "ExportFailed",
        "note": "OVS not reachable.",
        "reportingController": "flowgate.dev/agent",
    }
    unrelated = {**switch, "regarding": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}}
    entries = [e for e in (AuditEntry.from_event(x) for x in (switch, flapping, unrelated)) if e is not None]
    assert [(e.regarding, e.time, e.count, e.user) for e in newest_first(entries, 10)] == [
        ("Flow/node-1", "2024-05-01T11:00:00Z", 7, None),
        ("FlowExport/cluster", "2024-05-01T10:00:00Z", 1, "alice"),
    ]
    assert newest_first(entries, 1)[0].type == "Warning"
