"""Fast tests of `kubectl flows` that need no cluster: argument parsing and validation, where
answers come from (the kubeconfig's API server, or a gateway), output formats, completion read
off the parser, error reporting, and the GraphQL documents checked against the checked-in
schema."""

from __future__ import annotations

import io
import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from graphql import build_schema, parse, validate

from gateway.cli import completion, output
from gateway.cli.backend import ClusterBackend, GatewayBackend, Refused
from gateway.cli.main import (
    ConfigError,
    Context,
    build_parser,
    program_name,
    run,
)
from gateway.client import documents
from gateway.client.client import _status_message, query_error, start_variables
from gateway.client.endpoint import TOKEN_HEADER, EndpointError, normalize_gateway_url
from gateway.domain.model import FlowType
from gateway.domain.validation import StartRequest

ROOT = Path(__file__).resolve().parents[2]
SEED_TABLE = "NAME    STATUS    TYPE     ENDPOINT\nnode-a  emitting  netflow  10.1.2.3:30001\n"

# The exit codes `kubectl flows --help` documents, written out: the code's own constants could
# change with the tests still agreeing. 2 is argparse's and kubectl's usage error.
REFUSED = 1
USAGE_ERROR = 2
UNREACHABLE = 3


def node(name: str, state: str = "EMITTING", **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "node": name,
        "state": state,
        "type": "NETFLOW",
        "endpoint": "10.1.2.3:30001",
        "message": None,
        "updatedAt": None,
        "observedGeneration": 1,
    }
    return {**base, **extra}


def flows_state(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"enabled": True, "type": "NETFLOW", "generation": 1, "nodes": list(nodes)}


def write_kubeconfig(path: Path, server: str = "https://10.0.0.1:6443", token: str | None = "t0k") -> Path:
    user = {"token": token} if token else {}
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "main",
                "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
                "users": [{"name": "u", "user": user}, {"name": "other", "user": {"token": "other-token"}}],
                "contexts": [
                    {"name": "main", "context": {"cluster": "c", "user": "u"}},
                    {"name": "second", "context": {"cluster": "c", "user": "other"}},
                ],
            }
        )
    )
    return path


# --- output -----------------------------------------------------------------------------


def test_status_table_is_the_seeds_table() -> None:
    assert output.render_state(flows_state(node("node-a")), "table") == SEED_TABLE


def test_table_aligns_columns_and_leaves_empty_cells_blank_as_kubectl_get_does() -> None:
    lines = output.format_table(
        [node("worker-long-name", "DISABLED", type=None, endpoint=None), node("b", "PENDING", type="IPFIX")]
    )
    assert lines == [
        "NAME              STATUS    TYPE   ENDPOINT",
        "worker-long-name  disabled",
        "b                 pending   ipfix  10.1.2.3:30001",
    ]


def test_wide_adds_message_and_age() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    lines = output.format_table(
        [node("a", "ERROR", message="no flows collector\non a", updatedAt="2025-01-01T11:55:30Z")], wide=True, now=now
    )
    assert lines[0].split() == ["NAME", "STATUS", "TYPE", "ENDPOINT", "PACKETS/S", "RECEIVED", "RATE", "MESSAGE", "AGE"]
    assert lines[1].endswith("no flows collector on a  4m30s")


def test_wide_shows_what_the_collector_received() -> None:
    rows = [
        node("a", "EMITTING", delivery="CONFIRMED", recordsPerSecond=12.5),
        node("b", "EMITTING", delivery="NOT_RECEIVED", recordsPerSecond=0.0, deliveryMessage="No records since 12:00."),
        node("c", "EMITTING", delivery="UNKNOWN", deliveryMessage="no metrics endpoint"),
        node("d", "DISABLED", delivery="UNKNOWN", packetsPerSecond=12345.0),
    ]
    lines = output.format_table(rows, wide=True)
    traffic = lines[0].index("PACKETS/S")
    assert lines[-1][traffic:].split()[0] == "12.3k"  # the node's traffic, whether or not it exports
    header = lines[0]
    received, rate, message = header.index("RECEIVED"), header.index("RATE"), header.index("MESSAGE")
    cells = {
        line.split()[0]: (line[received:rate].strip(), line[rate:message].strip(), line[message:]) for line in lines[1:]
    }
    assert cells["a"][:2] == ("confirmed", "12.5/s")
    assert cells["b"][:2] == ("not-received", "0/s")
    assert cells["b"][2].startswith("No records since 12:00.")
    assert cells["c"][0] == "unknown" and not cells["c"][2].startswith("no metrics")  # not every row's sentence
    assert cells["d"][:2] == ("", "")  # nothing to receive


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-5, "<invalid>"), (0, "0s"), (119, "119s"), (120, "2m"), (150, "2m30s"), (3600, "60m"), (4 * 3600 + 60, "4h1m"),
     (20 * 3600, "20h"), (3 * 86400 + 3600, "3d1h"), (30 * 86400, "30d"), (3 * 365 * 86400, "3y")],
)  # fmt: skip
def test_human_duration_matches_kubectl(seconds: int, text: str) -> None:
    assert output.human_duration(seconds) == text


