"""When the gateway's garbage collector walks what, with thousands of connections open.

Python's full collection walks every object it tracks: with 10,000 idle subscribers that is about
0.7 s in which nobody is sent anything, and under connection churn one comes every twenty seconds
or so (bench/RESULTS.md, "GC under churn"). So what start-up built, and the objects alive after
each wave of new connections, are frozen (gc.freeze): full collections walk only what is newer.

Frozen objects are never collected as cycles, though: a connection that closes after it was frozen
leaves a few of its objects behind (some 20 MiB per 10,000 reconnections, measured). So once the
frozen connections that closed reach half of those open, the policy unfreezes, collects once and
freezes again: one deliberate full collection, when there is the most to gain for what it walks."""

from __future__ import annotations

import gc
from collections.abc import Callable, Collection
from typing import Protocol

WAVE = 200  # new connections since the last freeze that make the next one worth it


class Connection(Protocol):
    frozen: bool


class CollectorPolicy:
    """`freeze`: as above; off: Python's collector as it comes (the benchmark's comparison)."""

    def __init__(self, freeze: bool = True, wave: int = WAVE, on_collect: Callable[[], None] | None = None) -> None:
        self.freeze = freeze
        self.wave = wave
        self.on_collect = on_collect  # told of every collection the policy makes (a metric)
        self.frozen_gone = 0  # connections closed since they were frozen, not yet collected
        self._wave_base = 0

    def started(self) -> None:
        """What start-up built stays for the life of the process: out of the collector's sight."""
        if self.freeze:
            gc.freeze()

    def closed(self, connection: Connection) -> None:
        if connection.frozen:
            self.frozen_gone += 1

    def tick(self, connections: Collection[Connection]) -> None:
        """Called about once a second with the connections open now."""
        if not self.freeze:
            return
        if self.frozen_gone >= max(self.wave, len(connections) // 2):
            gc.unfreeze()
            gc.collect()
            self.frozen_gone = 0
            if self.on_collect is not None:
                self.on_collect()
            self._freeze(connections)
        elif len(connections) - self._wave_base >= self.wave:
            self._freeze(connections)
        elif len(connections) < self._wave_base:
            self._wave_base = len(connections)  # gone again: the next wave counts from here

    def _freeze(self, connections: Collection[Connection]) -> None:
        gc.freeze()
        for connection in connections:
            connection.frozen = True
        self._wave_base = len(connections)
