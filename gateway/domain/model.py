"""flowgate's data contracts: the desired state (FlowExport/cluster), the observed state each node
agent reports (Flow/<node>), and the per-node view derived from both (NodeFlowStatus).

Objects come in and go out as the plain dicts the Kubernetes API speaks; field names here are the
CRDs' (deploy/crds/), so `from_object`/`to_spec` are the only place that knows their spelling."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

GROUP = "flowgate.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
FLOW_EXPORT_KIND = "FlowExport"
FLOW_EXPORT_PLURAL = "flowexports"
FLOW_EXPORT_NAME = "cluster"  # the one desired state of a cluster, like OpenShift's config objects
FLOW_KIND = "Flow"
FLOW_PLURAL = "flows"

# Where flow records go when the caller names no collector: the NodePort Service carrying this
# label, reached on each node's own address so flow traffic stays node-local.
DEFAULT_COLLECTOR_SELECTOR: Mapping[str, str] = {"role": "flows-collector"}

# OVN-Kubernetes' own defaults (go-controller default_node_network_controller.go).
DEFAULT_ACTIVE_TIMEOUT_SECONDS = 60
DEFAULT_IPFIX_SAMPLING = 400
MAX_STATIC_TARGETS = 10  # openshift/api exportNetworkFlows collectors: 1-10

# The longest a time-boxed export may run (`--for`, durationSeconds): a week covers any capture an
# investigation needs; longer than that is export until stopped, which is said so explicitly.
MAX_DURATION_SECONDS = 7 * 24 * 3600
MIN_DURATION_SECONDS = 1  # deadlines are whole seconds
MAX_CHOSEN_NODES = 1000  # nodes named one by one; more than that is what a node selector is for

OVN_NODE_ANNOTATION_PREFIX = "k8s.ovn.org/"
OVN_KUBERNETES = "OVNKubernetes"

JSON = dict[str, Any]


class FlowType(enum.Enum):
    """One export protocol at a time: OVS (and the seed) forbid NetFlow and IPFIX together."""

    NETFLOW = "NetFlow"
    IPFIX = "IPFIX"
    SFLOW = "sFlow"

    @property
    def cli_name(self) -> str:
        """The lower-case spelling users type and the seed's table prints."""
        return self.value.lower()

    @classmethod
    def parse(cls, text: str) -> FlowType:
        """Accept the API value (NetFlow), the GraphQL name (NETFLOW) or the CLI word (netflow)."""
        for member in cls:
            if text.lower() in (member.value.lower(), member.name.lower()):
                return member
        names = ", ".join(m.cli_name for m in cls)
        raise ValueError(f"unknown flow type {text!r}; choose one of {names}")


class NodeFlowState(enum.Enum):
    DISABLED = "Disabled"
    PENDING = "Pending"  # the node has not yet acted on the current desired state
    EMITTING = "Emitting"
    ERROR = "Error"


class Delivery(enum.Enum):
    CONFIRMED = "Confirmed"  # the collector counted records from this node since the current settings
    WAITING = "Waiting"  # configured, nothing counted yet, still within the expected first-record time
    NOT_RECEIVED = "NotReceived"  # nothing counted for longer than that: a warning, with likely causes
    UNKNOWN = "Unknown"  # no collector counters to read (none configured, or they cannot be read)

    @property
    def cli_name(self) -> str:
        return "not-received" if self is Delivery.NOT_RECEIVED else self.value.lower()


class TrafficRange(enum.Enum):
    """Where a node's packet rate lies against the rates the table measured."""

    MEASURED = "Measured"  # between the lowest and highest measured rate: interpolated
    BELOW = "Below"  # under the lowest: scaled down in proportion, to nothing at no traffic
    ABOVE = "Above"  # over the highest: scaled up in proportion, beyond what was measured
    UNKNOWN = "Unknown"  # the node's agent has not reported its traffic: no projection


def format_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        then = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return then.timestamp()


