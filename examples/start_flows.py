"""Start (or switch) flow export, on every node or the ones chosen, until stopped or for a while:

python examples/start_flows.py netflow --node-port 30001
python examples/start_flows.py ipfix --target 10.0.0.5:4739 --sampling 400
python examples/start_flows.py netflow --for 1800 --nodes node-1,node-2
python examples/start_flows.py sflow --node-selector zone=a
"""

from __future__ import annotations

import asyncio
from typing import Any

from _common import GATEWAY_ERRORS, fail, http_client, parser, request, row


def labels(text: str) -> list[dict[str, str]]:
    pairs = (part.partition("=") for part in text.split(","))
    return [{"key": k, "value": v} for k, _, v in pairs]


async def main() -> int:
    p = parser("Start flow export.")
    p.add_argument("type", choices=("netflow", "ipfix", "sflow"))
    target = p.add_mutually_exclusive_group()
    target.add_argument("--node-port", type=int, help="each node's own InternalIP at this port")
    target.add_argument("--selector", help="k=v[,k=v]: the NodePort Service with these labels")
    target.add_argument("--target", action="append", help="static ip:port collector; repeatable")
    p.add_argument("--sampling", type=int)
    p.add_argument("--for", dest="duration", type=int, metavar="SECONDS", help="then every node stops by itself")
    chosen = p.add_mutually_exclusive_group()
    chosen.add_argument("--nodes", help="name[,name]: only these nodes")
    chosen.add_argument("--node-selector", help="k=v[,k=v]: only the nodes with these labels")
    p.add_argument("--ignore-unknown-nodes", action="store_true", help="with --nodes: leave out names that are no node")
    args = p.parse_args()
    collector: dict[str, Any] | None = None
    if args.node_port is not None:
        collector = {"nodePort": args.node_port}
    elif args.selector:
        collector = {"selector": labels(args.selector)}
    elif args.target:
        collector = {"targets": args.target}
    try:
        async with http_client(args) as session:
            started = request(
                "StartFlows",
                type=args.type.upper(),
                collector=collector,
                sampling=args.sampling,
                durationSeconds=args.duration,
                nodes=args.nodes.split(",") if args.nodes else None,
                nodeSelector=labels(args.node_selector) if args.node_selector else None,
                ignoreUnknownNodes=args.ignore_unknown_nodes,
            )
            result = await session.execute(started)
    except GATEWAY_ERRORS as error:
        return fail(error, args)
    state = result["startFlows"]
    print(f"started {state['type']} (generation {state['generation']}) on {state['nodeChoice']['description']}")
    if state["deadline"]:
        print(f"every node stops by itself at {state['deadline']}")
    for status in state["nodes"]:
        print(row(status))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
