"""The audit trail in words: what a start, switch or stop did (who, from what, to what), what a
node turning to Error says, and the Events users read back. Kubernetes Events carry it
(events.k8s.io/v1, on FlowExport/cluster and on Flow/<node>); this module knows their wording and
fields, not how they are written."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.domain.model import FLOW_EXPORT_KIND, FLOW_EXPORT_NAME, FLOW_KIND, FlowExportSpec, format_time

# Machine-readable copies of what a switch note says, for clients that want columns.
USER_ANNOTATION = "flowgate.dev/user"
FROM_ANNOTATION = "flowgate.dev/from"
TO_ANNOTATION = "flowgate.dev/to"

NODE_ERROR_REASON = "ExportFailed"
NODE_ERROR_ACTION = "Export"
EXPIRED_REASON = "FlowExportExpired"
EXPIRED_ACTION = "Expire"
DEADLINE_ANNOTATION = "flowgate.dev/deadline"


def describe_spec(spec: FlowExportSpec) -> str:
    """`IPFIX to nodePort 30001 (sampling 1 in 64, active timeout 1s)`, or `stopped`."""
    if spec.type is None:
        return "stopped"
    tuning = []
    if spec.sampling is not None:
        tuning.append(f"sampling 1 in {spec.sampling}")
    if spec.active_timeout_seconds is not None:
        tuning.append(f"active timeout {spec.active_timeout_seconds}s")
    if spec.cache_max_flows is not None:
        tuning.append(f"cache {spec.cache_max_flows} flows")
    text = f"{spec.type.value} to {spec.collector.describe()}"
    if tuning:
        text += f" ({', '.join(tuning)})"
    if not spec.nodes.everywhere:
        text += f" on {spec.nodes.describe()}"
    if spec.deadline is not None:
        text += f" until {format_time(spec.deadline)}"
    return text


@dataclass(frozen=True)
class SwitchRecord:
    """One accepted change of FlowExport/cluster, as its Event says it."""

    action: str  # Start, Switch, Change, Stop
    reason: str
    note: str
    annotations: Mapping[str, str]


def switch_record(user: str, before: FlowExportSpec, after: FlowExportSpec, generation: int) -> SwitchRecord | None:
    """The Event for a write that changed the spec from `before` to `after` (None when it did not:
    asking again for what is there is no change and records nothing)."""
    if before == after:
        return None
    who = f'User "{user}"'
    if after.type is None:
        action, reason = "Stop", "FlowExportStopped"
        note = f"{who} stopped flow export (was {describe_spec(before)}); generation {generation}."
    elif before.type is None:
        action, reason = "Start", "FlowExportStarted"
        note = f"{who} started flow export: {describe_spec(after)}; generation {generation}."
    elif before.type is not after.type:
        action, reason = "Switch", "FlowExportSwitched"
        note = f"{who} switched flow export from {describe_spec(before)} to {describe_spec(after)}; generation {generation}."
    else:
        action, reason = "Change", "FlowExportChanged"
        note = f"{who} changed flow export from {describe_spec(before)} to {describe_spec(after)}; generation {generation}."
    annotations = {
        USER_ANNOTATION: user,
        FROM_ANNOTATION: describe_spec(before),
        TO_ANNOTATION: describe_spec(after),
    }
    return SwitchRecord(action, reason, note, annotations)


def expiry_event_name(generation: int, deadline: float) -> str:
    """The one name the Event of this export's end can have. Every node agent that stops at the
    deadline tries to create it; the API server keeps the first and refuses the rest (409), so
    one Event records the expiry however many nodes (or restarted agents) report it."""
    return f"{FLOW_EXPORT_NAME}.expired-g{generation}-{int(deadline)}"


def expiry_record(spec: FlowExportSpec, generation: int) -> SwitchRecord:
    """The Event of an export reaching its deadline: every node agent stopped it by itself."""
    assert spec.deadline is not None
    at = format_time(spec.deadline)
    note = (
        f"Flow export ({describe_spec(spec)}) reached its deadline {at} and stopped: each node's agent stops it by "
        f"itself at that time; generation {generation}."
    )
    return SwitchRecord("Expire", EXPIRED_REASON, note, {DEADLINE_ANNOTATION: at, FROM_ANNOTATION: describe_spec(spec)})


@dataclass(frozen=True)
class AuditEntry:
    """One Event about flow export as users read it (the console's list, newest first)."""

    time: str  # RFC 3339: when it last happened (a series' last observation, else the event time)
    type: str  # Normal | Warning
    reason: str
    regarding: str  # FlowExport/cluster, Flow/<node>
    note: str
    count: int  # how many times it happened (a series counts its repeats)
    user: str | None  # who made the change (switch Events only)
    reporter: str  # the component that recorded it
    order: str = ""  # the time to the microsecond, then the Event's name: sorts events of one second

    @property
    def about_export(self) -> bool:
        return self.regarding == f"{FLOW_EXPORT_KIND}/{FLOW_EXPORT_NAME}"

    @staticmethod
    def from_event(event: Mapping[str, Any]) -> AuditEntry | None:
        """From an events.k8s.io/v1 Event; None when it is not about FlowExport/cluster or a Flow."""
        regarding = event.get("regarding") or {}
        kind, name = regarding.get("kind"), regarding.get("name")
        if not name or kind not in (FLOW_EXPORT_KIND, FLOW_KIND):
            return None
        series = event.get("series") or {}
        meta = event.get("metadata") or {}
        time = series.get("lastObservedTime") or event.get("eventTime") or meta.get("creationTimestamp") or ""
        count = int(series.get("count") or 1)
        return AuditEntry(
            time=_rfc3339(str(time)),
            type=str(event.get("type") or "Normal"),
            reason=str(event.get("reason") or ""),
            regarding=f"{kind}/{name}",
            note=str(event.get("note") or ""),
            count=count,
            user=(meta.get("annotations") or {}).get(USER_ANNOTATION),
            reporter=str(event.get("reportingController") or ""),
            order=f"{time} {meta.get('name') or ''}",
        )


def _rfc3339(text: str) -> str:
    """MicroTime (2024-05-01T10:00:00.123456Z) to seconds, as the rest of the API shows times."""
    if "." in text and text.endswith("Z"):
        return text.split(".", 1)[0] + "Z"
    return text


def newest_first(entries: list[AuditEntry], limit: int) -> list[AuditEntry]:
    return sorted(entries, key=lambda e: e.order, reverse=True)[:limit]