@dataclass(frozen=True)
class DeliveryReport:
    """Flow/<node>.status.delivery: the verdict as last written, with the rate and the last record."""

    state: Delivery
    records_per_second: float | None = None
    last_record_time: str | None = None
    last_transition_time: str | None = None
    message: str | None = None

    def to_status(self) -> dict[str, Any]:
        """Every field, unset ones as null, so a merge patch also clears what the new report lacks."""
        return {
            "state": self.state.value,
            "recordsPerSecond": self.records_per_second,
            "lastRecordTime": self.last_record_time,
            "lastTransitionTime": self.last_transition_time,
            "message": self.message,
        }

    @staticmethod
    def from_status(status: Mapping[str, Any] | None) -> DeliveryReport | None:
        if not status or not status.get("state"):
            return None
        try:
            state = Delivery(status["state"])
        except ValueError:
            return None
        rate = status.get("recordsPerSecond")
        return DeliveryReport(
            state=state,
            records_per_second=float(rate) if isinstance(rate, int | float) else None,
            last_record_time=status.get("lastRecordTime") or None,
            last_transition_time=status.get("lastTransitionTime") or None,
            message=status.get("message") or None,
        )


@dataclass(frozen=True)
class TrafficReport:
    """Flow/<node>.status.traffic: the packets a second entering the node's br-int, as last written
    (gateway/domain/traffic.py: which counter, and why export cost follows it)."""

    packets_per_second: float
    measured_at: str  # when the agent measured this rate (RFC 3339)

    def to_status(self) -> dict[str, Any]:
        return {"packetsPerSecond": self.packets_per_second, "measuredAt": self.measured_at}

    @staticmethod
    def from_status(status: Mapping[str, Any] | None) -> TrafficReport | None:
        if not status:
            return None
        rate, at = status.get("packetsPerSecond"), status.get("measuredAt")
        if not isinstance(rate, int | float) or isinstance(rate, bool) or rate < 0 or not at:
            return None
        return TrafficReport(float(rate), str(at))


@dataclass(frozen=True)
class CollectorTarget:
    """Where a node sends its records. Exactly one of the first three is set; the metrics fields
    say where the collector's own counters are read when its Service does not tell (a port named
    `metrics`)."""

    node_port: int | None = None  # the node's own InternalIP + this port
    selector: tuple[tuple[str, str], ...] | None = None  # a NodePort Service with these labels
    targets: tuple[str, ...] | None = None  # static ip:port list, the same for every node
    metrics_port: int | None = None  # nodePort/selector: the collector's metrics on the node's own IP + this port
    metrics_target: str | None = None  # targets: the collector's metrics at this ip:port

    @staticmethod
    def default() -> CollectorTarget:
        return CollectorTarget(selector=tuple(sorted(DEFAULT_COLLECTOR_SELECTOR.items())))

    @property
    def mode(self) -> str:
        if self.node_port is not None:
            return "nodePort"
        if self.targets is not None:
            return "targets"
        return "selector"

    @property
    def selector_text(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.selector or ())

    def describe(self) -> str:
        if self.node_port is not None:
            text = f"nodePort {self.node_port}"
        elif self.targets is not None:
            text = "targets " + ",".join(self.targets)
        else:
            text = f"selector {self.selector_text}"
        if self.metrics_port is not None:
            text += f" (metrics on port {self.metrics_port})"
        if self.metrics_target is not None:
            text += f" (metrics at {self.metrics_target})"
        return text

    def to_spec(self) -> JSON:
        if self.node_port is not None:
            spec: JSON = {"nodePort": self.node_port}
        elif self.targets is not None:
            spec = {"targets": list(self.targets)}
        else:
            spec = {"selector": dict(self.selector or ())}
        if self.metrics_port is not None:
            spec["metricsPort"] = self.metrics_port
        if self.metrics_target is not None:
            spec["metricsTarget"] = self.metrics_target
        return spec

    @staticmethod
    def from_spec(spec: Mapping[str, Any] | None) -> CollectorTarget:
        if not spec:
            return CollectorTarget.default()
        metrics_port = int(spec["metricsPort"]) if spec.get("metricsPort") is not None else None
        metrics_target = str(spec["metricsTarget"]) if spec.get("metricsTarget") else None
        if spec.get("nodePort") is not None:
            target = CollectorTarget(node_port=int(spec["nodePort"]))
        elif spec.get("targets") is not None:
            target = CollectorTarget(targets=tuple(str(t) for t in spec["targets"]))
        elif spec.get("selector"):
            target = CollectorTarget(selector=tuple(sorted((str(k), str(v)) for k, v in spec["selector"].items())))
        else:
            target = CollectorTarget.default()
        return replace(target, metrics_port=metrics_port, metrics_target=metrics_target)


