"""flowgate's alerts (deploy/monitoring/prometheusrule.yaml) checked by Debian's real promtool: the
rules load, every alert passes its unit tests (tests/monitoring/alerts_test.yaml: fires for the node
it is about, after its `for`, with the annotations it renders), and a spoilt rule fails them. Every
alert says what a person needs: a summary, a description naming the node or pod, a severity, and a
runbook in docs/runbooks/ that exists and says what it means, how to check and how to fix."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.monitoring import RULE_TESTS, RUNBOOKS, alerts, rule_groups, tool, write_rules

SEVERITIES = {"critical", "warning", "info"}
RUNBOOK_URL = re.compile(r"^https://flowgate\.dev/docs/runbooks/(?P<name>[A-Za-z]+)\.md$")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True, timeout=60)


def rule_tests_in(directory: Path, groups: list[dict[str, Any]] | None = None) -> Path:
    """The unit tests beside a rule file made from the PrometheusRule (or from `groups`)."""
    write_rules(directory / "rules.yaml", groups=groups)
    return Path(shutil.copy(RULE_TESTS, directory / RULE_TESTS.name))


def test_the_rules_load_in_promtool(tmp_path: Path) -> None:
    result = promtool("check", "rules", str(write_rules(tmp_path / "rules.yaml")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {sum(len(g['rules']) for g in rule_groups())} rules found" in result.stdout


def test_every_alert_passes_its_promtool_unit_tests(tmp_path: Path) -> None:
    result = promtool("test", "rules", str(rule_tests_in(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test_that_sees_it_fire() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    assert {rule["alert"] for rule in alerts()} <= fired, "alerts no unit test sees firing"


@pytest.mark.parametrize(
    ("alert", "spoil"),
    [
        ("FlowgateNodeExportError", lambda rule: rule.update({"for": "1m"})),
        ("FlowgateNodeRecordsNotReceived", lambda rule: rule.update({"expr": rule["expr"].replace("node, ", "")})),
        ("FlowgateAgentMissing", lambda rule: rule.update({"expr": rule["expr"].replace('{state!="Disabled"}', "")})),
    ],
    ids=["fires too early", "loses the node", "counts disabled nodes"],
)
def test_a_spoilt_rule_fails_its_unit_tests(tmp_path: Path, alert: str, spoil: Any) -> None:
    """The unit tests can fail: the same promtool run refuses a rule spoilt in one way."""
    groups = rule_groups()
    spoil(next(rule for group in groups for rule in group["rules"] if rule.get("alert") == alert))
    result = promtool("test", "rules", str(rule_tests_in(tmp_path, groups)))
    assert result.returncode != 0, result.stdout
    assert f"alertname: {alert}" in result.stdout + result.stderr


@pytest.mark.parametrize("alert", [rule["alert"] for rule in alerts()])
def test_every_alert_tells_what_it_is_about_and_where_its_runbook_is(alert: str) -> None:
    rule = next(r for r in alerts() if r["alert"] == alert)
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    assert annotations["summary"].endswith(".") and "{{" not in annotations["summary"]
    subject = "{{ $labels.pod }}" if "Gateway" in alert else "{{ $labels.node }}"
    if alert != "FlowgateGatewayDown":  # no replica answers, so there is none to name
        assert subject in annotations["description"], annotations["description"]
    match = RUNBOOK_URL.match(annotations["runbook_url"])
    assert match and match.group("name") == alert, annotations["runbook_url"]
    runbook = (RUNBOOKS / f"{alert}.md").read_text()
    assert runbook.startswith(f"# {alert}\n")
    for section in ("## What it means", "## How to check", "## How to fix"):
        assert section in runbook, f"{alert}.md lacks {section!r}"
    assert f"[{alert}]({alert}.md)" in (RUNBOOKS / "README.md").read_text()
