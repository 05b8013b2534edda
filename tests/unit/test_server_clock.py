"""The API server's clock as its answers' Date headers tell it: corrected only as far as they
say, to within the width of what they allow."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

from gateway.kube.clock import RELEARN_AFTER, ServerClock


def date(at: float) -> str:
    """An HTTP Date header written at server time `at` (whole seconds, rounded down)."""
    return format_datetime(datetime.fromtimestamp(int(at), UTC), usegmt=True)


class Clocks:
    def __init__(self, skew: float) -> None:
        self.local = 1_800_000_000.0
        self.skew = skew  # server minus local
        self.mono = 0.0
        self.clock = ServerClock(wall=lambda: self.local, monotonic=lambda: self.mono)

    def answer(self, rtt: float = 0.004, at: float = 0.5) -> None:
        """One request taking `rtt`, answered `at` of the way through it."""
        sent = self.local
        server = sent + rtt * at + self.skew
        self.local += rtt
        self.clock.observe(sent, self.local, date(server))

    def wait(self, seconds: float) -> None:
        self.local += seconds
        self.mono += seconds


def test_no_answer_yet_means_no_correction() -> None:
    clocks = Clocks(skew=300)
    assert clocks.clock.offset == 0.0 and clocks.clock.uncertainty is None
    clocks.clock.observe(1.0, 2.0, None)
    clocks.clock.observe(1.0, 2.0, "not a date")
    assert clocks.clock.offset == 0.0


def test_a_clock_in_step_with_the_servers_is_left_alone() -> None:
    clocks = Clocks(skew=0.0)
    for _ in range(50):
        clocks.answer()
        clocks.wait(0.137)
    assert clocks.clock.offset == 0.0
    assert clocks.clock.uncertainty is not None and clocks.clock.uncertainty < 0.2


def test_a_skewed_clock_is_corrected_to_within_what_the_answers_allow() -> None:
    for skew in (-600.3, -2.5, 0.7, 3600.01):
        clocks = Clocks(skew)
        clocks.answer()
        assert abs(clocks.clock.offset - skew) <= 1.01  # one answer: to the second
        for _ in range(40):
            clocks.wait(0.173)
            clocks.answer()
        assert abs(clocks.clock.offset - skew) < 0.2, skew  # many: far better
        assert abs(clocks.clock.now() - (clocks.local + skew)) < 0.2


def test_a_clock_that_steps_is_learnt_again() -> None:
    clocks = Clocks(skew=0.0)
    for _ in range(20):
        clocks.answer()
        clocks.wait(0.3)
    clocks.skew = 45.0  # this machine's clock was stepped back 45 s
    clocks.answer()
    assert abs(clocks.clock.offset - 45.0) <= 1.01
    clocks.wait(RELEARN_AFTER + 1)
    clocks.skew = 44.0
    clocks.answer()
    assert abs(clocks.clock.offset - 44.0) <= 1.01
