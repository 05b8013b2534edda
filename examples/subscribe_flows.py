"""Follow every node's flow export state live (graphql-transport-ws): first one line per node,
then a line per change. Ctrl-C to stop, --count N to stop after N lines, --until STATE
once a node reaches that state.

    python examples/subscribe_flows.py --url http://127.0.0.1:8443/graphql --token "$TOKEN"
"""

from __future__ import annotations

import asyncio
import contextlib

from _common import GATEWAY_ERRORS, fail, parser, request, row, ws_client


async def main() -> int:
    p = parser("Follow node flow export state.")
    p.add_argument("--node", help="only this node")
    p.add_argument("--count", type=int, help="exit after this many lines")
    p.add_argument("--until", metavar="STATE", help="exit once a node reports this state (e.g. emitting)")
    args = p.parse_args()
    seen = 0
    try:
        async with ws_client(args) as session:
            async for result in session.subscribe(request("NodeFlowStatus", node=args.node)):
                status = result["nodeFlowStatus"]
                print(row(status), flush=True)
                seen += 1
                if args.count is not None and seen >= args.count:
                    break
                if args.until and status["state"].lower() == args.until.lower():
                    break
    except GATEWAY_ERRORS as error:
        return fail(error, args)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(asyncio.run(main()))
