"""The gql scripts in examples/ work against a running gateway (HTTP and graphql-transport-ws)."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from tests.fixtures.gateway import ROOT, Gateway, flow_export, node_names, report_flow

EXAMPLES = ROOT / "examples"


async def spawn(gateway: Gateway, script: str, *args: str, user: str = "admin") -> asyncio.subprocess.Process:
    env = {**os.environ, "FLOWGATE_URL": gateway.graphql_url, "FLOWGATE_TOKEN": gateway.testbed.token(user)}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / script),
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(process: asyncio.subprocess.Process, timeout: float = 30) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def run(
    gateway: Gateway, script: str, *args: str, user: str = "admin", timeout: float = 30
) -> tuple[int, str, str]:
    return await finish(await spawn(gateway, script, *args, user=user), timeout)


async def test_gql_examples(gateway: Gateway) -> None:
    names = await node_names(gateway.testbed)

    code, out, err = await run(gateway, "query_flows.py", "--json")
    assert code == 0, err
    assert [n["node"] for n in json.loads(out)["nodes"]] == names

    # Follow live while starting: the snapshot (one line per node), changes, until a node emits.
    follower = await spawn(gateway, "subscribe_flows.py", "--until", "emitting")
    assert follower.stdout is not None
    # Start only once the snapshot is printed, however long the script takes to start.
    snapshot = [(await asyncio.wait_for(follower.stdout.readline(), 30)).decode() for _ in names]

    code, out, err = await run(gateway, "start_flows.py", "netflow", "--node-port", "30001")
    assert code == 0, err
    assert "started NETFLOW" in out and out.count("pending") == len(names)
    export = await flow_export(gateway.testbed)
    assert export is not None and export["spec"]["collector"] == {"nodePort": 30001}
    await report_flow(
        gateway.testbed, names[0], "Emitting", export["metadata"]["generation"], endpoint="10.89.0.2:30001"
    )

    code, out, err = await finish(follower)
    assert code == 0, err
    lines = "".join(snapshot).splitlines() + out.splitlines()
    assert [line.split()[1] for line in lines[: len(names)]] == ["disabled"] * len(names)
    assert {line.split()[0] for line in lines if line.split()[1] == "pending"} == set(names)
    assert lines[-1].split() == [names[0], "emitting", "netflow", "10.89.0.2:30001"]

    code, out, err = await run(gateway, "start_flows.py", "netflow", "--node-port", "30001", user="viewer")
    assert code == 1 and err.startswith("FORBIDDEN: ")
    # ...but may ask what a switch would cost: every node, the total and what it stands on.
    code, out, err = await run(gateway, "project_cost.py", "ipfix", "--sampling", "64", user="viewer")
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()[: len(names) + 1]] == [*names, "total"]
    assert out.splitlines()[-1].startswith("basis: the cost table measured")
    code, out, err = await run(gateway, "project_cost.py", "netflow", "--json")
    assert code == 0, err
    assert json.loads(out)["type"] == "NETFLOW"

    code, out, err = await run(gateway, "start_flows.py", "netflow", "--for", "600", "--nodes", f"{names[0]},nope")
    assert code == 1 and "INVALID_ARGUMENT: nodes: 'nope' is no node of this cluster" in err
    code, out, err = await run(
        gateway, "start_flows.py", "netflow", "--for", "600", "--nodes", f"{names[0]},nope", "--ignore-unknown-nodes"
    )
    assert code == 0, err
    assert f"on nodes {names[0]}\nevery node stops by itself at " in out
    assert out.count("disabled") == len(names) - 1  # not selected
    export = await flow_export(gateway.testbed)
    assert export is not None and export["spec"]["nodes"] == [names[0]] and export["spec"]["deadline"]

    code, out, err = await run(gateway, "stop_flows.py")
    assert code == 0, err
    assert out.count("disabled") == len(names)


async def test_examples_say_where_the_gateway_did_not_answer() -> None:
    from flowgate_testbed.testbed import free_port

    url = f"http://127.0.0.1:{free_port()}/graphql"  # nothing listens there
    for script in ("query_flows.py", "subscribe_flows.py"):
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(EXAMPLES / script),
            "--url",
            url,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        code, _, err = await finish(process)
        assert code == 3, err
        assert err.startswith(f"UNREACHABLE: the gateway at {url} did not answer") and "Traceback" not in err, err
