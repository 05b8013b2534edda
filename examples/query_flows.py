"""Print the cluster's flow export state and every node's row:

python examples/query_flows.py --url http://127.0.0.1:8443/graphql --token "$TOKEN"
"""

from __future__ import annotations

import asyncio
import json

from _common import GATEWAY_ERRORS, fail, http_client, parser, request, row


async def main() -> int:
    p = parser("Print flow export state.")
    p.add_argument("--json", action="store_true", help="print the raw result as JSON")
    args = p.parse_args()
    try:
        async with http_client(args) as session:
            result = await session.execute(request("Flows"))
    except GATEWAY_ERRORS as error:
        return fail(error, args)
    flows = result["flows"]
    if args.json:
        print(json.dumps(flows, indent=2))
        return 0
    collector = flows["collector"]["description"] if flows["collector"] else "-"
    print(f"enabled={flows['enabled']} type={flows['type']} collector={collector} network={flows['networkType']}")
    print(f"{'NAME':<20} {'STATUS':<9} {'TYPE':<8} ENDPOINT")
    for status in flows["nodes"]:
        print(row(status))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