def test_json_and_yaml_keep_graphql_field_names() -> None:
    state = flows_state(node("a", updatedAt="2025-01-01T00:00:00Z"))
    assert json.loads(output.render_state(state, "json")) == state
    assert yaml.safe_load(output.render_state(state, "yaml")) == state
    assert "observedGeneration" in output.render_state(state, "json")


def test_watch_in_a_pipe_prints_the_table_then_one_line_per_change() -> None:
    out = io.StringIO()
    printer = output.WatchPrinter(out, "table", redraw=False)
    printer.start([node("node-a", "PENDING"), node("node-b", "PENDING")])
    assert not printer.update(node("node-a", "PENDING"))  # the subscription's snapshot repeats it
    assert printer.update(node("node-b", "EMITTING"))
    assert out.getvalue().splitlines() == [
        "NAME    STATUS    TYPE     ENDPOINT",
        "node-a  pending   netflow  10.1.2.3:30001",
        "node-b  pending   netflow  10.1.2.3:30001",
        "node-b  emitting  netflow  10.1.2.3:30001",
    ]


def test_watch_in_a_terminal_redraws_and_json_watch_prints_one_object_per_line() -> None:
    out = io.StringIO()
    printer = output.WatchPrinter(out, "table", redraw=True)
    printer.start([node("a", "PENDING")])
    printer.update(node("a", "EMITTING"))
    frames = out.getvalue().split(output.WatchPrinter.CLEAR)
    assert frames[0] == "" and len(frames) == 3 and "emitting" in frames[2]
    out = io.StringIO()
    printer = output.WatchPrinter(out, "json", redraw=True)
    printer.start([node("a", "PENDING")])
    printer.update(node("a", "ERROR", message="boom"))
    assert [json.loads(line)["state"] for line in out.getvalue().splitlines()] == ["PENDING", "ERROR"]


# --- arguments --------------------------------------------------------------------------


def parse_start(*argv: str) -> StartRequest:
    from gateway.cli.main import start_request

    parser = build_parser("kubectl flows")
    return start_request(parser.parse_args(["start", *argv]), parser)


