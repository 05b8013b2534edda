"""`flowgate`: the one command behind the long-running parts (gateway, node agent). Each subcommand
lives beside the concept it runs and registers itself here."""

from __future__ import annotations

import argparse
import importlib
import sys

from gateway import __version__

# subcommand -> module exposing `register(subparsers)`; imported lazily so `flowgate agent`
# does not pay for GraphQL imports and vice versa.
COMMANDS = {
    "serve": "gateway.server.command",
    "agent": "gateway.agent.command",
    "gather": "gateway.gather.command",
    "addon": "gateway.addon.command",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowgate",
        description="Switch network-flow export (NetFlow, IPFIX, sFlow) on OVN-Kubernetes and watch every node.",
    )
    parser.add_argument("--version", action="version", version=f"flowgate {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMANDS.values():
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
