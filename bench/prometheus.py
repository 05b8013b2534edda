"""Reading the Prometheus text pages the benchmark scrapes (the API server's, the gateway's)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """One metric's samples on a page: (labels, value) each. Only its own lines are parsed: the
    API server's page is megabytes long."""
    lines = "".join(line + "\n" for line in text.splitlines() if line.startswith((name + "{", name + " ")))
    return [(s.labels, s.value) for family in text_string_to_metric_families(lines) for s in family.samples]


def value(text: str, name: str, default: float = float("nan")) -> float:
    """The value of a metric with no labels (`default` when the page has none)."""
    found = samples(text, name)
    return found[0][1] if found else default
