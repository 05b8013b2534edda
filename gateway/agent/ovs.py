"""OVS flow export on one bridge: the ovs-vsctl transaction OVN-Kubernetes itself runs, and the
read-back that tells the agent what the bridge really has.

The builder and the parser are pure; `OvsBridge` runs them against one ovsdb-server."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.domain.delivery import ExporterCounts
from gateway.domain.model import DEFAULT_ACTIVE_TIMEOUT_SECONDS, DEFAULT_IPFIX_SAMPLING, FlowExportSpec, FlowType

log = logging.getLogger("flowgate.agent")

DEFAULT_BRIDGE = "br-int"
DEFAULT_SFLOW_AGENT = "ovn-k8s-mp0"  # OVN-Kubernetes' management port, its sFlow agent address
DEFAULT_OVS_RUNDIR = "/var/run/openvswitch"

# The OVSDB table and Bridge column for each type (the column names are the table names, lower-cased).
_TABLES: Mapping[FlowType, str] = {FlowType.NETFLOW: "NetFlow", FlowType.IPFIX: "IPFIX", FlowType.SFLOW: "sFlow"}
_COLUMNS: Mapping[FlowType, str] = {FlowType.NETFLOW: "netflow", FlowType.IPFIX: "ipfix", FlowType.SFLOW: "sflow"}


@dataclass(frozen=True)
class ExportSettings:
    """One export row as OVS stores it. Fields that do not apply to `type` stay None, so two
    settings compare equal exactly when OVS would behave the same."""

    type: FlowType
    targets: tuple[str, ...]
    active_timeout: int | None = None  # NetFlow active_timeout, IPFIX cache_active_timeout
    sampling: int | None = None  # IPFIX, sFlow
    cache_max_flows: int | None = None  # IPFIX
    agent: str | None = None  # sFlow

    def normalized(self) -> ExportSettings:
        """Targets as a sorted set: OVSDB stores a set, so order never means drift."""
        return ExportSettings(
            self.type,
            tuple(sorted(set(self.targets))),
            self.active_timeout,
            self.sampling,
            self.cache_max_flows,
            self.agent,
        )

    def describe(self) -> str:
        parts = [f"{self.type.value} to {','.join(self.targets)}"]
        if self.active_timeout is not None:
            parts.append(f"active timeout {self.active_timeout}s")
        if self.sampling is not None:
            parts.append(f"sampling 1 in {self.sampling}")
        if self.cache_max_flows is not None:
            parts.append(f"cache {self.cache_max_flows} flows")
        if self.agent is not None:
            parts.append(f"agent {self.agent}")
        return ", ".join(parts)


def desired_settings(spec: FlowExportSpec, targets: Sequence[str], sflow_agent: str) -> ExportSettings | None:
    """What OVS should hold for this spec, with OVN-Kubernetes' defaults filled in (NetFlow and
    IPFIX active timeout 60 s, IPFIX sampling 400; sFlow sampling only when asked for)."""
    if spec.type is None:
        return None
    timeout = spec.active_timeout_seconds or DEFAULT_ACTIVE_TIMEOUT_SECONDS
    if spec.type is FlowType.NETFLOW:
        return ExportSettings(FlowType.NETFLOW, tuple(targets), active_timeout=timeout)
    if spec.type is FlowType.IPFIX:
        return ExportSettings(
            FlowType.IPFIX,
            tuple(targets),
            active_timeout=timeout,
            sampling=spec.sampling or DEFAULT_IPFIX_SAMPLING,
            cache_max_flows=spec.cache_max_flows,
        )
    return ExportSettings(FlowType.SFLOW, tuple(targets), sampling=spec.sampling, agent=sflow_agent)


def _ovsdb_set(values: Sequence[str]) -> str:
    return "[" + ",".join(json.dumps(v) for v in values) + "]"


def build_transaction(bridge: str, settings: ExportSettings | None) -> list[str]:
    """The ovs-vsctl arguments, in one transaction, that OVN-Kubernetes'
    default_node_network_controller uses: clear all three exporters, then create the one asked
    for. Clearing first is what makes switching types safe (OVS refuses nothing, but two
    exporters on one bridge would double-report)."""
    args: list[str] = []
    for column in ("netflow", "sflow", "ipfix"):
        args += ["--", "clear", "bridge", bridge, column]
    if settings is None:
        return args
    column = _COLUMNS[settings.type]
    create = ["--", f"--id=@{column}", "create", column, f"targets={_ovsdb_set(settings.targets)}"]
    if settings.type is FlowType.NETFLOW:
        create.append(f"active_timeout={settings.active_timeout}")
    elif settings.type is FlowType.SFLOW:
        create.insert(4, f"agent={settings.agent}")
        if settings.sampling is not None:
            create.append(f"sampling={settings.sampling}")
    else:
        create.append(f"cache_active_timeout={settings.active_timeout}")
        if settings.cache_max_flows is not None:
            create.append(f"cache_max_flows={settings.cache_max_flows}")
        if settings.sampling is not None:
            create.append(f"sampling={settings.sampling}")
    return args + create + ["--", "set", "bridge", bridge, f"{column}=@{column}"]


# -- reading back ------------------------------------------------------------------------------

READ_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "NetFlow": ("_uuid", "targets", "active_timeout"),
    "IPFIX": ("_uuid", "targets", "sampling", "cache_active_timeout", "cache_max_flows"),
    "sFlow": ("_uuid", "agent", "targets", "sampling"),
}


def build_read(bridge: str) -> list[str]:
    """One read-only ovs-vsctl run: the bridge's three columns, every exporter row, and the
    configuration counters that say whether ovs-vswitchd has applied what the database holds."""
    args = ["--format=json", "--", "--columns=netflow,sflow,ipfix", "list", "Bridge", bridge]
    for table, columns in READ_COLUMNS.items():
        args += ["--", f"--columns={','.join(columns)}", "list", table]
    return [*args, "--", "--columns=next_cfg,cur_cfg", "list", "Open_vSwitch"]


@dataclass(frozen=True)
class BridgeReading:
    exporters: tuple[ExportSettings, ...]
    # ovs-vswitchd has not caught up with the database: the rows exist but nothing is exported.
    vswitchd_behind: bool = False


def _atoms(value: Any) -> list[Any]:
    """OVSDB JSON: a one-element set prints as the bare atom, others as ["set", [...]]."""
    if isinstance(value, list) and len(value) == 2 and value[0] == "set":
        return list(value[1])
    return [value]


def _uuid(value: Any) -> str | None:
    if isinstance(value, list) and len(value) == 2 and value[0] == "uuid":
        return str(value[1])
    return None


def _optional_int(value: Any) -> int | None:
    atoms = _atoms(value)
    return int(atoms[0]) if atoms else None


def parse_read(output: str) -> BridgeReading:
    """Every exporter the bridge references, from `build_read`'s output (normally zero or one;
    more means someone configured several behind the agent's back)."""
    tables = [json.loads(line) for line in output.splitlines() if line.strip()]
    if len(tables) != 5:
        raise ValueError(f"expected 5 tables from ovs-vsctl, got {len(tables)}")
    behind = False
    for raw in tables[4]["data"]:
        counters = dict(zip(tables[4]["headings"], raw, strict=True))
        behind = (_optional_int(counters["cur_cfg"]) or 0) < (_optional_int(counters["next_cfg"]) or 0)
    bridge = tables[0]
    if not bridge["data"]:
        return BridgeReading((), behind)
    referenced = dict(zip(bridge["headings"], bridge["data"][0], strict=True))
    found: list[ExportSettings] = []
    for flow_type, table in zip((FlowType.NETFLOW, FlowType.IPFIX, FlowType.SFLOW), tables[1:4], strict=True):
        wanted = {_uuid(v) for v in _atoms(referenced.get(_COLUMNS[flow_type]))}
        for raw in table["data"]:
            row = dict(zip(table["headings"], raw, strict=True))
            if _uuid(row["_uuid"]) not in wanted:
                continue
            targets = tuple(str(t) for t in _atoms(row["targets"]))
            if flow_type is FlowType.NETFLOW:
                found.append(ExportSettings(flow_type, targets, active_timeout=_optional_int(row["active_timeout"])))
            elif flow_type is FlowType.IPFIX:
                found.append(
                    ExportSettings(
                        flow_type,
                        targets,
                        active_timeout=_optional_int(row["cache_active_timeout"]),
                        sampling=_optional_int(row["sampling"]),
                        cache_max_flows=_optional_int(row["cache_max_flows"]),
                    )
                )
            else:
                agent = _atoms(row["agent"])
                found.append(
                    ExportSettings(
                        flow_type,
                        targets,
                        sampling=_optional_int(row["sampling"]),
                        agent=str(agent[0]) if agent else None,
                    )
                )
    return BridgeReading(tuple(found), behind)


