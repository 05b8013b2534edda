"""The one duration syntax every flag uses, as kubectl writes them: `30s`, `2m`, `1h`, `500ms`,
`1m30s`, or plain seconds (`30`, `0.5`)."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in `text`; ValueError with a sentence when it is not a positive duration."""
    cleaned = text.strip()
    seconds: float | None = None
    try:
        seconds = float(cleaned)
    except ValueError:
        parts = _PART.findall(cleaned)
        if parts and "".join(number + unit for number, unit in parts) == cleaned:
            seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if seconds is None or not seconds > 0:
        raise ValueError(f"{text!r} is not a duration; write it like 30s, 2m, 1m30s or 500ms")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest spelling parse_duration reads back (for help texts and messages)."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"
