"""`flowgate gather`: collect flowgate's objects, events, logs and each node's br-int exporters into
a directory, as `oc adm must-gather --image=<flowgate image>` runs it (/usr/bin/gather writes under
/must-gather). Runs with whatever identity it is given; must-gather's is cluster-admin."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway import __version__
from gateway.kube.api import KubeApi
from gateway.kube.config import KubeConfigError, load_access
from gateway.settings import add_arguments, from_arguments, setting


@dataclass(frozen=True)
class GatherSettings:
    dest_dir: str = setting(
        "directory to write into (must-gather copies /must-gather out)", default="/must-gather", metavar="DIR"
    )
    namespace: str = setting("the namespace flowgate runs in", default="flowgate")
    kubeconfig: str | None = setting(
        "kubeconfig to use; without one, as kubectl: $KUBECONFIG, ~/.kube/config, then the pod's service account",
        default=None,
        metavar="PATH",
    )
    log_lines: int = setting("the last lines of each container's log to keep", default=10000, parse=int, metavar="N")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "gather",
        help="collect what support needs (must-gather): flowgate's objects, events, logs, each node's br-int",
        description=(
            "Write FlowExport, every Flow, the ConsolePlugin, recent Events, the gateway's and agents' logs and "
            "each node's br-int exporters as its agent sees them into a directory, in must-gather's layout. "
            "Reads no Secret and writes no credential."
        ),
    )
    add_arguments(parser, GatherSettings)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = from_arguments(GatherSettings, args)
    return asyncio.run(_gather(settings))


async def _gather(settings: GatherSettings) -> int:
    try:
        access = await load_access(settings.kubeconfig)
    except KubeConfigError as exc:
        print(f"flowgate gather: {exc}", file=sys.stderr)
        return 2
    from gateway.gather.collect import gather  # aiohttp and YAML, for this command only

    dest = Path(settings.dest_dir) / "flowgate"
    print(f"flowgate gather {__version__}: collecting into {dest} ...", file=sys.stderr)
    async with KubeApi(access) as api:
        result = await gather(api, dest, settings.namespace, settings.log_lines)
    (Path(settings.dest_dir) / "version").write_text(f"flowgate-must-gather\n{__version__}\n")
    for line in result.notes:
        print(f"  {line}", file=sys.stderr)
    print(
        f"flowgate gather: done; {len(result.notes) - result.failures} parts collected, {result.failures} could not be "
        f"(see {dest / 'gather.log'})",
        file=sys.stderr,
    )
    return 0
