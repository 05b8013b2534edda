"""The one retry delay policy: doubling from `initial` up to `maximum`, reset by a success.

Every loop that retries something (a watch reconnecting, the agent's reconcile, a conflicting
write, `kubectl flows status --watch` finding the API server again) takes one of these, so delays
are chosen and tested in one place. `jitter` spreads many clients that failed together (a
restarted API server) so they do not all come back in the same instant."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 30.0,
        *,
        factor: float = 2.0,
        jitter: float = 0.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError(f"backoff needs 0 < initial <= maximum, not {initial} and {maximum}")
        if not 0.0 <= jitter < 1.0:
            raise ValueError(f"backoff jitter is a fraction below 1, not {jitter}")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self._rand = rand
        self._next = initial
        self.failures = 0  # since the last reset

    def next(self) -> float:
        """The delay before the next attempt; each call doubles the following one."""
        delay = self._next
        self._next = min(self._next * self.factor, self.maximum)
        self.failures += 1
        if self.jitter:
            delay *= 1.0 - self.jitter + 2 * self.jitter * self._rand()
        return delay

    def reset(self) -> None:
        self._next = self.initial
        self.failures = 0
