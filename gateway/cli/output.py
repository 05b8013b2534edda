"""How `kubectl flows` prints: the seed's NAME/STATUS/TYPE/ENDPOINT table (lower-case values,
columns aligned as kubectl aligns them), `-o wide`, `-o json|yaml` in the GraphQL field names,
and the live views of `status --watch`."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

import yaml

from gateway.domain import export_cost

JSON = dict[str, Any]
OUTPUT_FORMATS = ("table", "wide", "json", "yaml")
COLUMNS = ("NAME", "STATUS", "TYPE", "ENDPOINT")
WIDE_COLUMNS = (*COLUMNS, "PACKETS/S", "RECEIVED", "RATE", "MESSAGE", "AGE")
DELIVERY_NOTES = ("WAITING", "NOT_RECEIVED")  # deliveries whose sentence the MESSAGE column shows
EMPTY = ""  # as `kubectl get flows` prints an empty printer column
GAP = "  "  # the seed's table: left-aligned columns, two spaces apart


def human_duration(seconds: float) -> str:
    """kubectl's AGE (k8s.io/apimachinery/pkg/util/duration.HumanDuration)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years, days = hours // 24 // 365, (hours // 24) % 365
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{hours // 24 // 365}y"


def _seconds_since(timestamp: str | None, now: datetime | None) -> float | None:
    if not timestamp:
        return None
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return ((now or datetime.now(UTC)) - then).total_seconds()


def age(timestamp: str | None, now: datetime | None = None) -> str:
    seconds = _seconds_since(timestamp, now)
    return EMPTY if seconds is None else human_duration(seconds)


def _lower(value: Any) -> str:
    return str(value).lower() if value else EMPTY


def row(node: Mapping[str, Any], *, wide: bool = False, now: datetime | None = None) -> tuple[str, ...]:
    """One NodeFlowStatus (GraphQL dict) as table cells."""
    cells: tuple[str, ...] = (
        str(node.get("node") or EMPTY),
        _lower(node.get("state")),
        _lower(node.get("type")),
        str(node.get("endpoint") or EMPTY),
    )
    if wide:
        note = node.get("deliveryMessage") if node.get("delivery") in DELIVERY_NOTES else None
        message = " ".join(str(node.get("message") or note or "").split()) or EMPTY
        cells = (
            *cells,
            packets(node.get("packetsPerSecond")),
            received(node),
            rate(node.get("recordsPerSecond")),
            message,
            age(node.get("updatedAt"), now),
        )
    return cells


def received(node: Mapping[str, Any]) -> str:
    """The delivery verdict as the CLI spells values (lower case, `not-received`); empty for a
    node that is not emitting, where there is nothing to receive."""
    delivery = node.get("delivery")
    if not delivery or (delivery == "UNKNOWN" and node.get("state") != "EMITTING"):
        return EMPTY
    return str(delivery).lower().replace("_", "-")


def packets(value: Any) -> str:
    """A node's traffic into br-int: 850, 12.3k, 1.2M (packets a second)."""
    if not isinstance(value, int | float):
        return EMPTY
    if value >= 1_000_000:
        return f"{value / 1_000_000:.3g}M"
    if value >= 1000:
        return f"{value / 1000:.3g}k"
    return f"{value:.3g}"


def rate(value: Any) -> str:
    if not isinstance(value, int | float):
        return EMPTY
    return f"{value:.3g}/s"


def column_widths(rows: Iterable[Sequence[str]], header: Sequence[str]) -> list[int]:
    widths = [len(h) for h in header]
    for cells in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, cells, strict=False)]
    return widths


def format_line(cells: Sequence[str], widths: Sequence[int]) -> str:
    """Cells padded to `widths`; a cell longer than its column still gets the gap after it."""
    parts = [c.ljust(w) for c, w in zip(cells[:-1], widths, strict=False)]
    return GAP.join([*parts, cells[-1]]).rstrip()


def format_table(nodes: Sequence[Mapping[str, Any]], *, wide: bool = False, now: datetime | None = None) -> list[str]:
    header = WIDE_COLUMNS if wide else COLUMNS
    rows = [row(n, wide=wide, now=now) for n in nodes]
    widths = column_widths(rows, header)
    return [format_line(header, widths), *(format_line(r, widths) for r in rows)]


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2)


def to_yaml(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False)


def render_state(state: Mapping[str, Any], output: str, *, now: datetime | None = None, window: bool = True) -> str:
    """`status` in any -o format: json/yaml print the FlowsState as the API returns it. `window`:
    say above the table when export stops and on how many nodes it runs (a start says it itself)."""
    if output == "json":
        return to_json(state) + "\n"
    if output == "yaml":
        return to_yaml(dict(state))
    nodes = state.get("nodes") or []
    table = "\n".join(format_table(nodes, wide=output == "wide", now=now)) + "\n"
    managed = state.get("operatorExport")
    if managed:
        return f"{managed['message']}\n\n{table}"
    timebox = export_window(state, now) if window else None
    return f"{timebox}\n\n{table}" if timebox else table


