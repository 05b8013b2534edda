"""must-gather's reading of an agent's page and pod, and the add-on's manifests, without a cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.addon.command import MANIFESTS, objects
from gateway.gather.collect import exporters, metrics_port

PAGE = """# HELP flowgate_agent_ovs_exporter Each exporter row on the bridge at the agent's last read of OVS.
# TYPE flowgate_agent_ovs_exporter gauge
flowgate_agent_ovs_exporter{active_timeout="60",agent="",bridge="br-int",cache_max_flows="",node="node-1",sampling="400",targets="10.0.0.1:30001,10.0.0.9:2055",type="IPFIX"} 1.0
# HELP flowgate_agent_reconciles_total Reconcile passes run.
# TYPE flowgate_agent_reconciles_total counter
flowgate_agent_reconciles_total{node="node-1"} 7.0
"""


def test_the_exporters_an_agent_last_read_come_from_its_page() -> None:
    assert exporters(PAGE) == [
        {
            "bridge": "br-int",
            "type": "IPFIX",
            "targets": "10.0.0.1:30001,10.0.0.9:2055",
            "active_timeout": 60,
            "sampling": 400,
        }
    ]
    assert exporters('flowgate_agent_reconciles_total{node="node-1"} 7.0\n') == []


def test_the_agents_metrics_port_comes_from_its_pod_spec() -> None:
    pod = {
        "spec": {"containers": [{"name": "agent", "args": ["--node=$(NODE_NAME)", "--metrics-address=$(POD_IP):9880"]}]}
    }
    assert metrics_port(pod) == 9880
    with pytest.raises(ValueError, match="serves no metrics"):
        metrics_port({"spec": {"containers": [{"name": "agent", "args": ["--node=x"]}]}})


def test_the_addon_applies_the_daemonset_with_its_image_in_its_namespace(tmp_path: Path) -> None:
    items = objects("registry.example.com/flowgate@sha256:" + "0" * 64, "flows")
    kinds = {o["kind"]: o for o in items}
    assert set(kinds) == {
        "DaemonSet",
        "SecurityContextConstraints",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    daemonset = kinds["DaemonSet"]
    assert daemonset["metadata"]["namespace"] == "flows"
    assert {c["image"] for c in daemonset["spec"]["template"]["spec"]["containers"]} == {
        "registry.example.com/flowgate@sha256:" + "0" * 64
    }
    assert "namespace" not in kinds["SecurityContextConstraints"]["metadata"]
    stray = tmp_path / "manifests.yaml"
    stray.write_text(
        MANIFESTS.read_text() + yaml.safe_dump({"kind": "Deployment", "metadata": {"name": "x"}}, explicit_start=True)
    )
    with pytest.raises(ValueError, match="holds a Deployment, which flowgate addon does not apply"):
        objects("", "flowgate", stray)


def test_the_gather_and_addon_commands_cost_the_node_agent_nothing() -> None:
    """`flowgate agent` registers every subcommand: theirs load YAML and the metrics parser only when run."""
    import subprocess
    import sys

    code = (
        "import sys, gateway.main; gateway.main.build_parser(); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'yaml', 'prometheus_client'}))"
    )
    answer = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert answer.stdout.strip() == "[]", answer.stdout + answer.stderr