def test_start_arguments_become_graphql_variables() -> None:
    assert start_variables(parse_start("NetFlow")) == {
        "type": "NETFLOW",
        "collector": None,
        "sampling": None,
        "activeTimeoutSeconds": None,
        "cacheMaxFlows": None,
        "durationSeconds": None,
        "nodes": None,
        "nodeSelector": None,
        "ignoreUnknownNodes": False,
    }
    request = parse_start("ipfix", "--selector", "app=goflow,tier=flows", "--sampling", "400", "--cache-max-flows", "9")
    variables = start_variables(request)
    assert variables["collector"] == {
        "selector": [{"key": "app", "value": "goflow"}, {"key": "tier", "value": "flows"}]
    }
    assert variables["sampling"] == 400 and variables["cacheMaxFlows"] == 9
    request = parse_start("sflow", "--target", "10.0.0.1:2055,10.0.0.2:2055", "--target", "[fd00::1]:6343")
    assert request.targets == ["10.0.0.1:2055", "10.0.0.2:2055", "[fd00::1]:6343"]
    assert start_variables(parse_start("netflow", "--node-port", "30001", "--active-timeout", "5"))["collector"] == {
        "nodePort": 30001
    }
    assert start_variables(parse_start("ipfix", "--metrics-port", "30002"))["collector"] == {"metricsPort": 30002}
    assert start_variables(parse_start("ipfix", "--target", "10.0.0.1:2055", "--metrics-target", "10.0.0.1:8080"))[
        "collector"
    ] == {"targets": ["10.0.0.1:2055"], "metricsTarget": "10.0.0.1:8080"}


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["start", "telnet"], "TYPE"),
        (["start", "netflow", "--node-port", "abc"], "--node-port"),
        (["start", "netflow", "--node-port", "70000"], "--node-port"),
        (["start", "netflow", "--node-port", "30001", "--target", "10.0.0.1:2055"], "--target"),
        (["start", "netflow", "--selector", "app"], "--selector"),
        (["start", "netflow", "--selector", "-bad-=x"], "--selector"),
        (["start", "netflow", "--target", "10.0.0.1"], "--target"),
        (["start", "netflow", "--target", ",".join(f"10.0.0.{i}:2055" for i in range(11))], "--target"),
        (["start", "netflow", "--sampling", "10"], "--sampling"),
        (["start", "sflow", "--sampling", "0"], "--sampling"),
        (["start", "netflow", "--cache-max-flows", "10"], "--cache-max-flows"),
        (["start", "netflow", "--active-timeout", "0"], "--active-timeout"),
        (["start", "netflow", "--metrics-target", "10.0.0.1:8080"], "--metrics-target"),
        (["start", "netflow", "--target", "10.0.0.1:2055", "--metrics-port", "8080"], "--metrics-port"),
        (["start", "netflow", "--metrics-port", "0"], "--metrics-port"),
        (["start", "netflow", "--for", "0s"], "--for"),
        (["start", "netflow", "--for", "169h"], "--for"),
        (["start", "netflow", "--for", "1.5s"], "--for"),
        (["start", "netflow", "--for", "soon"], "--for"),
        (["start", "netflow", "--nodes", "Node_1"], "--nodes"),
        (["start", "netflow", "--nodes", "node-1,node-1"], "--nodes"),
        (["start", "netflow", "--nodes", "node-1", "--node-selector", "a=b"], "--node-selector"),
        (["start", "netflow", "--node-selector", "zone"], "--node-selector"),
        (["start", "netflow", "--node-selector", "zone=a,zone=b"], "--node-selector"),
        (["start", "netflow", "--ignore-unknown-nodes"], "--ignore-unknown-nodes"),
        (["status", "-o", "xml"], "--output"),
        (["completion", "fish"], "shell"),
    ],
)
def test_bad_input_is_a_usage_error_naming_the_flag(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any attempt to reach a cluster or a gateway would fail the test: nothing may be sent.
    monkeypatch.setattr(Context, "backend", lambda self: pytest.fail("a usage error must send nothing"))
    with pytest.raises(SystemExit) as exit_info:
        run(argv, prog="kubectl flows")
    assert exit_info.value.code == USAGE_ERROR
    err = capsys.readouterr().err
    assert flag in err.splitlines()[0], err
    assert "See 'kubectl flows" in err


def test_connection_flags_work_before_and_after_the_command() -> None:
    parser = build_parser("kubectl flows")
    args = parser.parse_args(["--context", "a", "status", "--gateway", "http://x", "-o", "wide"])
    assert (args.context, args.gateway, args.output) == ("a", "http://x", "wide")
    assert not hasattr(parser.parse_args(["status"]), "gateway")


def test_program_name_follows_the_executable() -> None:
    assert program_name("/usr/local/bin/oc-flows") == "oc flows"
    assert program_name("kubectl-flows") == "kubectl flows"


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run(["--help"], prog="kubectl flows")
    text = capsys.readouterr().out
    for line in ("0  success", "1  the cluster or the gateway refused", "2  usage error", "3  nothing answered"):
        assert line in text


# --- where answers come from ------------------------------------------------------------


def context(*argv: str) -> Context:
    parser = build_parser("kubectl flows")
    return Context(parser.parse_args(list(argv)), parser, io.StringIO(), io.StringIO())


async def test_default_is_the_kubeconfigs_api_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "config")
    monkeypatch.delenv("FLOWGATE_GATEWAY", raising=False)
    backend = await context("status", "--kubeconfig", str(kubeconfig)).backend()
    assert isinstance(backend, ClusterBackend)
    assert backend.access.server == "https://10.0.0.1:6443" and backend.access.bearer_token == "t0k"
    assert "the Kubernetes API server at https://10.0.0.1:6443" in backend.where and str(kubeconfig) in backend.where


