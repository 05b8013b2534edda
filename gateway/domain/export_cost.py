"""What flow export costs a node, as the data-plane benchmark measured it on real Open vSwitch:
ovs-vswitchd CPU and memory over export disabled, and the export traffic sent to the collector,
per type, sampling and packet rate. The figures are in export_cost.json beside this module,
written by `python -m bench` from its run (bench/RESULTS.md); nothing here is typed by hand.
`kubectl flows start --help` and the console (GraphQL `exportCosts`) show them before an admin
switches."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from gateway.domain.errors import FlowgateError
from gateway.domain.model import DEFAULT_IPFIX_SAMPLING, FlowType

TABLE_FILE = "export_cost.json"
# What OVS samples when no sampling is set (ofproto-dpif-sflow.c SFL_DEFAULT_SAMPLING_RATE); the
# agent leaves sFlow's sampling unset unless the admin asks for one.
DEFAULT_SFLOW_SAMPLING = 400


@dataclass(frozen=True)
class ExportCost:
    """One setting at one packet rate, with the table's traffic."""

    type: FlowType
    sampling: int | None  # None: NetFlow, which OVS cannot sample
    packets_per_second: int
    cpu_percent_of_core: float  # ovs-vswitchd, over export disabled (0 when within the spread)
    cpu_spread: float  # the standard deviation over the benchmark's windows
    memory_mib: float  # ovs-vswitchd resident memory, over export disabled
    export_bytes_per_second: float  # flow-export payload arriving at the collector
    export_datagrams_per_second: float
    records_per_second: float
    forwarding_change_percent: float  # the pods' forwarding rate against export disabled

    @property
    def is_default(self) -> bool:
        """The sampling a start without --sampling gets."""
        if self.type is FlowType.IPFIX:
            return self.sampling == DEFAULT_IPFIX_SAMPLING
        return self.type is FlowType.SFLOW and self.sampling == DEFAULT_SFLOW_SAMPLING

    @property
    def setting(self) -> str:
        """`ipfix 1/400`, `netflow`: the words the CLI takes."""
        return self.type.cli_name + (f" 1/{self.sampling}" if self.sampling is not None else "")


@dataclass(frozen=True)
class ExportCostTable:
    measured: str  # when, e.g. 2026-11-29 14:02 UTC
    commit: str
    machine: str
    open_vswitch: str
    active_timeout_seconds: int
    traffic: str  # what was forwarded, in a sentence
    estimates: tuple[ExportCost, ...]

    @property
    def rates(self) -> tuple[int, ...]:
        return tuple(sorted({e.packets_per_second for e in self.estimates}))

    def settings(self) -> list[tuple[FlowType, int | None]]:
        """Every (type, sampling) measured, in the table's order."""
        seen: dict[tuple[FlowType, int | None], None] = {}
        for estimate in self.estimates:
            seen.setdefault((estimate.type, estimate.sampling), None)
        return list(seen)

    def find(self, flow_type: FlowType, sampling: int | None, rate: int) -> ExportCost | None:
        for estimate in self.estimates:
            if (estimate.type, estimate.sampling, estimate.packets_per_second) == (flow_type, sampling, rate):
                return estimate
        return None

    def nearest_sampling(self, flow_type: FlowType, sampling: int | None) -> int | None:
        """The measured sampling closest to `sampling` (on a log scale; the type's default when
        None). NetFlow has none."""
        measured = [s for t, s in self.settings() if t is flow_type and s is not None]
        if not measured:
            return None
        if sampling is None:
            sampling = DEFAULT_IPFIX_SAMPLING if flow_type is FlowType.IPFIX else DEFAULT_SFLOW_SAMPLING
        wanted = max(1, sampling)
        return min(measured, key=lambda s: abs(math.log(s) - math.log(wanted)))


class ExportCostError(FlowgateError):
    """The shipped table cannot be read (an installation fault); the message says what is wrong."""


def parse(data: Mapping[str, Any]) -> ExportCostTable:
    try:
        estimates = tuple(
            ExportCost(
                type=FlowType.parse(str(row["type"])),
                sampling=int(row["sampling"]) if row["sampling"] is not None else None,
                packets_per_second=int(row["packetsPerSecond"]),
                cpu_percent_of_core=float(row["cpuPercentOfCore"]),
                cpu_spread=float(row["cpuSpread"]),
                memory_mib=float(row["memoryMiB"]),
                export_bytes_per_second=float(row["exportBytesPerSecond"]),
                export_datagrams_per_second=float(row["exportDatagramsPerSecond"]),
                records_per_second=float(row["recordsPerSecond"]),
                forwarding_change_percent=float(row["forwardingChangePercent"]),
            )
            for row in data["estimates"]
        )
        table = ExportCostTable(
            measured=str(data["measured"]),
            commit=str(data["commit"]),
            machine=str(data["machine"]),
            open_vswitch=str(data["openVSwitch"]),
            active_timeout_seconds=int(data["activeTimeoutSeconds"]),
            traffic=str(data["traffic"]),
            estimates=estimates,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportCostError(
            f"the export cost table is malformed ({type(exc).__name__}: {exc}); regenerate it with `python -m bench`."
        ) from exc
    if not table.estimates:
        raise ExportCostError("the export cost table has no figures; regenerate it with `python -m bench`.")
    return table


@functools.cache
def load() -> ExportCostTable:
    """The table shipped with this version of flowgate."""
    try:
        data = json.loads(resources.files("gateway.domain").joinpath(TABLE_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise ExportCostError(
            f"the export cost table {TABLE_FILE} cannot be read ({exc}); reinstall flowgate."
        ) from exc
    if not isinstance(data, dict):
        raise ExportCostError(f"the export cost table {TABLE_FILE} is not a JSON object; reinstall flowgate.")
    return parse(data)


def format_rate(bytes_per_second: float) -> str:
    """2.1 kB/s, 310 kB/s, 1.4 MB/s."""
    if bytes_per_second >= 1_000_000:
        return f"{bytes_per_second / 1_000_000:.1f} MB/s"
    kilo = bytes_per_second / 1000
    return f"{kilo:.1f} kB/s" if kilo < 100 else f"{kilo:.0f} kB/s"


def format_cpu(percent: float, spread: float | None = None) -> str:
    """1.2 %, or 1.2±0.8 % with the spread."""
    return f"{percent:.1f} %" if spread is None else f"{percent:.1f}±{spread:.1f} %"
