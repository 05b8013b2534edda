"""Continuous UDP between the two pods of a node: FLOWS flows (default 1), each about 10 packets a
second each way, so the node's flow exporters always have something to report and doubling FLOWS
doubles both the flows and the packets they report. Flow i runs from IP_A:PORT+i to IP_B:PORT+i.
One process, one socket per flow end, each made in its pod's namespace.
Usage: python -m flowgate_testbed.traffic NETNS_A IP_A NETNS_B IP_B PORT [FLOWS]"""

from __future__ import annotations

import select
import socket
import sys
import time

from flowgate_testbed.netns import enter

INTERVAL = 0.1  # one packet per flow and direction per interval


def socket_in_netns(netns: str, address: str, port: int) -> socket.socket:
    # A socket belongs to the namespace it was created in, so switch, create, and keep it.
    enter(netns)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, port))
    sock.setblocking(False)
    return sock


def main(argv: list[str]) -> int:
    ns_a, ip_a, ns_b, ip_b, port_text, *rest = argv
    port = int(port_text)
    flows = int(rest[0]) if rest else 1
    senders = [socket_in_netns(ns_a, ip_a, port + i) for i in range(flows)]
    echoes = [socket_in_netns(ns_b, ip_b, port + i) for i in range(flows)]
    echo_set = set(echoes)
    sequence = 0
    while True:
        sequence += 1
        for i, sock in enumerate(senders):
            try:
                sock.sendto(f"ping {sequence}".encode(), (ip_b, port + i))
            except OSError:
                pass  # e.g. ARP not resolved yet; the next round retries
        deadline = time.monotonic() + INTERVAL
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([*senders, *echoes], [], [], left)
            for sock in ready:
                try:
                    data, peer = sock.recvfrom(2048)
                except OSError:
                    continue
                if sock in echo_set:
                    try:
                        sock.sendto(b"pong" + data[4:], peer)
                    except OSError:
                        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
