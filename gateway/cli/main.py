"""`kubectl flows` / `oc flows`: switch flow export on and off and watch every node's export
state.

kubectl and oc run any `kubectl-flows` / `oc-flows` on PATH with the arguments after `flows`
(never kubectl's own global flags), so this command reads the kubeconfig itself, as kubectl does,
and talks to the API server with it: whatever kubectl works with (tokens, client certificates,
exec plugins, merged KUBECONFIG lists, in-cluster) works here. `--gateway URL` asks a flowgate
gateway instead. Input is validated with the domain core's own rules before anything is sent."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import sys
import textwrap
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn, TextIO

from gateway import __version__
from gateway.cli import completion, output
from gateway.cli.backend import Backend, ClusterBackend, GatewayBackend, Refused, Unreachable
from gateway.client import EndpointError, FlowgateClient, endpoint
from gateway.domain import export_cost
from gateway.domain.errors import InvalidArgument
from gateway.domain.model import (
    FLOW_EXPORT_NAME,
    FLOW_EXPORT_PLURAL,
    FLOW_PLURAL,
    GROUP,
    MAX_DURATION_SECONDS,
    FlowType,
)
from gateway.domain.validation import StartRequest, parse_selector
from gateway.durations import format_duration, parse_duration
from gateway.kube.config import ClusterAccess, KubeConfigError, load_access, load_kubeconfig
from gateway.retry import Backoff

EXIT_OK = 0
EXIT_ERROR = 1  # the cluster or the gateway refused or failed
EXIT_USAGE = 2  # bad command line; nothing was sent
EXIT_UNREACHABLE = 3  # nothing answered where we looked
EXIT_INTERRUPTED = 130

GATEWAY_ENV = "FLOWGATE_GATEWAY"
DEFAULT_TIMEOUT = 30.0

# Domain field -> the flag a user typed, so validation errors name the flag.
FLAG_FOR_FIELD = {
    "collector": "--node-port/--selector/--target",
    "collector.nodePort": "--node-port",
    "collector.selector": "--selector",
    "collector.targets": "--target",
    "collector.metricsPort": "--metrics-port",
    "collector.metricsTarget": "--metrics-target",
    "sampling": "--sampling",
    "activeTimeoutSeconds": "--active-timeout",
    "cacheMaxFlows": "--cache-max-flows",
    "durationSeconds": "--for",
    "nodes": "--nodes",
    "nodeSelector": "--node-selector",
    "ignoreUnknownNodes": "--ignore-unknown-nodes",
}

# Argument names that appear inside sentences about other fields, said as the flags users type.
FLAG_FOR_NAME = {
    "durationSeconds": "--for",
    "nodeSelector": "--node-selector",
    "ignoreUnknownNodes": "--ignore-unknown-nodes",
}


def in_flags(message: str, field: str | None = None) -> str:
    """A domain sentence (which names GraphQL arguments) in the words of the command line."""
    for name, flag in FLAG_FOR_NAME.items():
        message = re.sub(rf"\b{name}\b", flag, message)
    if field is None:
        # From the cluster or the gateway: only its field's own name leads the sentence.
        field = next((f for f in ("nodes",) if message.startswith(f"{f}: ")), None)
        return message if field is None else FLAG_FOR_FIELD[field] + message[len(field) :]
    flag = FLAG_FOR_FIELD.get(field, field)
    message = message.removeprefix(f"{field}: ").replace(field, flag)
    return message if flag in message else f"argument {flag}: {message}"


# What each command needs from RBAC, for refusals that do not say it themselves.
PERMISSION_NEEDED = {
    "start": f'update (and, the first time, create) {FLOW_EXPORT_PLURAL}.{GROUP} "{FLOW_EXPORT_NAME}"',
    "stop": f'update {FLOW_EXPORT_PLURAL}.{GROUP} "{FLOW_EXPORT_NAME}"',
    "status": f"list and watch {FLOW_PLURAL}.{GROUP}, {FLOW_EXPORT_PLURAL}.{GROUP} and nodes",
}

EPILOG = f"""\
exit codes:
  0  success (also when --watch is ended with Ctrl-C)
  1  the cluster or the gateway refused or failed the request, or the kubeconfig cannot be used
     (the message says why)
  2  usage error: bad flag, value or combination; nothing was sent
  3  nothing answered (the message says where it looked)

