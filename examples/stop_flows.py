"""Stop flow export on every node:

python examples/stop_flows.py --url http://127.0.0.1:8443/graphql --token "$TOKEN"
"""

from __future__ import annotations

import asyncio

from _common import GATEWAY_ERRORS, fail, http_client, parser, request, row


async def main() -> int:
    args = parser("Stop flow export.").parse_args()
    try:
        async with http_client(args) as session:
            result = await session.execute(request("StopFlows"))
    except GATEWAY_ERRORS as error:
        return fail(error, args)
    state = result["stopFlows"]
    print(f"stopped (generation {state['generation']})")
    for status in state["nodes"]:
        print(row(status))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