async def test_context_token_and_tls_flags_shape_the_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "config")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.delenv("FLOWGATE_GATEWAY", raising=False)
    backend = await context("status", "--context", "second").backend()
    assert isinstance(backend, ClusterBackend) and backend.access.bearer_token == "other-token"
    ca = tmp_path / "ca.crt"
    backend = await context("status", "--token", "mine", "--certificate-authority", str(ca)).backend()
    assert isinstance(backend, ClusterBackend) and backend.access.bearer_token == "mine"
    assert backend.access.configuration.ssl_ca_cert == str(ca)


async def test_gateway_flag_and_env_ask_a_gateway_with_the_kubeconfigs_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "config")))
    monkeypatch.setenv("FLOWGATE_GATEWAY", "http://127.0.0.1:8080")
    backend = await context("status").backend()
    assert isinstance(backend, GatewayBackend)
    endpoint = backend.client.endpoint
    assert (endpoint.url, endpoint.token, endpoint.via) == ("http://127.0.0.1:8080/graphql", "t0k", "FLOWGATE_GATEWAY")
    assert endpoint.ws_url == "ws://127.0.0.1:8080/graphql"
    assert endpoint.http_headers()["Authorization"] == endpoint.http_headers()[TOKEN_HEADER] == "Bearer t0k"
    assert endpoint.init_payload() == {"authorization": "Bearer t0k"}
    backend = await context("status", "--gateway", "https://gw.example:8443/graphql", "--token", "mine").backend()
    assert isinstance(backend, GatewayBackend)
    endpoint = backend.client.endpoint
    assert (endpoint.url, endpoint.token, endpoint.via) == ("https://gw.example:8443/graphql", "mine", "--gateway")


def test_gateway_url_forms() -> None:
    assert normalize_gateway_url("gw:8443") == "https://gw:8443/graphql"
    assert normalize_gateway_url("wss://gw/graphql") == "https://gw/graphql"
    assert (
        normalize_gateway_url("https://console/api/proxy/plugin/flowgate/gateway/")
        == "https://console/api/proxy/plugin/flowgate/gateway/graphql"
    )
    with pytest.raises(EndpointError):
        normalize_gateway_url("ftp://gw")


async def test_missing_kubeconfig_is_one_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWGATE_GATEWAY", raising=False)
    with pytest.raises(ConfigError, match="does not exist; pass --kubeconfig or set KUBECONFIG"):
        await context("status", "--kubeconfig", str(tmp_path / "absent")).backend()


# --- errors -----------------------------------------------------------------------------


def test_graphql_errors_keep_the_sentence_and_code_once() -> None:
    sentence = "OpenShiftSDN does not support flows tracing."
    error = query_error(
        [
            {"message": sentence, "extensions": {"code": "UNSUPPORTED_NETWORK"}},
            {"message": sentence, "extensions": {"code": "UNSUPPORTED_NETWORK"}},
        ],
        "fallback",
    )
    assert (error.code, error.message) == ("UNSUPPORTED_NETWORK", sentence)


def test_kubernetes_status_bodies_give_their_message() -> None:
    body = json.dumps({"kind": "Status", "message": 'services "gw" is forbidden: User "v" cannot create ...'})
    assert _status_message(403, body).startswith('services "gw" is forbidden')
    assert _status_message(503, "no endpoints available\n") == "no endpoints available"
    assert _status_message(502, "") == "HTTP 502"


def test_start_variables_name_the_collector_only_when_one_was_given() -> None:
    assert start_variables(StartRequest(FlowType.SFLOW))["collector"] is None
    assert start_variables(StartRequest(FlowType.SFLOW, node_port=5))["collector"] == {"nodePort": 5}
    assert start_variables(StartRequest(FlowType.SFLOW))["type"] == "SFLOW"


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_gateway_says_where_it_looked(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    code = run(["status", "--gateway", url, "--token", "x", "--request-timeout", "5"], prog="kubectl flows")
    err = capsys.readouterr().err
    assert code == UNREACHABLE
    assert f"{url}/graphql" in err and "--gateway" in err and "FLOWGATE_GATEWAY" in err


def test_unreachable_api_server_says_where_it_looked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "config", server=f"https://127.0.0.1:{unused_port()}")
    code = run(["status", "--kubeconfig", str(kubeconfig), "--request-timeout", "5s"], prog="kubectl flows")
    err = capsys.readouterr().err
    assert code == UNREACHABLE
    assert "Cannot reach the Kubernetes API server at https://127.0.0.1:" in err and str(kubeconfig) in err


