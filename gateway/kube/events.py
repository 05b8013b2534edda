"""Recording Kubernetes Events (events.k8s.io/v1), as client-go's event recorders do.

`EventRecorder` writes one Event per call, with its API client's identity: the switch's audit
Events are written as the user who made the change. `SeriesRecorder` adds what keeps a flapping
source from flooding etcd (client-go's events broadcaster and event correlator): an Event that
repeats within `series_window` is not created again but counted in its `series`, patched at most
every `refresh` seconds, and each object may start at most `burst` new Events, one more every
`refill` seconds after that."""

from __future__ import annotations

import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.kube.api import ApiError, ApiUnreachable, KubeApi
from gateway.kube.resources import EVENTS

log = logging.getLogger(__name__)
JSON = dict[str, Any]

# Events about cluster-scoped objects live in namespace default (the API server accepts them
# there or in kube-system only), where `kubectl get events` and `kubectl describe` find them.
CLUSTER_EVENTS_NAMESPACE = "default"
MAX_NOTE = 1024  # the API server refuses longer notes


def micro_time(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def object_reference(obj: Mapping[str, Any]) -> JSON:
    """The `regarding` of an Event about `obj` (its uid included: `kubectl describe` matches on it)."""
    meta = obj.get("metadata") or {}
    ref: JSON = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": meta.get("name")}
    for key in ("namespace", "uid", "resourceVersion"):
        if meta.get(key):
            ref[key] = meta[key]
    return ref


def instance_name() -> str:
    """Which copy of a component recorded an Event: the host (in a pod, the pod's name)."""
    return socket.gethostname()[:128] or "unknown"


@dataclass(frozen=True)
class Occurrence:
    """What an Event says, apart from when and by whom."""

    regarding: Mapping[str, Any]
    type: str  # Normal | Warning
    reason: str
    action: str
    note: str
    annotations: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None  # a fixed name: one Event however many write it (else client-go's naming)

    @property
    def key(self) -> tuple[str, ...]:
        """Occurrences with the same key are one Event repeated (a series)."""
        ref = self.regarding
        return (
            str(ref.get("apiVersion")),
            str(ref.get("kind")),
            str(ref.get("namespace") or ""),
            str(ref.get("name")),
            str(ref.get("uid") or ""),
            self.type,
            self.reason,
            self.action,
            self.note,
        )

    def body(self, controller: str, instance: str, at: float) -> JSON:
        namespace = str(self.regarding.get("namespace") or CLUSTER_EVENTS_NAMESPACE)
        metadata: JSON = {
            # client-go's naming: the object's name and the time in nanoseconds, in hex.
            "name": self.name or f"{self.regarding.get('name')}.{int(at * 1e9):x}",
            "namespace": namespace,
        }
        if self.annotations:
            metadata["annotations"] = dict(self.annotations)
        note = self.note if len(self.note) <= MAX_NOTE else self.note[: MAX_NOTE - 1] + "…"
        return {
            "apiVersion": EVENTS.api_version,
            "kind": EVENTS.kind,
            "metadata": metadata,
            "eventTime": micro_time(at),
            "reportingController": controller,
            "reportingInstance": instance[:128],
            "regarding": dict(self.regarding),
            "type": self.type,
            "reason": self.reason[:128],
            "action": self.action[:128],
            "note": note,
        }


class EventRecorder:
    """Writes Events with `api`'s identity; never raises (an Event is a record, not the change)."""

    def __init__(self, api: KubeApi, controller: str, instance: str | None = None) -> None:
        self.api = api
        self.controller = controller
        self.instance = instance or instance_name()

    async def record(self, occurrence: Occurrence, at: float | None = None) -> JSON | None:
        """The Event as stored, or None when the API server did not take it (logged)."""
        body = occurrence.body(self.controller, self.instance, time.time() if at is None else at)
        try:
            created: JSON = await self.api.create(EVENTS, body, namespace=body["metadata"]["namespace"])
        except (ApiError, ApiUnreachable) as exc:
            log.warning(
                "could not record the %s Event %s on %s/%s: %s",
                occurrence.type,
                occurrence.reason,
                occurrence.regarding.get("kind"),
                occurrence.regarding.get("name"),
                exc,
            )
            return None
        return created

    async def record_once(self, occurrence: Occurrence, at: float | None = None) -> bool:
        """Create an Event with a fixed name unless it exists: True once it is stored, by this call
        or by anyone before (409); False when the API server could not be asked (retry later).
        Refusals other than a conflict are logged and not retried."""
        assert occurrence.name, "record_once needs a fixed Event name"
        body = occurrence.body(self.controller, self.instance, time.time() if at is None else at)
        try:
            await self.api.create(EVENTS, body, namespace=body["metadata"]["namespace"])
        except ApiUnreachable:
            return False
        except ApiError as exc:
            if exc.conflict:
                return True  # recorded already, by another writer
            if exc.status >= 500 or exc.status == 429:
                return False
            log.warning("could not record the Event %s (%s): %s", occurrence.name, occurrence.reason, exc)
        return True


@dataclass
class _Series:
    name: str  # the stored Event's name
    namespace: str
    count: int  # occurrences seen
    written_count: int  # what the stored Event says
    last_observed: float  # wall clock
    last_seen: float  # monotonic
    written_at: float  # monotonic, of the last create or patch


class SeriesRecorder:
    """An EventRecorder that folds repeats into series and rate-limits new Events per object.
    `clock` is monotonic time, injected for tests; wall-clock times come from `wall`."""

    def __init__(
        self,
        recorder: EventRecorder,
        *,
        series_window: float = 360.0,
        refresh: float = 30.0,
        burst: int = 10,
        refill: float = 60.0,
        max_series: int = 256,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.recorder = recorder
        self.series_window = series_window
        self.refresh = refresh
        self.burst = burst
        self.refill = refill
        self.max_series = max_series
        self.clock = clock
        self.wall = wall
        self._series: OrderedDict[tuple[str, ...], _Series] = OrderedDict()
        self._buckets: dict[tuple[str, ...], tuple[float, float]] = {}  # object -> (tokens, at)
        self.created = 0
        self.folded = 0  # repeats counted in a series instead of a new Event
        self.dropped = 0  # new Events the rate limit refused
        self.patches = 0

    async def record(self, occurrence: Occurrence) -> None:
        now = self.clock()
        key = occurrence.key
        series = self._series.get(key)
        if series is not None and now - series.last_seen <= self.series_window:
            series.count += 1
            series.last_seen = now
            series.last_observed = self.wall()
            self._series.move_to_end(key)
            self.folded += 1
            await self._patch_if_due(series, now)
            return
        if not self._take_token(key[:5], now):
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning(
                    "%d Events about %s/%s not recorded: more than %d in a short time (one more is allowed every %gs)",
                    self.dropped,
                    occurrence.regarding.get("kind"),
                    occurrence.regarding.get("name"),
                    self.burst,
                    self.refill,
                )
            return
        at = self.wall()
        stored = await self.recorder.record(occurrence, at)
        if stored is None:
            return
        self.created += 1
        meta = stored.get("metadata") or {}
        self._series[key] = _Series(
            name=str(meta.get("name")),
            namespace=str(meta.get("namespace")),
            count=1,
            written_count=1,
            last_observed=at,
            last_seen=now,
            written_at=now,
        )
        while len(self._series) > self.max_series:
            self._series.popitem(last=False)

    async def flush(self) -> None:
        """Write every series count that is due (call it now and then: a repeat that stopped
        coming still gets its final count written)."""
        now = self.clock()
        for key, series in list(self._series.items()):
            await self._patch_if_due(series, now)
            if now - series.last_seen > self.series_window and series.count == series.written_count:
                del self._series[key]

    async def _patch_if_due(self, series: _Series, now: float) -> None:
        if series.count == series.written_count or now - series.written_at < self.refresh:
            return
        patch = {"series": {"count": series.count, "lastObservedTime": micro_time(series.last_observed)}}
        try:
            await self.recorder.api.merge_patch(EVENTS, series.name, patch, namespace=series.namespace)
        except (ApiError, ApiUnreachable) as exc:
            log.warning("could not update the count of Event %s/%s: %s", series.namespace, series.name, exc)
            series.written_at = now  # try again after the next refresh, not at every repeat
            return
        self.patches += 1
        series.written_count = series.count
        series.written_at = now

    def _take_token(self, obj: tuple[str, ...], now: float) -> bool:
        tokens, at = self._buckets.get(obj, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) / self.refill)
        if tokens < 1:
            self._buckets[obj] = (tokens, now)
            return False
        self._buckets[obj] = (tokens - 1, now)
        return True