@dataclass(frozen=True)
class NodeChoice:
    """Which nodes export: every node (neither field set), the nodes named, or the nodes whose
    labels include all of `labels`. A node is chosen by what it is now, so a node that gains or
    loses a label joins or leaves without a new start."""

    names: tuple[str, ...] | None = None
    labels: tuple[tuple[str, str], ...] | None = None

    @property
    def everywhere(self) -> bool:
        return self.names is None and self.labels is None

    @property
    def mode(self) -> str:
        if self.names is not None:
            return "names"
        return "all" if self.labels is None else "selector"

    @property
    def selector_text(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.labels or ())

    def chooses(self, node: NodeInfo) -> bool:
        if self.names is not None:
            return node.name in self.names
        if self.labels is not None:
            labels = dict(node.labels)
            return all(labels.get(key) == value for key, value in self.labels)
        return True

    def describe(self) -> str:
        """`every node`, `nodes node-1, node-2` or `nodes labelled env=prod`."""
        if self.names is not None:
            return "nodes " + ", ".join(self.names)
        if self.labels is not None:
            return f"nodes labelled {self.selector_text}"
        return "every node"

    @property
    def not_chosen(self) -> str:
        """Why a node does not export: what its report says."""
        if self.names is not None:
            shown = ", ".join(self.names[:5]) + (f" and {len(self.names) - 5} more" if len(self.names) > 5 else "")
            return f"not selected: flow export runs on the nodes named ({shown})"
        return f"not selected: flow export runs on the nodes labelled {self.selector_text}"

    def to_spec(self) -> JSON:
        return {
            "nodes": None if self.names is None else list(self.names),
            "nodeSelector": None if self.labels is None else dict(self.labels),
        }

    @staticmethod
    def from_spec(spec: Mapping[str, Any]) -> NodeChoice:
        if spec.get("nodes") is not None:
            return NodeChoice(names=tuple(str(n) for n in spec["nodes"]))
        if spec.get("nodeSelector"):
            return NodeChoice(labels=tuple(sorted((str(k), str(v)) for k, v in spec["nodeSelector"].items())))
        return NodeChoice()


@dataclass(frozen=True)
class FlowExportSpec:
    """FlowExport.spec: what the admin asked for. `type is None` means export is stopped."""

    type: FlowType | None = None
    collector: CollectorTarget = field(default_factory=CollectorTarget.default)
    sampling: int | None = None
    active_timeout_seconds: int | None = None
    cache_max_flows: int | None = None
    # When every node stops exporting by itself: whole seconds since the epoch, on the API
    # server's clock (the one a start read). None: until stopped.
    deadline: float | None = None
    nodes: NodeChoice = field(default_factory=NodeChoice)

    @property
    def enabled(self) -> bool:
        """Export was asked for; whether it still runs depends on the time (see `ended`)."""
        return self.type is not None

    def ended(self, now: float) -> bool:
        """Export was started with a deadline and `now` (API server time) has reached it."""
        return self.type is not None and self.deadline is not None and now >= self.deadline

    def running(self, now: float) -> bool:
        return self.enabled and not self.ended(now)

    def to_spec(self) -> JSON:
        """The full spec, with explicit nulls for unset fields so a merge patch clears them."""
        stopped = self.type is None
        return {
            "type": self.type.value if self.type else None,
            "collector": None if stopped else self.collector.to_spec(),
            "sampling": self.sampling,
            "activeTimeoutSeconds": self.active_timeout_seconds,
            "cacheMaxFlows": self.cache_max_flows,
            "deadline": None if stopped or self.deadline is None else format_time(self.deadline),
            **(NodeChoice() if stopped else self.nodes).to_spec(),
        }

    @staticmethod
    def from_spec(spec: Mapping[str, Any] | None) -> FlowExportSpec:
        spec = spec or {}
        raw_type = spec.get("type")
        raw_deadline = spec.get("deadline")
        deadline = parse_time(str(raw_deadline)) if raw_deadline else None
        if raw_deadline and deadline is None:
            raise ValueError(f"spec.deadline {raw_deadline!r} is not an RFC 3339 time")
        return FlowExportSpec(
            type=FlowType.parse(raw_type) if raw_type else None,
            collector=CollectorTarget.from_spec(spec.get("collector")),
            sampling=spec.get("sampling"),
            active_timeout_seconds=spec.get("activeTimeoutSeconds"),
            cache_max_flows=spec.get("cacheMaxFlows"),
            deadline=deadline,
            nodes=NodeChoice.from_spec(spec),
        )


