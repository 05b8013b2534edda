"""Many subscribers in one process, each flowgate's own gql client (gateway/client: what scripts
and `kubectl flows --gateway` use), with the same commands as bench/console_subscribers.mjs:

    python -m bench.gql_subscribers URL CLIENTS RATE NODE FIELD

Each client runs `nodeFlowStatus(node: NODE)` and keeps FIELD of each status with the time it was
first shown. On stdin: `when VALUE` (the Unix time each client first showed VALUE, null if not
yet), `latest` (how many clients show each value now), `quit`; one JSON answer a line."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from gateway.client.client import FlowgateClient, GatewayUnreachable
from gateway.client.endpoint import endpoint


async def main() -> int:
    url, clients, rate, node, field = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
    client = FlowgateClient(endpoint(url), timeout=60)
    shown: list[dict[Any, float]] = []
    latest: list[Any] = []

    async def follow(index: int) -> None:
        # As a script would: dial again (after a second) until the first status came; after that
        # the client itself rides out a gateway going away, and any other end is reported.
        while True:
            try:
                async for status in client.node_flow_status(node):
                    value = status.get(field)
                    latest[index] = value
                    shown[index].setdefault(value, time.time())
            except GatewayUnreachable as exc:
                if not shown[index]:
                    await asyncio.sleep(1.0)
                    continue
                latest[index] = f"error: {exc}"
            except Exception as exc:  # reported by `latest`; the others go on
                latest[index] = f"error: {exc}"
            return

    tasks = []
    started = time.monotonic()
    for index in range(clients):
        shown.append({})
        latest.append(None)
        tasks.append(asyncio.create_task(follow(index)))
        behind = started + (index + 1) / rate - time.monotonic()
        if behind > 0:
            await asyncio.sleep(behind)
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        command, _, rest = line.partition(" ")
        if command == "when":
            print(json.dumps([times.get(rest) for times in shown]), flush=True)
        elif command == "latest":
            counts: dict[str, int] = {}
            for value in latest:
                counts[str(value)] = counts.get(str(value), 0) + 1
            print(json.dumps(counts), flush=True)
        elif command in ("quit", ""):
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