It talks to the Kubernetes API server with the current kubeconfig context, as kubectl does
(--kubeconfig, $KUBECONFIG, ~/.kube/config, else the pod's service account); --gateway URL or
${GATEWAY_ENV} ask a flowgate gateway instead.
"""


def export_cost_help() -> str:
    """What each type and sampling costs a node, from the table the benchmark measured, for
    `start --help`: the price before the switch."""
    try:
        table = export_cost.load()
    except export_cost.ExportCostError as exc:
        return f"what export costs each node: unknown; {exc.message}\n"
    rows: list[list[str]] = []
    for flow_type, sampling in table.settings():
        row: list[str] = []
        for rate in table.rates:
            estimate = table.find(flow_type, sampling, rate)
            if estimate is None:
                row.append("")
                continue
            if not row or not row[0]:
                row[:1] = [estimate.setting + (" *" if estimate.is_default else "")]
            cell = (
                f"{export_cost.format_cpu(estimate.cpu_percent_of_core, estimate.cpu_spread)}, "
                f"{export_cost.format_rate(estimate.export_bytes_per_second)}"
            )
            if estimate.memory_mib >= 1:
                cell += f", +{estimate.memory_mib:.0f} MiB"
            row.append(cell)
        rows.append(row)
    header = ["SETTING", *(f"AT {rate:,} PACKETS/S" for rate in table.rates)]
    widths = [max(len(r[i]) for r in [header, *rows]) + 3 for i in range(len(header))]
    lines = [
        "what export costs each node, measured: ovs-vswitchd CPU over export disabled (% of one core, ± the",
        "spread over the measurements), export traffic to the collector and, where it grows, ovs-vswitchd",
        "memory, at these packet rates between pods on the node:",
        "",
        *("  " + "".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]),
        "",
        "  * the default sampling. NetFlow cannot sample: its cost follows new connections per second.",
        *textwrap.wrap(
            f"Measured {table.measured} with {table.open_vswitch} (userspace datapath) on {table.machine}; "
            f"{table.traffic}; active timeout {table.active_timeout_seconds} s.",
            width=96,
            initial_indent="  ",
            subsequent_indent="  ",
        ),
        "",
    ]
    return "\n".join(lines)


def program_name(argv0: str | None = None) -> str:
    """`kubectl flows` or `oc flows`, after the executable kubectl/oc found on PATH."""
    base = os.path.basename(argv0 if argv0 is not None else sys.argv[0])
    return "oc flows" if base.startswith("oc") else "kubectl flows"


def _flow_type(text: str) -> FlowType:
    try:
        return FlowType.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.strip().lstrip("-").isdigit():
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, not {value}")
        return value

    return parse


def _selector(text: str) -> dict[str, str]:
    try:
        return parse_selector(text)
    except InvalidArgument as exc:
        raise argparse.ArgumentTypeError(exc.message.removeprefix(f"{exc.field}: ")) from None


def _node_selector(text: str) -> dict[str, str]:
    try:
        return parse_selector(text, "nodeSelector")
    except InvalidArgument as exc:
        raise argparse.ArgumentTypeError(exc.message.removeprefix(f"{exc.field}: ")) from None


def _targets(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _export_duration(text: str) -> float:
    """`--for`: a duration of whole seconds, 1s to 168h (the domain checks the bounds again)."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds != int(seconds) or not 1 <= seconds <= MAX_DURATION_SECONDS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number of seconds from 1s to {format_duration(MAX_DURATION_SECONDS)} (one "
            "week); leave --for out to export until stopped"
        )
    return seconds


