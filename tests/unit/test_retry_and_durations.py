"""The one backoff policy and the one duration syntax every flag uses."""

from __future__ import annotations

import pytest

from gateway.durations import format_duration, parse_duration
from gateway.retry import Backoff


def test_backoff_doubles_to_a_cap_and_resets() -> None:
    backoff = Backoff(0.5, 3)
    assert [backoff.next() for _ in range(5)] == [0.5, 1, 2, 3, 3]
    assert backoff.failures == 5
    backoff.reset()
    assert backoff.next() == 0.5 and backoff.failures == 1


def test_jitter_spreads_delays_within_its_fraction() -> None:
    low = Backoff(1, 8, jitter=0.2, rand=lambda: 0.0)
    high = Backoff(1, 8, jitter=0.2, rand=lambda: 1.0)
    assert [low.next() for _ in range(3)] == pytest.approx([0.8, 1.6, 3.2])
    assert [high.next() for _ in range(3)] == pytest.approx([1.2, 2.4, 4.8])


@pytest.mark.parametrize("kwargs", [{"initial": 0, "maximum": 1}, {"initial": 2, "maximum": 1}, {"jitter": 1.0}])
def test_backoff_refuses_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("2m", 120), ("1h", 3600), ("500ms", 0.5), ("1m30s", 90), ("30", 30), ("0.5", 0.5), (" 5s ", 5)],
)
def test_durations_as_kubectl_writes_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-1s", "5x", "s", "1.5.2s", "30s2", "m1"])
def test_bad_durations_are_a_sentence(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration; write it like 30s"):
        parse_duration(text)


@pytest.mark.parametrize("seconds", [0.25, 1, 30, 90, 120, 3600, 5400])
def test_format_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