@dataclass(frozen=True)
class FlowExport:
    """The cluster's desired state as stored: spec plus the generation agents acknowledge."""

    spec: FlowExportSpec
    generation: int = 0
    resource_version: str | None = None

    @staticmethod
    def from_object(obj: Mapping[str, Any] | None) -> FlowExport | None:
        if not obj:
            return None
        meta = obj.get("metadata") or {}
        return FlowExport(
            spec=FlowExportSpec.from_spec(obj.get("spec")),
            generation=int(meta.get("generation") or 0),
            resource_version=meta.get("resourceVersion"),
        )


@dataclass(frozen=True)
class FlowReport:
    """Flow/<node>.status: what a node agent last observed on its own node."""

    node: str
    state: NodeFlowState
    type: FlowType | None = None
    endpoint: str | None = None
    message: str | None = None
    observed_generation: int = 0
    last_transition_time: str | None = None
    delivery: DeliveryReport | None = None  # while emitting: does the collector receive the records?
    traffic: TrafficReport | None = None  # packets a second into br-int, measured whatever the state
    # Whether the agent found its node among the chosen ones when it wrote this (None: it does not
    # say). Labels change without a new generation: this is how a stale report is told.
    selected: bool | None = None

    @staticmethod
    def from_object(obj: Mapping[str, Any]) -> FlowReport:
        status = obj.get("status") or {}
        raw_state = status.get("state") or NodeFlowState.PENDING.value
        raw_type = status.get("type")
        return FlowReport(
            node=str((obj.get("metadata") or {}).get("name", "")),
            state=NodeFlowState(raw_state),
            type=FlowType.parse(raw_type) if raw_type else None,
            endpoint=status.get("endpoint") or None,
            message=status.get("message") or None,
            observed_generation=int(status.get("observedGeneration") or 0),
            last_transition_time=status.get("lastTransitionTime"),
            delivery=DeliveryReport.from_status(status.get("delivery")),
            traffic=TrafficReport.from_status(status.get("traffic")),
            selected=status["selected"] if isinstance(status.get("selected"), bool) else None,
        )

    def to_status(self) -> JSON:
        status: JSON = {"state": self.state.value, "observedGeneration": self.observed_generation}
        if self.type is not None:
            status["type"] = self.type.value
        if self.endpoint:
            status["endpoint"] = self.endpoint
        if self.message:
            status["message"] = self.message
        if self.last_transition_time:
            status["lastTransitionTime"] = self.last_transition_time
        if self.delivery is not None:
            status["delivery"] = self.delivery.to_status()
        if self.traffic is not None:
            status["traffic"] = self.traffic.to_status()
        if self.selected is not None:
            status["selected"] = self.selected
        return status

    def same_observation(self, other: FlowReport | None) -> bool:
        """True when nothing but timestamps differ (so an agent need not write)."""
        return other is not None and (
            self.state,
            self.type,
            self.endpoint,
            self.message,
            self.observed_generation,
            self.delivery,
            self.traffic,
            self.selected,
        ) == (
            other.state,
            other.type,
            other.endpoint,
            other.message,
            other.observed_generation,
            other.delivery,
            other.traffic,
            other.selected,
        )


