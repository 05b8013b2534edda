"""The API server as a node sees it: inside every node namespace, 127.0.0.1:PORT leads to the
kube-apiserver listening on 127.0.0.1:PORT outside. A process run in a node namespace (a node
agent, as a hostNetwork pod runs) then uses the same kubeconfig as everything else while reaching
its node's addresses (the collector's node ports) as a real node does.

One process for all nodes: each listening socket is made inside its namespace (a socket keeps the
namespace it was created in), every outgoing connection back here.
Usage: python -m flowgate_testbed.relay PORT NETNS..."""

from __future__ import annotations

import asyncio
import os
import socket
import sys

from flowgate_testbed.netns import setns as _setns

CHUNK = 64 * 1024


def listen_in(netns: str, port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:port inside `netns`; the caller stays where it was."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        _setns(target, netns)
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(64)
            sock.setblocking(False)
        finally:
            _setns(home, "of the relay")
    finally:
        os.close(target)
        os.close(home)
    return sock


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def serve(port: int, namespaces: list[str]) -> None:
    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    servers = [await asyncio.start_server(relay, sock=listen_in(netns, port)) for netns in namespaces]
    print(f"relaying 127.0.0.1:{port} in {', '.join(namespaces)}", flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


def main(argv: list[str]) -> int:
    port, *namespaces = argv
    asyncio.run(serve(int(port), namespaces))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
