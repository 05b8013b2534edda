"""Validate a start request before anything is written. Every error names the field (as the
GraphQL argument is spelled) and says what would be accepted."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from gateway.domain.errors import InvalidArgument
from gateway.domain.model import (
    MAX_CHOSEN_NODES,
    MAX_DURATION_SECONDS,
    MAX_STATIC_TARGETS,
    MIN_DURATION_SECONDS,
    CollectorTarget,
    FlowExportSpec,
    FlowType,
    NodeChoice,
)

# Matched in full (fullmatch): `$` alone would accept a trailing newline.
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_PORT = re.compile(r"[0-9]{1,5}")
MAX_UINT32 = 2**32 - 1
SHOWN = 64  # how much of a bad value an error sentence repeats


def _shown(text: str) -> str:
    """A value as an error sentence quotes it: repr, cut short."""
    return repr(text) if len(text) <= SHOWN else repr(text[:SHOWN]) + "…"


def validate_label(key: str, value: str, field: str = "collector.selector") -> None:
    """Kubernetes label syntax: [prefix/]name, value empty or a name, each at most 63 chars."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        raise InvalidArgument(field, f"{field}: label key {_shown(key)} has an invalid prefix; use a DNS subdomain.")
    if not _LABEL_NAME.fullmatch(name):
        raise InvalidArgument(
            field,
            f"{field}: label key {_shown(key)} is not a valid label name (at most 63 letters, digits, '-', '_' "
            "or '.', starting and ending with a letter or digit).",
        )
    if value and not _LABEL_NAME.fullmatch(value):
        raise InvalidArgument(
            field,
            f"{field}: label value {_shown(value)} for {_shown(key)} is not valid (at most 63 letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit).",
        )


def parse_selector(text: str, field: str = "collector.selector") -> dict[str, str]:
    """`k=v[,k=v]` as kubectl writes label selectors (equality only)."""
    selector: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or not key:
            raise InvalidArgument(field, f"{field}: {_shown(part.strip())} is not of the form key=value.")
        validate_label(key.strip(), value.strip(), field)
        if key.strip() in selector:
            raise InvalidArgument(field, f"{field}: label key {_shown(key.strip())} is given twice.")
        selector[key.strip()] = value.strip()
    return selector


def validate_duration(seconds: float | None, field: str = "durationSeconds") -> float | None:
    """A time-boxed export's length: at least a second, at most MAX_DURATION_SECONDS (a week)."""
    if seconds is None:
        return None
    if not math.isfinite(seconds) or not MIN_DURATION_SECONDS <= seconds <= MAX_DURATION_SECONDS:
        shown = f"{seconds:g}" if math.isfinite(seconds) else str(seconds)
        raise InvalidArgument(
            field,
            f"{field} must be between {MIN_DURATION_SECONDS} second and {MAX_DURATION_SECONDS} seconds (168h, "
            f"one week), not {shown} seconds; to export until stopped, give no duration.",
        )
    return seconds


def validate_node_choice(names: Sequence[str] | None, labels: Sequence[tuple[str, str]] | None) -> NodeChoice:
    """Nodes by name (DNS subdomains, each once, at most MAX_CHOSEN_NODES) or by labels, not both."""
    if names is not None and labels is not None:
        raise InvalidArgument("nodes", "nodes: choose nodes by name or by nodeSelector, not both.")
    if names is not None:
        if not 1 <= len(names) <= MAX_CHOSEN_NODES:
            raise InvalidArgument(
                "nodes",
                f"nodes takes 1 to {MAX_CHOSEN_NODES} node names, not {len(names)}; for more, label them and "
                "give a nodeSelector.",
            )
        seen: set[str] = set()
        for name in names:
            if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
                raise InvalidArgument(
                    "nodes",
                    f"nodes: {_shown(name)} is not a node name (lower-case letters, digits, '-' and '.', at most "
                    "253 characters).",
                )
            if name in seen:
                raise InvalidArgument("nodes", f"nodes: {_shown(name)} is given twice.")
            seen.add(name)
        return NodeChoice(names=tuple(names))
    if labels is not None:
        if not labels:
            raise InvalidArgument("nodeSelector", "nodeSelector needs at least one label.")
        chosen: dict[str, str] = {}
        for key, value in labels:
            if key in chosen:
                raise InvalidArgument("nodeSelector", f"nodeSelector: label key {_shown(key)} is given twice.")
            validate_label(key, value, "nodeSelector")
            chosen[key] = value
        return NodeChoice(labels=tuple(sorted(chosen.items())))
    return NodeChoice()


