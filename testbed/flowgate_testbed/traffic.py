"""Continuous UDP between the two pods of a node (about 10 packets per second each way): one
process, one socket in each pod namespace, so the node's flow exporters always have something to
report. Usage: python -m flowgate_testbed.traffic NETNS_A IP_A NETNS_B IP_B PORT"""

from __future__ import annotations

import ctypes
import os
import select
import socket
import sys
import time

CLONE_NEWNET = 0x40000000


def socket_in_netns(netns: str, address: str, port: int) -> socket.socket:
    # A socket belongs to the namespace it was created in, so switch, create, and keep it.
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"cannot enter network namespace {netns}")
    finally:
        os.close(fd)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, port))
    sock.setblocking(False)
    return sock


def main(argv: list[str]) -> int:
    ns_a, ip_a, ns_b, ip_b, port_text = argv
    port = int(port_text)
    a = socket_in_netns(ns_a, ip_a, port)
    b = socket_in_netns(ns_b, ip_b, port)
    sequence = 0
    while True:
        sequence += 1
        try:
            a.sendto(f"ping {sequence}".encode(), (ip_b, port))
        except OSError:
            pass  # e.g. ARP not resolved yet; the next round retries
        deadline = time.monotonic() + 0.1
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([a, b], [], [], left)
            for sock in ready:
                try:
                    data, peer = sock.recvfrom(2048)
                except OSError:
                    continue
                if sock is b:
                    try:
                        b.sendto(b"pong" + data[4:], peer)
                    except OSError:
                        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