def matches(observed: Sequence[ExportSettings], desired: ExportSettings | None) -> bool:
    """True when the bridge holds exactly the desired exporter (or none, when stopped)."""
    if desired is None:
        return not observed
    return len(observed) == 1 and observed[0].normalized() == desired.normalized()


def describe_observed(observed: Sequence[ExportSettings]) -> str:
    return "; ".join(s.describe() for s in observed) if observed else "no flow export"


# -- the traffic export cost follows ----------------------------------------------------------
#
# Packets entering the bridge: each of its ports' `rx pkts`, from `ovs-ofctl dump-ports BRIDGE` (an
# OpenFlow port-stats request answered by ovs-vswitchd with the counters as they are now; the
# copy it writes to its database is refreshed only every 5 s, too coarse for a rate over a few
# readings). gateway/domain/traffic.py says why this is the count export's cost follows.

_PORT_RX = re.compile(r"^\s*port\s+(\S+?):\s+rx pkts=(\d+|\?)", re.M)


def parse_port_stats(output: str) -> dict[str, float]:
    """`rx pkts` of every port in `ovs-ofctl dump-ports`'s answer, by port (number, name or
    LOCAL); ports whose counter OVS does not know (`?`) are left out."""
    if "OFPST_PORT reply" not in output:
        raise ValueError("no port statistics in the answer")
    return {port: float(rx) for port, rx in _PORT_RX.findall(output) if rx != "?"}


