"""Start (or switch) flow export on every node:

python examples/start_flows.py netflow --node-port 30001
python examples/start_flows.py ipfix --target 10.0.0.5:4739 --sampling 400
"""

from __future__ import annotations

import asyncio
from typing import Any

from _common import GATEWAY_ERRORS, fail, http_client, parser, request, row


async def main() -> int:
    p = parser("Start flow export.")
    p.add_argument("type", choices=("netflow", "ipfix", "sflow"))
    target = p.add_mutually_exclusive_group()
    target.add_argument("--node-port", type=int, help="each node's own InternalIP at this port")
    target.add_argument("--selector", help="k=v[,k=v]: the NodePort Service with these labels")
    target.add_argument("--target", action="append", help="static ip:port collector; repeatable")
    p.add_argument("--sampling", type=int)
    args = p.parse_args()
    collector: dict[str, Any] | None = None
    if args.node_port is not None:
        collector = {"nodePort": args.node_port}
    elif args.selector:
        pairs = (part.partition("=") for part in args.selector.split(","))
        collector = {"selector": [{"key": k, "value": v} for k, _, v in pairs]}
    elif args.target:
        collector = {"targets": args.target}
    try:
        async with http_client(args) as session:
            started = request("StartFlows", type=args.type.upper(), collector=collector, sampling=args.sampling)
            result = await session.execute(started)
    except GATEWAY_ERRORS as error:
        return fail(error, args)
    state = result["startFlows"]
    print(f"started {state['type']} (generation {state['generation']})")
    for status in state["nodes"]:
        print(row(status))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
