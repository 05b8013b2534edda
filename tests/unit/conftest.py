"""The unit tier runs anywhere Python runs: no root, no binaries, no network. A test here that
tries to reach beyond this machine's loopback fails at once instead of hanging on a firewall, and
one that waits for something that never comes fails within UNIT_TEST_TIMEOUT seconds instead of
the suite-wide 300 (its own waits, bounded in seconds, should have said what they missed first)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

UNIT_TEST_TIMEOUT = 60  # seconds: every unit test takes a few at most, even on a loaded machine
SLOW_UNIT_TEST_TIMEOUT = 300  # the few marked slow (memory over 100k events, say) keep the suite's

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE not in item.path.parents or item.get_closest_marker("timeout") is not None:
            continue
        seconds = SLOW_UNIT_TEST_TIMEOUT if item.get_closest_marker("slow") else UNIT_TEST_TIMEOUT
        item.add_marker(pytest.mark.timeout(seconds))


def _local(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # a unix socket path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    connect = socket.socket.connect
    connect_ex = socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if not _local(address):
            raise AssertionError(f"a unit test tried to reach {address}; the unit tier uses no network")
        connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        if not _local(address):
            raise AssertionError(f"a unit test tried to reach {address}; the unit tier uses no network")
        return connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    yield
