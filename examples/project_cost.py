"""What a start would cost each node at the traffic it carries now (a query: nothing changes):

python examples/project_cost.py ipfix --sampling 64
python examples/project_cost.py netflow --json
"""

from __future__ import annotations

import asyncio
import json

from _common import GATEWAY_ERRORS, fail, http_client, parser, request


def _figures(cost: dict[str, float] | None) -> str:
    if cost is None:
        return "traffic not reported"
    return (
        f"{cost['cpuPercentOfCore']:.1f}±{cost['cpuSpread']:.1f} % of a core, "
        f"{cost['exportBytesPerSecond'] / 1000:.1f} kB/s, {cost['recordsPerSecond']:.3g} records/s"
    )


async def main() -> int:
    p = parser("Project the cost of starting flow export.")
    p.add_argument("type", choices=("netflow", "ipfix", "sflow"))
    p.add_argument("--sampling", type=int)
    p.add_argument("--active-timeout", type=int)
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    args = p.parse_args()
    try:
        async with http_client(args) as session:
            asked = request(
                "ExportProjection",
                type=args.type.upper(),
                sampling=args.sampling,
                activeTimeoutSeconds=args.active_timeout,
            )
            result = await session.execute(asked)
    except GATEWAY_ERRORS as error:
        return fail(error, args)
    projection = result["exportProjection"]
    if args.json:
        print(json.dumps(projection, indent=2))
        return 0
    for node in projection["nodes"]:
        rate = node["packetsPerSecond"]
        traffic = f"{rate:,.0f} packets/s" if rate is not None else "?"
        print(f"{node['node']:<20} {traffic:>18}  {_figures(node['cost'])}")
    print(f"{'total':<20} {'':>18}  {_figures(projection['total'])}")
    for note in projection["notes"]:
        print(f"- {note}")
    print(f"basis: {projection['basis']['description']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