# -- OVS's own exporter counters ---------------------------------------------------------------
#
# Only IPFIX has any in OVS 3.1: `ovs-ofctl dump-ipfix-bridge BRIDGE` (an NXST_IPFIX_BRIDGE
# request) answers `flows` (cache entries created, each becoming one data record), `current
# flows` (still in the cache), `sampled pkts`, `tx pkts` (messages sent, templates included) and
# `tx errs`. NetFlow and sFlow keep no counters OVS shows: ofproto/netflow.c and
# ofproto-dpif-sflow.c register no unixctl command, OpenFlow has no statistics request for them
# and no coverage counter counts their datagrams.

# Any OpenFlow version: OVN-Kubernetes' br-int may refuse OpenFlow 1.0, ovs-ofctl's default.
OFCTL_VERSIONS = "OpenFlow10,OpenFlow11,OpenFlow12,OpenFlow13,OpenFlow14,OpenFlow15"
_IPFIX_STAT = re.compile(r"([a-z0-9 ]+?)=(\d+)")


def parse_ipfix_stats(output: str) -> ExporterCounts | None:
    """`ovs-ofctl dump-ipfix-bridge`'s answer; None when the bridge runs no IPFIX exporter."""
    if "bridge ipfix:" not in output:
        return None
    stats = {name.strip().strip(",").strip(): int(value) for name, value in _IPFIX_STAT.findall(output)}
    try:
        return ExporterCounts(
            sampled_packets=stats["sampled pkts"],
            sent_records=max(0, stats["flows"] - stats["current flows"]),
            sent_packets=stats["tx pkts"],
            send_errors=stats["tx errs"],
        )
    except KeyError as exc:
        raise ValueError(f"ovs-ofctl dump-ipfix-bridge printed no {exc.args[0]!r}") from None


# -- running -----------------------------------------------------------------------------------


class OvsError(Exception):
    """OVS could not be reached or refused the change; the message is the sentence to report."""