def test_forbidden_names_the_verb_and_resource(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def refuse(self: Any, request: Any) -> Any:
        raise Refused("FORBIDDEN", "You cannot change flow export.")

    monkeypatch.setattr("gateway.cli.backend.GatewayBackend.start", refuse)
    code = run(["start", "netflow", "--gateway", "http://gw", "--token", "x"], prog="kubectl flows")
    err = capsys.readouterr().err.splitlines()
    assert code == REFUSED
    assert err[0] == "You cannot change flow export."
    assert "flowexports.flowgate.dev" in err[1] and "update" in err[1]


# --- contract and completion -----------------------------------------------------------


def test_every_document_is_valid_against_schema_graphql() -> None:
    schema = build_schema((ROOT / "schema.graphql").read_text())
    assert documents.names() == ["ExportProjection", "Flows", "NodeFlowStatus", "StartFlows", "StopFlows"]
    for name in documents.names():
        assert validate(schema, parse(documents.document(name))) == [], name


def test_completion_is_read_off_the_parser() -> None:
    parser = build_parser("kubectl flows")

    def complete(*words: str) -> list[str]:
        return completion.complete(parser, words)

    assert complete("") == ["start", "stop", "status", "version", "completion"]
    assert complete("start", "i") == ["ipfix"]
    assert complete("status", "-o", "") == list(output.OUTPUT_FORMATS)
    assert complete("--context", "") == []  # a context name comes next, not a command
    assert complete("--context", "kind", "st") == ["start", "stop", "status"]
    assert "--watch" in complete("status", "--w") and "--node" in complete("status", "--n")
    assert "--node-port" in complete("start", "netflow", "--n")
    assert complete("start", "--node-port", "") == []
    assert complete("start", "netflow", "") == []
    assert complete("completion", "z") == ["zsh"]
    assert "--kubeconfig" in complete("--k") and "--gateway" in complete("stop", "--g")
    # A flag added to the parser is offered without touching the completer.
    parser._actions[0].container.add_argument("--shiny", action="store_true")
    assert "--shiny" in complete("--sh")
    for shell in completion.SHELLS:
        assert "__complete" in completion.script(shell, "kubectl-flows")


def test_installed_executables(tmp_path: Path) -> None:
    """oc-flows names itself `oc flows`; a link named kubectl_complete-flows answers kubectl's
    plugin completion (candidates, then cobra's no-file directive)."""
    import subprocess
    import sys

    scripts = Path(sys.executable).parent
    result = subprocess.run(
        [scripts / "oc-flows", "start", "bogus"], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == USAGE_ERROR and "See 'oc flows start --help'" in result.stderr
    link = tmp_path / "kubectl_complete-flows"
    link.symlink_to(scripts / "kubectl-flows")
    result = subprocess.run([link, "start", "s"], capture_output=True, text=True, timeout=30, check=True)
    assert result.stdout.splitlines() == ["sflow", ":4"]


def test_watch_prints_nothing_for_changes_the_table_does_not_show() -> None:
    out = io.StringIO()
    printer = output.WatchPrinter(out, "table", redraw=False)
    printer.start([node("a", "PENDING", observedGeneration=None)])
    assert not printer.update(node("a", "PENDING", observedGeneration=0, updatedAt="2025-01-01T00:00:00Z"))
    assert len(out.getvalue().splitlines()) == 2


def test_a_gateway_that_never_answers_is_unreachable_after_the_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as silent:  # accepts connections (kernel backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        code = run(["status", "--gateway", url, "--request-timeout", "1s"], prog="kubectl flows")
    assert code == UNREACHABLE
    assert "no answer within 1s" in capsys.readouterr().err


# --- for a while, on chosen nodes -------------------------------------------------------------------

NOW = datetime(2026, 12, 7, 10, 0, 0, tzinfo=UTC)


def test_start_for_a_while_on_chosen_nodes_becomes_graphql_variables() -> None:
    variables = start_variables(parse_start("netflow", "--for", "20s", "--nodes", "node-1,node-2", "--nodes", "n3"))
    assert variables["durationSeconds"] == 20 and variables["nodes"] == ["node-1", "node-2", "n3"]
    variables = start_variables(parse_start("ipfix", "--for", "1h30m", "--node-selector", "zone=a,flows=on"))
    assert variables["durationSeconds"] == 5400
    assert variables["nodeSelector"] == [{"key": "zone", "value": "a"}, {"key": "flows", "value": "on"}]
    assert start_variables(parse_start("sflow", "--nodes", "a", "--ignore-unknown-nodes"))["ignoreUnknownNodes"]
    assert parse_start("sflow", "--for", "168h").duration_seconds == 604800


def timed_state(**extra: Any) -> dict[str, Any]:
    state = {
        **flows_state(node("node-1"), node("node-2"), node("node-3", "DISABLED", type=None, endpoint=None)),
        "deadline": "2026-12-07T10:28:00Z",
        "ended": False,
        "nodeChoice": {"mode": "names", "names": ["node-1", "node-2"], "description": "nodes node-1, node-2"},
        "summary": {"total": 3, "selected": 2},
        "collector": {"description": "nodePort 30001"},
    }
    return {**state, **extra}


def test_status_says_when_export_stops_and_on_how_many_nodes() -> None:
    text = output.render_state(timed_state(), "table", now=NOW)
    first, blank, header = text.splitlines()[:3]
    assert first == "NetFlow on 2 of 3 nodes (nodes node-1, node-2); stops in 28m (at 2026-12-07T10:28:00Z)."
    assert blank == "" and header.split() == ["NAME", "STATUS", "TYPE", "ENDPOINT"]
    ended = timed_state(enabled=False, ended=True, deadline="2026-12-07T09:57:00Z")
    assert output.render_state(ended, "table", now=NOW).splitlines()[0] == (
        "NetFlow ended 3m ago, at its deadline 2026-12-07T09:57:00Z; every node stopped by itself."
    )
    labelled = timed_state(
        deadline=None,
        nodeChoice={"mode": "selector", "description": "nodes labelled zone=a"},
        summary={"total": 3, "selected": 1},
    )
    assert output.export_window(labelled, NOW) == "NetFlow on 1 of 3 nodes (nodes labelled zone=a), until stopped."
    everywhere = timed_state(nodeChoice={"mode": "all", "description": "every node"}, deadline="2026-12-07T14:00:00Z")
    assert output.export_window(everywhere, NOW) == "NetFlow on every node; stops in 4h (at 2026-12-07T14:00:00Z)."
    # Until stopped on every node: the seed's table alone, as before.
    assert output.render_state(flows_state(node("node-a")), "table") == SEED_TABLE


def test_start_confirmation_says_where_until_when_and_what_was_left_out() -> None:
    text = output.start_confirmation(timed_state(), ["node-1", "node-9", "node-2"], NOW)
    assert text.splitlines() == [
        "Flow export started: netflow to nodePort 30001 (generation 1).",
        "It runs on 2 of 3 nodes (nodes node-1, node-2); the others report disabled, not selected.",
        "Every node stops by itself at 2026-12-07T10:28:00Z, in 28m.",
        "Left out, being no node of this cluster: node-9.",
    ]


def test_an_unknown_node_refusal_names_the_flags(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def refuse(self: Any, request: Any) -> Any:
        raise Refused(
            "INVALID_ARGUMENT",
            "nodes: 'node-9' is no node of this cluster; flow export was not changed. Correct the names, or set "
            "ignoreUnknownNodes to start on the 2 known ones only.",
        )

    monkeypatch.setattr("gateway.cli.backend.GatewayBackend.start", refuse)
    code = run(["start", "netflow", "--nodes", "node-1,node-9", "--gateway", "http://gw", "--token", "x"])
    assert code == REFUSED
    assert capsys.readouterr().err.splitlines() == [
        "--nodes: 'node-9' is no node of this cluster; flow export was not changed. Correct the names, or set "
        "--ignore-unknown-nodes to start on the 2 known ones only."
    ]
