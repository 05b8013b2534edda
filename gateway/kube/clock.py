"""The API server's clock, as seen from here. A time-boxed export's deadline is a time on the API
server's clock (a laptop or a node whose clock is off must neither shorten nor stretch it), and
every answer the API server gives carries its clock in the `Date` header, to the second.

Each answer bounds the offset (server minus local time): the server wrote `Date: D` at some
server time in [D, D+1) while the request was in flight, between local times `sent` and
`received`, so the offset lies in (D - received, D + 1 - sent). The bounds of many answers
intersect to a narrow interval; the offset used is the point of it nearest zero, so a clock
that agrees with the server's within what the answers can tell is not corrected at all."""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

# An interval older than this is widened again: clocks drift, and one that jumped is re-learned.
RELEARN_AFTER = 3600.0


class ServerClock:
    def __init__(self, wall: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.wall = wall
        self.monotonic = monotonic
        self._low: float | None = None
        self._high: float | None = None
        self._since = 0.0  # monotonic time the interval was started

    def observe(self, sent: float, received: float, date: str | None) -> None:
        """One answer: its `Date` header and the local (wall) times the request went and came back."""
        if not date:
            return
        try:
            server = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return
        low, high = server - received, server + 1.0 - sent
        now = self.monotonic()
        if self._low is None or self._high is None or now - self._since > RELEARN_AFTER:
            self._low, self._high, self._since = low, high, now
            return
        narrowed_low, narrowed_high = max(self._low, low), min(self._high, high)
        if narrowed_low > narrowed_high:
            # The clocks moved against each other (a step of either): start over from this answer.
            self._low, self._high, self._since = low, high, now
            return
        self._low, self._high = narrowed_low, narrowed_high

    @property
    def offset(self) -> float:
        """Seconds to add to the local clock to read the API server's (0 until an answer came)."""
        if self._low is None or self._high is None:
            return 0.0
        return min(max(0.0, self._low), self._high)

    @property
    def uncertainty(self) -> float | None:
        """How wide the interval the offset was taken from is, in seconds (None: no answer yet)."""
        if self._low is None or self._high is None:
            return None
        return self._high - self._low

    def now(self) -> float:
        """The API server's time now, as well as its answers tell."""
        return self.wall() + self.offset
