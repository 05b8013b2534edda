"""Follow every node's flow export state live (graphql-transport-ws): first one line per node,
then a line per change. Ctrl-C to stop, --count N to stop after N lines, --until STATE
once a node reaches that state. When the gateway goes away (a restart, a rollout) it dials again
with backoff and prints the fresh snapshot, so the lines always end on the current state.

    python examples/subscribe_flows.py --url http://127.0.0.1:8443/graphql --token "$TOKEN"
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from _common import GATEWAY_ERRORS, fail, parser, request, row, ws_client
from gql.transport.exceptions import TransportQueryError


async def main() -> int:
    p = parser("Follow node flow export state.")
    p.add_argument("--node", help="only this node")
    p.add_argument("--count", type=int, help="exit after this many lines")
    p.add_argument("--until", metavar="STATE", help="exit once a node reports this state (e.g. emitting)")
    args = p.parse_args()
    seen = 0
    live = False  # once it has worked, losing the gateway is a pause, not the end
    delay = 1.0
    while True:
        try:
            async with ws_client(args) as session:
                async for result in session.subscribe(request("NodeFlowStatus", node=args.node)):
                    if not live or delay > 1.0:
                        delay = 1.0
                    live = True
                    status = result["nodeFlowStatus"]
                    print(row(status), flush=True)
                    seen += 1
                    if args.count is not None and seen >= args.count:
                        return 0
                    if args.until and status["state"].lower() == args.until.lower():
                        return 0
            return 0  # the gateway completed the subscription
        except GATEWAY_ERRORS as error:
            if not live or isinstance(error, TransportQueryError):
                return fail(error, args)
            print(f"lost the gateway at {args.url} ({error or type(error).__name__}); reconnecting in {delay:g}s",
                  file=sys.stderr, flush=True)  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(asyncio.run(main()))