def _chosen(state: Mapping[str, Any]) -> str:
    """`on 2 of 3 nodes (nodes node-1, node-2)`, or `on every node`."""
    choice = state.get("nodeChoice") or {}
    summary = state.get("summary") or {}
    if not choice or choice.get("mode") == "all":
        return "on every node"
    return f"on {summary.get('selected', 0)} of {summary.get('total', 0)} nodes ({choice.get('description')})"


def export_window(state: Mapping[str, Any], now: datetime | None = None) -> str | None:
    """When export stops or stopped, and on how many nodes it runs: the line `status` prints above
    the table for an export started for a while or on chosen nodes (nothing for the others)."""
    deadline = state.get("deadline")
    choice = state.get("nodeChoice") or {}
    flow_type = _display_type(state.get("type"))
    if state.get("ended") and deadline:
        ago = _seconds_since(deadline, now) or 0.0
        return f"{flow_type} ended {human_duration(ago)} ago, at its deadline {deadline}; every node stopped by itself."
    if not state.get("enabled") or (not deadline and choice.get("mode") in (None, "all")):
        return None
    if not deadline:
        return f"{flow_type} {_chosen(state)}, until stopped."
    left = -(_seconds_since(deadline, now) or 0.0)
    return f"{flow_type} {_chosen(state)}; stops in {human_duration(max(left, 0.0))} (at {deadline})."


_TYPE_NAMES = {"NETFLOW": "NetFlow", "IPFIX": "IPFIX", "SFLOW": "sFlow"}


def _display_type(value: Any) -> str:
    return _TYPE_NAMES.get(str(value), str(value or "Flow export"))


def describe_collector(collector: Mapping[str, Any] | None) -> str:
    if not collector:
        return "the default collector"
    return str(collector.get("description") or collector.get("mode") or "the collector")


def start_confirmation(
    state: Mapping[str, Any], asked_nodes: Sequence[str] | None = None, now: datetime | None = None
) -> str:
    """What a start did: the type and collector, on which nodes, until when, and the names left out
    for being no node of the cluster (asked to start on the known ones only)."""
    flow_type = _lower(state.get("type"))
    lines = [
        f"Flow export started: {flow_type} to {describe_collector(state.get('collector'))} "
        f"(generation {state.get('generation')})."
    ]
    choice = state.get("nodeChoice") or {}
    if choice and choice.get("mode") != "all":
        lines.append(f"It runs {_chosen(state)}; the others report disabled, not selected.")
    deadline = state.get("deadline")
    if deadline:
        left = max(0.0, -(_seconds_since(deadline, now) or 0.0))
        lines.append(f"Every node stops by itself at {deadline}, in {human_duration(left)}.")
    kept = set(choice.get("names") or ())
    left_out = [n for n in asked_nodes or () if n not in kept]
    if left_out and kept:
        lines.append(f"Left out, being no node of this cluster: {', '.join(left_out)}.")
    return "\n".join(lines)


def describe_setting(projection: Mapping[str, Any]) -> str:
    """`ipfix 1/64, active timeout 60 s`: a projection's setting in the CLI's words."""
    text = _lower(projection.get("type"))
    if projection.get("sampling") is not None:
        text += f" 1/{projection['sampling']}"
    if projection.get("activeTimeoutSeconds") is not None:
        text += f", active timeout {projection['activeTimeoutSeconds']} s"
    if projection.get("cacheMaxFlows") is not None:
        text += f", cache {projection['cacheMaxFlows']} flows"
    return text


RANGE_NOTES = {
    "BELOW": "below the measured rates",
    "ABOVE": "above the measured rates",
    "UNKNOWN": "traffic not reported",
}


def _cost_cells(cost: Mapping[str, Any] | None, memory: bool) -> list[str]:
    if not cost:
        return [EMPTY, EMPTY, EMPTY] + ([EMPTY] if memory else [])
    cells = [
        export_cost.format_cpu(cost["cpuPercentOfCore"], cost["cpuSpread"]),
        export_cost.format_rate(cost["exportBytesPerSecond"]),
        f"{cost['recordsPerSecond']:.3g}",
    ]
    return cells + ([f"+{cost['memoryMib']:.0f} MiB"] if memory else [])


