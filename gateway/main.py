"""`flowgate`: the one command behind every long-running part (gateway, node agent, testbed, demo).
Each subcommand lives beside the concept it runs and registers itself here."""

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
    "testbed": "gateway.testbed.command",
    "demo": "gateway.testbed.demo",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowgate",
        description="Switch network-flow export (NetFlow, IPFIX, sFlow) on OVN-Kubernetes and watch every node.",
    )
    parser.add_argument("--version", action="version", version=f"flowgate {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMANDS.values():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