def _timeout(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _connection_flags(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: given before or after the command, a flag is kept and never reset to a default.
    group = parser.add_argument_group("connection")
    s = argparse.SUPPRESS
    group.add_argument(
        "--kubeconfig", metavar="PATH", default=s, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
    )
    group.add_argument("--context", default=s, help="kubeconfig context (default: its current-context)")
    group.add_argument("--token", default=s, help="bearer token to act as (default: the kubeconfig user's identity)")
    group.add_argument(
        "--certificate-authority", metavar="FILE", default=s, help="CA bundle to verify the API server or gateway"
    )
    group.add_argument(
        "--insecure-skip-tls-verify", action="store_true", default=s, help="do not verify TLS certificates"
    )
    group.add_argument(
        "--request-timeout", metavar="DURATION", type=_timeout, default=s, help="per request, e.g. 30s (default: 30s)"
    )
    group.add_argument(
        "--gateway",
        metavar="URL",
        default=s,
        help=f"ask the flowgate gateway at URL instead of the API server (default: ${GATEWAY_ENV})",
    )


class _Parser(argparse.ArgumentParser):
    """Usage errors exit with EXIT_USAGE (argparse's own 2), said once on stderr."""

    def error(self, message: str) -> NoReturn:
        # kubectl's shape: the problem, then where help is (the full usage drowns the message).
        self.exit(EXIT_USAGE, f"error: {message}\nSee '{self.prog} --help' for usage.\n")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    prog = prog or program_name()
    formatter = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog=prog,
        usage="%(prog)s COMMAND [flags]",
        description="Switch network-flow export (NetFlow, IPFIX, sFlow) on OVN-Kubernetes and watch every node.",
        epilog=EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"{prog} {__version__}")
    _connection_flags(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    def command(
        name: str, help_text: str, description: str | None = None, usage: str = "", epilog: str = ""
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            prog=f"{prog} {name}",
            help=help_text,
            usage=f"%(prog)s {usage}[flags]".replace("  ", " "),
            description=description or help_text,
            epilog=epilog + (parser.epilog or ""),
            formatter_class=formatter,
        )
        _connection_flags(sub)
        return sub

    start = command(
        "start",
        "start (or switch to) exporting flows of one type, on every node or the ones chosen",
        "Start exporting flows of TYPE on every node, or switch to TYPE; only one type runs at a time.\n"
        "Without a collector flag each node sends to the NodePort Service labelled role=flows-collector,\n"
        "on its own address. --for ends it by itself, --nodes or --node-selector choose the nodes; a new\n"
        "start replaces all of it.",
        "TYPE [--node-port N | --selector k=v[,k=v] | --target IP:PORT ...] [--metrics-port N | --metrics-target "
        "IP:PORT] [--sampling N] [--active-timeout S] [--cache-max-flows N] [--for DURATION] "
        "[--nodes NAME[,NAME] [--ignore-unknown-nodes] | --node-selector k=v[,k=v]] ",
        epilog=export_cost_help() + "\n",
    )
    completion.complete_with(
        start.add_argument("flow_type", metavar="TYPE", type=_flow_type, help="netflow, ipfix or sflow"),
        [t.cli_name for t in FlowType],
    )
    target = start.add_mutually_exclusive_group()
    target.add_argument(
        "--node-port", metavar="N", type=_bounded_int(1, 65535), help="send to each node's own InternalIP at this port"
    )
    target.add_argument(
        "--selector", metavar="k=v[,k=v]", type=_selector, help="send to the NodePort Service with these labels"
    )
    target.add_argument(
        "--target",
        metavar="IP:PORT",
        type=_targets,
        action="append",
        help="a static collector address (repeat, or comma-separate, up to 10)",
    )
    start.add_argument(
        "--metrics-port",
        metavar="N",
        type=_bounded_int(1, 65535),
        help="read the collector's Prometheus metrics on each node's own InternalIP at this port "
        "(default: the collector Service's port named metrics)",
    )
    start.add_argument(
        "--metrics-target",
        metavar="IP:PORT",
        help="with --target: read the collector's Prometheus metrics at this address",
    )
    start.add_argument(
        "--sampling", metavar="N", type=_bounded_int(1, 2**32 - 1), help="sample 1 in N packets (IPFIX, sFlow)"
    )
    start.add_argument(
        "--active-timeout", metavar="S", type=_bounded_int(1, 3600), help="export long-lived flows every S seconds"
    )
    start.add_argument("--cache-max-flows", metavar="N", type=_bounded_int(1, 2**32 - 1), help="IPFIX flow cache size")
    start.add_argument(
        "--dry-run",
        action="store_true",
        help="change nothing: print what this setting would cost each node at the traffic it carries now, and in "
        "total (the same checks as a start; needs only the right to read flow state)",
    )
    start.add_argument(
        "-o",
        "--output",
        choices=output.OUTPUT_FORMATS[:1] + output.OUTPUT_FORMATS[2:],
        default="table",
        help="with --dry-run: table (default), json or yaml",
    )
    start.add_argument(
        "--for",
        dest="duration",
        metavar="DURATION",
        type=_export_duration,
        help="export for this long (e.g. 30m, 4h; at most 168h), then every node stops by itself, on the API "
        "server's clock; starting again sets a new end (default: until stopped)",
    )
    chosen = start.add_mutually_exclusive_group()
    chosen.add_argument(
        "--nodes",
        metavar="NAME[,NAME]",
        type=_names,
        action="append",
        help="export only from these nodes (repeat, or comma-separate); the others report disabled, not selected",
    )
    chosen.add_argument(
        "--node-selector",
        metavar="k=v[,k=v]",
        type=_node_selector,
        help="export only from nodes with these labels; labelling a node later adds it, unlabelling removes it",
    )
    start.add_argument(
        "--ignore-unknown-nodes",
        action="store_true",
        help="with --nodes: start on the names that are nodes of the cluster, leaving out the others (by default "
        "a name that is no node refuses the start)",
    )
    start.set_defaults(run=_run_start)

    stop = command("stop", "stop exporting flows on every node")
    stop.set_defaults(run=_run_stop)

    status = command(
        "status", "show every node's flow export state", usage="[-o table|wide|json|yaml] [--watch] [--node NAME] "
    )
    status.add_argument(
        "-o", "--output", choices=output.OUTPUT_FORMATS, default="table", help="output format (default: table)"
    )
    status.add_argument(
        "-w",
        "--watch",
        action="store_true",
        help="keep the table live (Ctrl-C to stop); one line per change when piped",
    )
    status.add_argument("--node", metavar="NAME", help="only this node")
    status.set_defaults(run=_run_status)

    version = command("version", "print the client version")
    version.set_defaults(run=_run_version)

    shell = command("completion", "print a shell completion script (bash or zsh)", usage="bash|zsh ")
    shell.add_argument("shell", choices=completion.SHELLS)
    shell.set_defaults(run=_run_completion)
    return parser


def start_request(args: argparse.Namespace, parser: argparse.ArgumentParser) -> StartRequest:
    """The domain core's own validation, run before sending, with errors naming the flag."""
    targets = [t for group in args.target for t in group] if args.target else None
    request = StartRequest(
        type=args.flow_type,
        node_port=args.node_port,
        selector=None if args.selector is None else list(args.selector.items()),
        targets=targets,
        metrics_port=args.metrics_port,
        metrics_target=args.metrics_target,
        sampling=args.sampling,
        active_timeout_seconds=args.active_timeout,
        cache_max_flows=args.cache_max_flows,
        duration_seconds=args.duration,
        nodes=[n for group in args.nodes for n in group] if args.nodes else None,
        node_selector=None if args.node_selector is None else list(args.node_selector.items()),
        ignore_unknown_nodes=args.ignore_unknown_nodes,
    )
    if request.ignore_unknown_nodes and request.nodes is None:
        _subparser(parser, "start").error("--ignore-unknown-nodes goes with --nodes")
    try:
        request.spec()
    except InvalidArgument as exc:
        _subparser(parser, "start").error(in_flags(exc.message, exc.field))
    return request


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            sub: argparse.ArgumentParser = action.choices[name]
            return sub
    return parser


class ConfigError(Exception):
    """The kubeconfig or the gateway's address cannot be used; said as one sentence."""


class Context:
    """What a command runs with: the parsed arguments, where output goes, and a backend."""

    def __init__(self, args: argparse.Namespace, parser: argparse.ArgumentParser, out: TextIO, err: TextIO) -> None:
        self.args = args
        self.parser = parser
        self.out = out
        self.err = err
        self.prog = parser.prog

    def option(self, name: str) -> Any:
        return getattr(self.args, name, None)

    @property
    def timeout(self) -> float:
        return float(self.option("request_timeout") or DEFAULT_TIMEOUT)

    async def backend(self) -> Backend:
        gateway = self.option("gateway") or os.environ.get(GATEWAY_ENV)
        if gateway:
            return GatewayBackend(FlowgateClient(await self._gateway_endpoint(gateway), timeout=self.timeout))
        return ClusterBackend(await self._access(), timeout=self.timeout)

    async def _access(self) -> ClusterAccess:
        try:
            access = await load_access(self.option("kubeconfig"), self.option("context"))
        except KubeConfigError as exc:
            raise ConfigError(str(exc)) from None
        configuration = access.configuration
        if self.option("certificate_authority"):
            configuration.ssl_ca_cert = self.option("certificate_authority")
        if self.option("insecure_skip_tls_verify"):
            configuration.verify_ssl = False
        token = self.option("token")
        return access.as_bearer(token) if token else access

    async def _gateway_endpoint(self, url: str) -> Any:
        token = self.option("token")
        if token is None:
            # The kubeconfig lends its user's bearer token; a missing default kubeconfig is fine (a
            # gateway run with --auth none needs none), one named explicitly must load.
            try:
                token = (await load_kubeconfig(self.option("kubeconfig"), self.option("context"))).bearer_token
            except KubeConfigError as exc:
                if self.option("kubeconfig") or self.option("context"):
                    raise ConfigError(str(exc)) from None
        via = "--gateway" if self.option("gateway") else GATEWAY_ENV
        try:
            return endpoint(
                url,
                token,
                ca_file=self.option("certificate_authority"),
                insecure=bool(self.option("insecure_skip_tls_verify")),
                via=via,
            )
        except EndpointError as exc:
            raise ConfigError(str(exc)) from None


def _run_version(ctx: Context) -> int:
    ctx.out.write(f"{ctx.prog} {__version__}\n")
    return EXIT_OK


def _run_completion(ctx: Context) -> int:
    executable = ctx.prog.replace(" ", "-")
    ctx.out.write(completion.script(ctx.args.shell, executable))
    return EXIT_OK


def _run_start(ctx: Context) -> int:
    request = start_request(ctx.args, ctx.parser)
    if ctx.args.output != "table" and not ctx.args.dry_run:
        _subparser(ctx.parser, "start").error("argument -o/--output: only with --dry-run")
    if ctx.args.dry_run:

        async def dry_run() -> dict[str, Any]:
            return await (await ctx.backend()).dry_run(request)

        ctx.out.write(output.render_projection(asyncio.run(dry_run()), ctx.args.output))
        return EXIT_OK

    backend: Backend | None = None

    async def start() -> dict[str, Any]:
        nonlocal backend
        backend = await ctx.backend()
        return await backend.start(request)

    state = asyncio.run(start())
    assert backend is not None
    now = datetime.fromtimestamp(backend.server_time(), UTC)
    confirmation = output.start_confirmation(state, request.nodes, now)
    ctx.out.write(confirmation + "\n\n" + output.render_state(state, "table", now=now, window=False))
    return EXIT_OK


def _run_stop(ctx: Context) -> int:
    async def stop() -> dict[str, Any]:
        return await (await ctx.backend()).stop()

    state = asyncio.run(stop())
    ctx.out.write(output.stop_confirmation(state) + "\n\n" + output.render_state(state, "table"))
    return EXIT_OK


def _only_node(state: dict[str, Any], node: str | None) -> dict[str, Any]:
    if node is None:
        return state
    nodes = [n for n in state.get("nodes") or [] if n.get("node") == node]
    if not nodes:
        raise Refused("NOT_FOUND", f'node "{node}" not found.')
    return {**state, "nodes": nodes}


def _run_status(ctx: Context) -> int:
    if ctx.args.watch:
        return asyncio.run(_watch(ctx, ctx.args.node))

    backend: Backend | None = None

    async def flows() -> dict[str, Any]:
        nonlocal backend
        backend = await ctx.backend()
        return await backend.flows()

    state = _only_node(asyncio.run(flows()), ctx.args.node)
    if not state.get("nodes") and ctx.args.output in ("table", "wide"):
        ctx.err.write("No nodes found.\n")
        return EXIT_OK
    assert backend is not None
    now = datetime.fromtimestamp(backend.server_time(), UTC)
    ctx.out.write(output.render_state(state, ctx.args.output, now=now))
    return EXIT_OK


async def _watch(ctx: Context, node: str | None) -> int:
    """The first table comes from one read (so a pipe gets a header and every row at once); then
    the live snapshot and changes update it. A gateway shutting down (1001) is left for another
    replica at once by the client itself; one that drops the connection otherwise is dialled
    again with backoff; the new snapshot repairs anything missed meanwhile (the API server path
    resumes on its own)."""
    backend = await ctx.backend()
    printer = output.WatchPrinter(ctx.out, ctx.args.output, redraw=ctx.out.isatty())
    printer.start(_only_node(await backend.flows(), node).get("nodes") or [])
    # Jittered: every watcher of a gateway that went away comes back at a different moment.
    backoff = Backoff(1.0, 30.0, jitter=0.5)
    live = False  # once the watch has worked, losing it is a pause, not the end
    while True:
        try:
            async for event in backend.watch(node):
                if live and backoff.failures:
                    ctx.err.write(f"{ctx.prog}: reconnected\n")
                printer.update(event)
                live = True
                backoff.reset()
        except Unreachable as exc:
            if not (live or exc.established):
                raise
            live = True
            delay = backoff.next()
            ctx.err.write(f"{ctx.prog}: lost {backend.where} ({exc.detail}); reconnecting in {delay:.1f}s\n")
            ctx.err.flush()
            await asyncio.sleep(delay)


def report_refusal(ctx: Context, exc: Refused) -> None:
    """The cluster's or gateway's sentence, exactly and once; a hint only where it lacks one."""
    message = in_flags(exc.message) if exc.code == "INVALID_ARGUMENT" else exc.message
    ctx.err.write(message.rstrip() + "\n")
    command = ctx.args.command
    # A dry run only reads: it needs what `status` needs.
    needed = (
        PERMISSION_NEEDED["status" if getattr(ctx.args, "dry_run", False) else command]
        if command in PERMISSION_NEEDED
        else None
    )
    if exc.code == "FORBIDDEN" and needed and "may not" not in exc.message:
        shown = f"{command} --dry-run" if getattr(ctx.args, "dry_run", False) else command
        ctx.err.write(f"{ctx.prog} {shown} needs permission to {needed}.\n")
    elif exc.code == "UNAUTHENTICATED" and not ctx.option("token"):
        ctx.err.write("Log in again, or pass --token.\n")


def report_unreachable(ctx: Context, exc: Unreachable) -> None:
    elsewhere = (
        f"Point {ctx.prog} elsewhere with --gateway URL or {GATEWAY_ENV}=URL."
        if ctx.option("gateway") or os.environ.get(GATEWAY_ENV)
        else f"Check the cluster in your kubeconfig (--kubeconfig, --context), as for kubectl {ctx.prog.split()[-1]}."
    )
    ctx.err.write(f"Cannot reach {exc.where}: {exc.detail}\n{elsewhere}\n")


def _log_to(err: TextIO, prog: str) -> None:
    """Warnings from the watch layer (an API server going away and coming back) as our lines."""
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter(f"{prog}: %(message)s"))
    root = logging.getLogger("gateway")
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    root.propagate = False


def run(
    argv: Sequence[str] | None = None, *, prog: str | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """The whole command, returning its exit code (argparse usage errors raise SystemExit(2))."""
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    ctx = Context(args, parser, out, err)
    _log_to(err, ctx.prog)
    try:
        code: int = args.run(ctx)
        return code
    except Refused as exc:
        report_refusal(ctx, exc)
        return EXIT_ERROR
    except Unreachable as exc:
        report_unreachable(ctx, exc)
        return EXIT_UNREACHABLE
    except ConfigError as exc:
        err.write(f"{exc}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        # Ctrl-C is how a watch ends; anything else was interrupted.
        return EXIT_OK if getattr(args, "watch", False) else EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader (say `| head`) went away: not an error of ours.
        _silence_stdout()
        return EXIT_OK


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def complete_main(argv: Sequence[str] | None = None) -> int:
    """kubectl's plugin completion (`kubectl_complete-flows ARGS… WORD`) and our shell scripts."""
    words = list(sys.argv[1:] if argv is None else argv)
    candidates = completion.complete(build_parser(), words)
    sys.stdout.write("".join(f"{c}\n" for c in candidates) + completion.NO_FILE_COMPLETION + "\n")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    # A shell starting us in the background ignores SIGINT, and kubectl's exec keeps that; a
    # watch must still end on Ctrl-C / SIGINT, as documented.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    words = list(sys.argv[1:] if argv is None else argv)
    if os.path.basename(sys.argv[0]).split("-")[0].endswith("_complete"):
        return complete_main(words)
    if words[:1] == ["__complete"]:
        return complete_main(words[1:])
    return run(words)


if __name__ == "__main__":
    sys.exit(main())