@dataclass(frozen=True)
class NodeInfo:
    """What flowgate needs of a Node: its name, its InternalIP and whether OVN-K runs there."""

    name: str
    internal_ip: str | None = None
    uid: str | None = None
    ovn_kubernetes: bool = False
    labels: tuple[tuple[str, str], ...] = ()  # sorted: what a node selector chooses by

    @staticmethod
    def from_object(obj: Mapping[str, Any]) -> NodeInfo:
        meta = obj.get("metadata") or {}
        addresses = (obj.get("status") or {}).get("addresses") or []
        internal = next((a.get("address") for a in addresses if a.get("type") == "InternalIP"), None)
        annotations = meta.get("annotations") or {}
        return NodeInfo(
            name=str(meta.get("name", "")),
            internal_ip=internal,
            uid=meta.get("uid"),
            ovn_kubernetes=any(k.startswith(OVN_NODE_ANNOTATION_PREFIX) for k in annotations),
            labels=tuple(sorted((str(k), str(v)) for k, v in (meta.get("labels") or {}).items())),
        )


@dataclass(frozen=True)
class NodeFlowStatus:
    """One node's export state as users see it (table row, GraphQL object, subscription event)."""

    node: str
    state: NodeFlowState
    type: FlowType | None = None
    endpoint: str | None = None
    message: str | None = None
    updated_at: str | None = None
    observed_generation: int | None = None
    delivery: Delivery = Delivery.UNKNOWN
    records_per_second: float | None = None
    last_record_at: str | None = None
    delivery_since: str | None = None
    delivery_message: str | None = None
    packets_per_second: float | None = None  # into br-int, as the node's agent last reported it
    traffic_measured_at: str | None = None
    # While export is on: what the running setting is projected to send from this node's traffic
    # (cost_projection.py), beside what its collector counts (records_per_second).
    projected_records_per_second: float | None = None
    projected_export_bytes_per_second: float | None = None
    projection_range: TrafficRange | None = None
    selected: bool = True  # among the nodes the running export chose (every node when none were)


# networks.operator.openshift.io/cluster: when spec.exportNetworkFlows is set, OpenShift's Cluster
# Network Operator renders it into ovnkube-node, which configures br-int itself and clears its
# exporters every time it starts. flowgate then stays out of the way entirely.
OPERATOR = "Cluster Network Operator"
OPERATOR_FIELD = "spec.exportNetworkFlows"
OPERATOR_OBJECT = "networks.operator.openshift.io/cluster"


@dataclass(frozen=True)
class OperatorExport:
    """The flow export the Cluster Network Operator is told to configure: (type, collectors) each."""

    exporters: tuple[tuple[FlowType, tuple[str, ...]], ...]

    def describe(self) -> str:
        parts = [f"{t.value} to {', '.join(c) or 'no collector'}" for t, c in self.exporters]
        return "; ".join(parts) if parts else "no exporter"

    @property
    def reason(self) -> str:
        """Why flowgate will not switch flow export here, naming the field that decides it."""
        return (
            f"Flow export on this cluster is managed by the {OPERATOR}: {OPERATOR_OBJECT} sets "
            f"{OPERATOR_FIELD} ({self.describe()}) and ovnkube-node configures br-int from it. flowgate does not "
            f"start, switch or repair flow export while that field is set; remove {OPERATOR_FIELD} to let it."
        )

    @property
    def node_message(self) -> str:
        """What each node reports while the operator manages export."""
        return f"managed by the {OPERATOR} ({OPERATOR_FIELD}: {self.describe()}); flowgate leaves br-int alone"


@dataclass(frozen=True)
class FlowsSummary:
    total: int = 0
    disabled: int = 0
    pending: int = 0
    emitting: int = 0
    error: int = 0
    selected: int = 0  # nodes the export chose (all of them when it chose none)


@dataclass(frozen=True)
class FlowsState:
    """The cluster-level answer to "is flow export on, where to, and what does every node do?"."""

    enabled: bool
    type: FlowType | None
    collector: CollectorTarget | None
    network_type: str | None
    supported: bool
    unsupported_reason: str | None
    generation: int
    summary: FlowsSummary
    nodes: tuple[NodeFlowStatus, ...]
    operator_export: OperatorExport | None = None  # set: the Cluster Network Operator manages export
    deadline: float | None = None  # when export stops (or stopped) by itself; None: until stopped
    ended: bool = False  # the deadline has passed: export asked for, no longer running
    node_choice: NodeChoice | None = None  # which nodes export, while export is asked for
