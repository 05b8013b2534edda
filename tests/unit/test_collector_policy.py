"""The garbage-collection policy: freeze after start-up and after each wave of new connections;
once the frozen connections that closed reach half of those open, unfreeze, collect once and
freeze again; nothing at all when it is off. gc's own calls are recorded, not made."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.server import collector
from gateway.server.collector import CollectorPolicy


class Conn:
    def __init__(self) -> None:
        self.frozen = False


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    made: list[str] = []
    for name in ("freeze", "unfreeze", "collect"):
        monkeypatch.setattr(collector.gc, name, lambda *a, _name=name, **k: made.append(_name))
    return made


def test_waves_are_frozen_and_a_collection_follows_once_half_the_frozen_are_gone(calls: list[str]) -> None:
    collections: list[None] = []
    policy = CollectorPolicy(freeze=True, wave=10, on_collect=lambda: collections.append(None))
    policy.started()
    assert calls == ["freeze"]
    open_: list[Any] = [Conn() for _ in range(9)]
    policy.tick(open_)
    assert calls == ["freeze"]  # not yet a wave
    open_.append(Conn())
    policy.tick(open_)
    assert calls == ["freeze", "freeze"] and all(c.frozen for c in open_)
    late = Conn()
    open_.append(late)
    policy.closed(late)  # never frozen: the collector sees it as usual
    open_.remove(late)
    for gone in open_[:4]:
        policy.closed(gone)
    del open_[:4]
    policy.tick(open_)
    assert calls == ["freeze", "freeze"] and policy.frozen_gone == 4
    for _ in range(6):
        fresh = Conn()
        policy.tick([*open_, fresh])
        policy.closed(fresh)
    assert calls[2:] == [] and policy.frozen_gone == 4  # churn of connections never frozen
    for gone in open_[:6]:
        policy.closed(gone)
    del open_[:6]
    policy.tick(open_)
    assert calls[2:] == ["unfreeze", "collect", "freeze"]
    assert policy.frozen_gone == 0 and len(collections) == 1


def test_a_collection_waits_until_the_gone_are_half_of_those_open(calls: list[str]) -> None:
    policy = CollectorPolicy(freeze=True, wave=10)
    open_: list[Any] = [Conn() for _ in range(100)]
    policy.tick(open_)
    for gone in open_[:30]:
        policy.closed(gone)
    policy.tick(open_[30:])  # 30 gone, 70 open: not yet
    assert "collect" not in calls
    for gone in open_[30:34]:
        policy.closed(gone)
    policy.tick(open_[34:])  # 34 gone, 66 open
    assert calls.count("collect") == 1


def test_off_leaves_python_alone(calls: list[str]) -> None:
    policy = CollectorPolicy(freeze=False, wave=1)
    policy.started()
    conns: list[Any] = [Conn() for _ in range(5)]
    policy.tick(conns)
    for c in conns:
        policy.closed(c)
    policy.tick([])
    assert calls == [] and not any(c.frozen for c in conns)
