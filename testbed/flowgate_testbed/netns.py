"""Entering a network namespace the testbed made: setns(2) moves the calling thread only, and a
socket keeps the namespace it was created in."""

from __future__ import annotations

import ctypes
import os

CLONE_NEWNET = 0x40000000


def setns(fd: int, what: str) -> None:
    """Move the calling thread into the network namespace open at `fd`."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), f"cannot enter network namespace {what}")


def enter(netns: str) -> None:
    """Move the calling thread into the named namespace (/run/netns/NAME) for good."""
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        setns(fd, netns)
    finally:
        os.close(fd)
