"""`flowgate-testbed`: start and stop local test clusters, or run the demo."""

from __future__ import annotations

import argparse
import sys

from flowgate_testbed import command, demo


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowgate-testbed",
        description="A real local cluster to develop and test flowgate on: etcd + kube-apiserver, simulated "
        "OVN-Kubernetes nodes with real Open vSwitch, and goflow2 collectors.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="up|down|demo", required=True)
    command.register(subparsers)
    demo.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