def known_nodes_only(choice: NodeChoice, known: Collection[str], ignore_unknown: bool) -> NodeChoice:
    """The rule for names that are no node of this cluster: refused, unless the caller asked to
    start on the known ones only (ignoreUnknownNodes); then those are kept, and at least one must
    be known. Nothing is written either way until this passes."""
    if choice.names is None:
        return choice
    unknown = [n for n in choice.names if n not in known]
    if not unknown:
        return choice
    shown = ", ".join(_shown(n) for n in unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
    kept = tuple(n for n in choice.names if n in known)
    noun = "is no node" if len(unknown) == 1 else "are no nodes"
    if not kept:
        raise InvalidArgument(
            "nodes", f"nodes: {shown} {noun} of this cluster, and no node named is; flow export was not changed."
        )
    if not ignore_unknown:
        raise InvalidArgument(
            "nodes",
            f"nodes: {shown} {noun} of this cluster; flow export was not changed. Correct the names, or set "
            f"ignoreUnknownNodes to start on the {len(kept)} known one{'s' if len(kept) > 1 else ''} only.",
        )
    return NodeChoice(names=kept)


def validate_target(target: str, field: str = "collector.targets") -> str:
    """An `ip:port` (IPv4, or [IPv6]:port) collector address, as OVS and the CRD take it."""
    host, sep, port_text = target.rpartition(":")
    if not sep or not host:
        raise InvalidArgument(field, f"{field}: {_shown(target)} is not of the form ip:port.")
    bracketed = host.startswith("[") and host.endswith("]")
    try:
        address = ipaddress.ip_address(host[1:-1] if bracketed else host)
    except ValueError:
        raise InvalidArgument(field, f"{field}: {_shown(host)} in {_shown(target)} is not an IP address.") from None
    if address.version == 6 and not bracketed:
        raise InvalidArgument(field, f"{field}: write an IPv6 address in brackets, as [{host}]:{port_text}.")
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        raise InvalidArgument(field, f"{field}: {_shown(target)} names an IPv6 zone (%); give a global address.")
    if not _PORT.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
        raise InvalidArgument(field, f"{field}: port {_shown(port_text)} in {_shown(target)} must be 1-65535.")
    return target


def _positive(field: str, value: int | None, maximum: int = MAX_UINT32) -> int | None:
    if value is not None and not 1 <= value <= maximum:
        raise InvalidArgument(field, f"{field} must be between 1 and {maximum}, not {value}.")
    return value


def validate_collector(
    node_port: int | None = None,
    selector: Mapping[str, str] | None = None,
    targets: Sequence[str] | None = None,
    metrics_port: int | None = None,
    metrics_target: str | None = None,
) -> CollectorTarget:
    given = [
        name for name, v in (("nodePort", node_port), ("selector", selector), ("targets", targets)) if v is not None
    ]
    if len(given) > 1:
        raise InvalidArgument(
            "collector", f"collector: give only one of nodePort, selector or targets, not {' and '.join(given)}."
        )
    collector = _target(node_port, selector, targets)
    if metrics_port is not None:
        if collector.targets is not None:
            raise InvalidArgument(
                "collector.metricsPort",
                "collector.metricsPort applies to a collector on every node (nodePort or selector); "
                "for static targets give collector.metricsTarget.",
            )
        if not 1 <= metrics_port <= 65535:
            raise InvalidArgument(
                "collector.metricsPort", f"collector.metricsPort must be 1-65535, not {metrics_port}."
            )
    if metrics_target is not None:
        if collector.targets is None:
            raise InvalidArgument(
                "collector.metricsTarget",
                "collector.metricsTarget applies to static targets; a collector on every node (nodePort or "
                "selector) takes collector.metricsPort.",
            )
        validate_target(metrics_target, "collector.metricsTarget")
    return replace(collector, metrics_port=metrics_port, metrics_target=metrics_target)


def _target(
    node_port: int | None, selector: Mapping[str, str] | None, targets: Sequence[str] | None
) -> CollectorTarget:
    if node_port is not None:
        if not 1 <= node_port <= 65535:
            raise InvalidArgument("collector.nodePort", f"collector.nodePort must be 1-65535, not {node_port}.")
        return CollectorTarget(node_port=node_port)
    if targets is not None:
        if not 1 <= len(targets) <= MAX_STATIC_TARGETS:
            raise InvalidArgument(
                "collector.targets",
                f"collector.targets takes 1 to {MAX_STATIC_TARGETS} ip:port addresses, not {len(targets)}.",
            )
        checked = tuple(validate_target(t) for t in targets)
        seen: set[str] = set()
        for t in checked:
            if t in seen:
                # OVS keeps targets as a set: a repeat would be silently dropped.
                raise InvalidArgument("collector.targets", f"collector.targets: {_shown(t)} is given twice.")
            seen.add(t)
        return CollectorTarget(targets=checked)
    if selector is not None:
        if not selector:
            raise InvalidArgument("collector.selector", "collector.selector needs at least one label.")
        for key, value in selector.items():
            validate_label(key, value)
        return CollectorTarget(selector=tuple(sorted(selector.items())))
    return CollectorTarget.default()


def validate_start(
    flow_type: FlowType,
    collector: CollectorTarget,
    sampling: int | None = None,
    active_timeout_seconds: int | None = None,
    cache_max_flows: int | None = None,
) -> FlowExportSpec:
    """The spec a start request asks for; tuning that does not apply to the type is refused
    rather than silently dropped."""
    if cache_max_flows is not None and flow_type is not FlowType.IPFIX:
        raise InvalidArgument("cacheMaxFlows", "cacheMaxFlows applies to IPFIX only.")
    if sampling is not None and flow_type is FlowType.NETFLOW:
        raise InvalidArgument("sampling", "sampling applies to IPFIX and sFlow only; NetFlow sees every flow.")
    return FlowExportSpec(
        type=flow_type,
        collector=collector,
        sampling=_positive("sampling", sampling),
        active_timeout_seconds=_positive("activeTimeoutSeconds", active_timeout_seconds, 3600),
        cache_max_flows=_positive("cacheMaxFlows", cache_max_flows),
    )


@dataclass(frozen=True)
class StartRequest:
    """A start as the caller phrased it, before validation."""

    type: FlowType
    node_port: int | None = None
    selector: Sequence[tuple[str, str]] | None = None
    targets: Sequence[str] | None = None
    sampling: int | None = None
    active_timeout_seconds: int | None = None
    cache_max_flows: int | None = None
    metrics_port: int | None = None
    metrics_target: str | None = None
    duration_seconds: float | None = None  # None: until stopped
    nodes: Sequence[str] | None = None
    node_selector: Sequence[tuple[str, str]] | None = None
    ignore_unknown_nodes: bool = False  # names that are no node of the cluster are dropped, not refused

    @property
    def collector_given(self) -> bool:
        return any(
            v is not None for v in (self.node_port, self.selector, self.targets, self.metrics_port, self.metrics_target)
        )

    def spec(self, now: float = 0.0) -> FlowExportSpec:
        """The validated spec; InvalidArgument names the first field that is wrong. `now` is the
        API server's time, from which a duration's deadline counts (rounded up to whole seconds)."""
        selector: dict[str, str] | None = None
        if self.selector is not None:
            selector = {}
            for key, value in self.selector:
                if key in selector:
                    raise InvalidArgument(
                        "collector.selector", f"collector.selector: label key {_shown(key)} is given twice."
                    )
                selector[key] = value
        collector = validate_collector(self.node_port, selector, self.targets, self.metrics_port, self.metrics_target)
        spec = validate_start(self.type, collector, self.sampling, self.active_timeout_seconds, self.cache_max_flows)
        duration = validate_duration(self.duration_seconds)
        nodes = validate_node_choice(self.nodes, self.node_selector)
        deadline = None if duration is None else float(math.ceil(now + duration))
        return replace(spec, deadline=deadline, nodes=nodes)