async def _complete(
    argv: Sequence[str],
    timeout: float,
    *,
    cannot_run: Callable[[OSError], str],
    no_answer: str,
    env: dict[str, str] | None = None,
) -> tuple[int, bytes, bytes]:
    """Run an OVS client to its end within `timeout`: its exit code, stdout and stderr. Timed out,
    or cancelled (SIGTERM mid-transaction), it is killed and reaped, never left behind."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
    except OSError as exc:
        raise OvsError(cannot_run(exc)) from exc
    try:
        async with asyncio.timeout(timeout):
            stdout, stderr = await proc.communicate()
    except TimeoutError:
        raise OvsError(no_answer) from None
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, stdout, stderr


class OvsBridge:
    """One bridge on one ovsdb-server, driven through ovs-vsctl.

    Without `no_wait`, ovs-vsctl returns only after ovs-vswitchd has applied the change, so a
    successful apply means the exporter is really running, not just stored."""

    def __init__(
        self,
        bridge: str = DEFAULT_BRIDGE,
        rundir: str | None = None,
        *,
        timeout: float = 10.0,
        no_wait: bool = False,
        executable: str = "ovs-vsctl",
        ofctl: str = "ovs-ofctl",
    ) -> None:
        self.bridge = bridge
        self.rundir = rundir or os.environ.get("OVS_RUNDIR") or DEFAULT_OVS_RUNDIR
        self.db = f"unix:{os.path.join(self.rundir, 'db.sock')}"
        self.timeout = timeout
        self.no_wait = no_wait
        self.executable = executable
        self.ofctl = ofctl

    async def _run(self, args: Sequence[str]) -> str:
        command = [self.executable, f"--db={self.db}", f"--timeout={max(1, int(self.timeout))}"]
        if self.no_wait:
            command.append("--no-wait")
        env = {**os.environ, "OVS_RUNDIR": self.rundir}
        returncode, stdout, stderr = await _complete(
            [*command, *args],
            self.timeout + 2,
            env=env,
            cannot_run=lambda exc: f"OVS not reachable at {self.db}: cannot run {self.executable} ({exc.strerror}).",
            no_answer=f"OVS not reachable at {self.db}: ovs-vsctl gave no answer within {self.timeout:.0f}s; "
            "check that ovsdb-server and ovs-vswitchd are running.",
        )
        if returncode != 0:
            raise OvsError(self._explain(returncode, stderr.decode(errors="replace").strip()))
        return stdout.decode(errors="replace")

    def _explain(self, returncode: int | None, stderr: str) -> str:
        if returncode == -signal.SIGALRM or "Alarm clock" in stderr:
            # ovs-vsctl's own --timeout: the database took the change but ovs-vswitchd never
            # confirmed it, or the database itself did not answer.
            return (
                f"OVS not reachable at {self.db}: no confirmation within {self.timeout:.0f}s; "
                "check that ovsdb-server and ovs-vswitchd are running."
            )
        last = stderr.splitlines()[-1] if stderr else "ovs-vsctl failed without a message"
        last = last.removeprefix("ovs-vsctl: ").removeprefix(f"{self.db}: ")
        if f'no row "{self.bridge}" in table Bridge' in last or f"no bridge named {self.bridge}" in last:
            return f"OVS at {self.db} has no bridge {self.bridge}; is OVN-Kubernetes running on this node?"
        if "timeout" in last.lower() or "database connection failed" in last or "No such file" in last:
            return f"OVS not reachable at {self.db}: {last}."
        return f"OVS at {self.db} refused the change: {last}."

    async def read(self) -> tuple[ExportSettings, ...]:
        """The exporters the bridge really runs."""
        loop = asyncio.get_running_loop()
        # Someone else's change may be in flight: give ovs-vswitchd a moment before calling it absent.
        patience = loop.time() + min(self.timeout, 2.0)
        while True:
            output = await self._run(build_read(self.bridge))
            try:
                reading = parse_read(output)
            except (ValueError, KeyError, TypeError) as exc:
                raise OvsError(f"OVS at {self.db} answered in a form flowgate does not understand: {exc}.") from exc
            if not reading.vswitchd_behind or self.no_wait:
                return reading.exporters
            if loop.time() >= patience:
                raise OvsError(
                    f"OVS not reachable at {self.db}: ovs-vswitchd has not applied the database's configuration; "
                    "check that ovs-vswitchd is running."
                )
            await asyncio.sleep(0.1)

    async def apply(self, settings: ExportSettings | None) -> None:
        await self._run(build_transaction(self.bridge, settings))

    async def check_vswitchd(self) -> None:
        """Raises OvsError unless ovs-vswitchd answers on its control socket. The database alone
        says nothing about export: with ovs-vswitchd gone it still holds the exporter, and no
        packet is sampled. Asked over OVS's own JSON-RPC (`version`), as ovs-appctl does."""
        pidfile = os.path.join(self.rundir, "ovs-vswitchd.pid")
        down = "so br-int exports nothing; flowgate checks again until it is back"
        try:
            pid = int((await asyncio.to_thread(Path(pidfile).read_text)).strip())
        except (OSError, ValueError):
            raise OvsError(f"ovs-vswitchd is not running on this node (no pid in {pidfile}), {down}.") from None
        ctl = os.path.join(self.rundir, f"ovs-vswitchd.{pid}.ctl")
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(min(self.timeout, 5.0)):
                reader, writer = await asyncio.open_unix_connection(ctl)
                writer.write(b'{"method":"version","params":[],"id":0}')
                await writer.drain()
                reply = await reader.read(65536)
            if b'"result"' not in reply:
                raise OvsError(f"ovs-vswitchd on this node did not answer at {ctl}, {down}.")
        except TimeoutError:
            raise OvsError(f"ovs-vswitchd on this node did not answer at {ctl} within 5s, {down}.") from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise OvsError(f"ovs-vswitchd is not running on this node ({ctl}: {reason}), {down}.") from None
        finally:
            if writer is not None:
                writer.close()

    async def _ofctl(self, command: str, what: str) -> str:
        """`ovs-ofctl COMMAND` against the bridge's management socket (any OpenFlow version), its answer."""
        target = f"unix:{os.path.join(self.rundir, self.bridge + '.mgmt')}"
        argv = [self.ofctl, "-O", OFCTL_VERSIONS, f"--timeout={max(1, int(self.timeout))}", command, target]
        returncode, stdout, stderr = await _complete(
            argv,
            self.timeout + 2,
            cannot_run=lambda exc: f"cannot run {self.ofctl} to read {what} ({exc.strerror}).",
            no_answer=f"{self.ofctl} {command} {target} gave no answer within {self.timeout:.0f}s.",
        )
        if returncode != 0:
            last = stderr.decode(errors="replace").strip().splitlines()
            raise OvsError(f"{self.ofctl} {command} {target} failed: {last[-1] if last else returncode}.")
        return stdout.decode(errors="replace")

    async def ipfix_stats(self) -> ExporterCounts | None:
        """OVS's own IPFIX counters for the bridge (None when it exports no IPFIX)."""
        output = await self._ofctl("dump-ipfix-bridge", "OVS's IPFIX counters")
        try:
            return parse_ipfix_stats(output)
        except ValueError as exc:
            raise OvsError(f"OVS answered dump-ipfix-bridge in a form flowgate does not understand: {exc}.") from exc

    async def received_packets(self) -> dict[str, float]:
        """`rx pkts` of each of the bridge's ports, by port: the packets that entered the bridge,
        counted by ovs-vswitchd up to now."""
        output = await self._ofctl("dump-ports", "the bridge's packet counters")
        try:
            return parse_port_stats(output)
        except ValueError as exc:
            raise OvsError(f"OVS answered dump-ports in a form flowgate does not understand: {exc}.") from exc

    async def monitor(self, on_change: Callable[[], None], *, retry_max: float = 30.0) -> None:
        """Call on_change whenever the bridge's exporter columns change (and whenever the
        database comes back after an outage), until cancelled. Edits inside an exporter row are
        left to the periodic resync; what an ovnkube-node restart or an admin's `clear` does is
        seen at once."""
        command = [
            "ovsdb-client",
            "--format=json",
            "monitor",
            self.db,
            "Open_vSwitch",
            "Bridge",
            "name,netflow,sflow,ipfix",
        ]
        delay = 1.0
        complained = False
        while True:
            proc: asyncio.subprocess.Process | None = None
            try:
                proc = await asyncio.create_subprocess_exec(
                    *command,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                assert proc.stdout is not None
                async for _line in proc.stdout:
                    on_change()
                    delay, complained = 1.0, False
                stderr = (await proc.stderr.read()).decode(errors="replace").strip() if proc.stderr else ""
                await proc.wait()
                why = stderr.splitlines()[-1] if stderr else f"ovsdb-client exited with {proc.returncode}"
            except OSError as exc:
                why = f"cannot run ovsdb-client ({exc.strerror})"
            finally:
                if proc is not None and proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            if not complained:
                log.warning(
                    "cannot watch OVS at %s for changes (%s); drift is still repaired at every resync", self.db, why
                )
                complained = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, retry_max)