def render_projection(projection: Mapping[str, Any], output: str) -> str:
    """`start --dry-run`: each node's projected cost, the total, the notes and the basis."""
    if output == "json":
        return to_json(projection) + "\n"
    if output == "yaml":
        return to_yaml(dict(projection))
    nodes = projection.get("nodes") or []
    memory = any((n.get("cost") or {}).get("memoryMib", 0) >= 1 for n in nodes)
    header = (
        ["NODE", "PACKETS/S", "OVS-VSWITCHD CPU", "EXPORT", "RECORDS/S"] + (["MEMORY"] if memory else []) + ["NOTE"]
    )
    rows = [
        [
            str(n.get("node")),
            packets(n.get("packetsPerSecond")),
            *_cost_cells(n.get("cost"), memory),
            RANGE_NOTES.get(str(n.get("range")), EMPTY),
        ]
        for n in nodes
    ]
    known = [n["packetsPerSecond"] for n in nodes if isinstance(n.get("packetsPerSecond"), int | float)]
    rows.append(
        ["TOTAL", packets(sum(known)) if known else EMPTY, *_cost_cells(projection.get("total"), memory), EMPTY]
    )
    widths = column_widths(rows, header)
    lines = [
        f"What {describe_setting(projection)} would cost each node at the traffic it carries now "
        "(ovs-vswitchd CPU over export disabled, % of one core ± the measured spread; export to the collector):",
        "",
        format_line(header, widths),
        *(format_line(r, widths) for r in rows),
        "",
    ]
    for note in projection.get("notes") or []:
        lines += textwrap.wrap(note, width=100, initial_indent="- ", subsequent_indent="  ")
    basis = projection.get("basis") or {}
    lines += textwrap.wrap(
        f"Basis: {basis.get('description')}, on {basis.get('machine')}; {basis.get('traffic')}.", width=100
    )
    if projection.get("confirmation"):
        lines += [
            "",
            *textwrap.wrap(f"Above the console's confirmation threshold: {projection['confirmation']}", width=100),
        ]
    lines += ["", "Nothing was changed (--dry-run)."]
    return "\n".join(lines) + "\n"


def stop_confirmation(state: Mapping[str, Any]) -> str:
    return f"Flow export stopped (generation {state.get('generation')})."


class WatchPrinter:
    """Keeps `status --watch` output current. In a terminal it redraws the whole table on each
    change; in a pipe it prints the table once and then one line per changed node, in the same
    columns (as `kubectl get --watch` does), so scripts can read it line by line. Events equal
    to what is already shown (the subscription's snapshot repeating the first table) print
    nothing."""

    CLEAR = "\x1b[H\x1b[2J"

    def __init__(self, out: TextIO, output: str, *, redraw: bool) -> None:
        self.out = out
        self.output = output
        self.redraw = redraw and output in ("table", "wide")
        self.wide = output == "wide"
        self.nodes: dict[str, JSON] = {}
        self.widths: list[int] | None = None

    def start(self, nodes: Sequence[Mapping[str, Any]]) -> None:
        for node in nodes:
            self.nodes[str(node.get("node"))] = dict(node)
        if self.output in ("json", "yaml"):
            for node in nodes:
                self._emit_object(node)
        elif self.redraw:
            self._draw()
        else:
            header = WIDE_COLUMNS if self.wide else COLUMNS
            # Later lines reuse these widths, so leave room for any state, type and IPv4 endpoint.
            widest = ("", "disabled", "netflow", "255.255.255.255:65535", "999k", "not-received", "1e+03/s", "", "")[
                : len(header)
            ]
            self.widths = column_widths([row(n, wide=self.wide) for n in nodes] + [widest], header)
            self._write("\n".join([format_line(header, self.widths), *self._lines(nodes)]) + "\n")

    def update(self, node: Mapping[str, Any]) -> bool:
        """Show one subscription event; False when it changed nothing visible."""
        name = str(node.get("node"))
        previous = self.nodes.get(name)
        if previous is not None and self._shown(previous) == self._shown(node):
            return False
        self.nodes[name] = dict(node)
        if self.output in ("json", "yaml"):
            self._emit_object(node)
        elif self.redraw:
            self._draw()
        else:
            self._write("\n".join(self._lines([node])) + "\n")
        return True

    def _shown(self, node: Mapping[str, Any]) -> Any:
        """What this output shows of a node, so a change nobody could see prints nothing (say,
        an agent's first, empty Flow). AGE and updatedAt only move with real changes."""
        if self.output in ("json", "yaml"):
            return {k: v for k, v in node.items() if k != "updatedAt"}
        return row(node, wide=self.wide)[:-1] if self.wide else row(node)  # every column but AGE

    def _lines(self, nodes: Iterable[Mapping[str, Any]]) -> list[str]:
        assert self.widths is not None
        return [format_line(row(n, wide=self.wide), self.widths) for n in nodes]

    def _draw(self) -> None:
        nodes = [self.nodes[k] for k in sorted(self.nodes)]
        self._write(self.CLEAR + "\n".join(format_table(nodes, wide=self.wide)) + "\n")

    def _emit_object(self, node: Mapping[str, Any]) -> None:
        # One compact JSON document per line, or one YAML document per change.
        if self.output == "json":
            self._write(json.dumps(dict(node)) + "\n")
        else:
            self._write("---\n" + to_yaml(dict(node)))

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
