"""Fast tests of `kubectl flows` that need no cluster: argument parsing and validation, the
service-proxy address, output formats, completion, error reporting, and the GraphQL documents
checked against the checked-in schema."""

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
from gateway.cli.client import (
    DOCUMENTS,
    GatewayError,
    GatewayUnreachable,
    StartRequest,
    _status_message,
    collector_input,
    query_error,
)
from gateway.cli.endpoint import (
    TOKEN_HEADER,
    ConnectionOptions,
    EndpointError,
    GatewayEndpoint,
    normalize_gateway_url,
    resolve_endpoint,
    service_proxy_url,
)
from gateway.cli.main import EXIT_ERROR, EXIT_UNREACHABLE, EXIT_USAGE, Context, build_parser, program_name, run
from gateway.domain.model import CollectorTarget, FlowType

ROOT = Path(__file__).resolve().parents[2]
SEED_TABLE = "NAME    STATUS    TYPE     ENDPOINT\nnode-a  emitting  netflow  10.1.2.3:30001\n"


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
    assert lines[0].split() == ["NAME", "STATUS", "TYPE", "ENDPOINT", "MESSAGE", "AGE"]
    assert lines[1].endswith("no flows collector on a  4m30s")


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
    assert parse_start("NetFlow").variables() == {
        "type": "NETFLOW",
        "collector": None,
        "sampling": None,
        "activeTimeoutSeconds": None,
        "cacheMaxFlows": None,
    }
    request = parse_start("ipfix", "--selector", "app=goflow,tier=flows", "--sampling", "400", "--cache-max-flows", "9")
    assert request.variables()["collector"] == {
        "selector": [{"key": "app", "value": "goflow"}, {"key": "tier", "value": "flows"}]
    }
    assert request.variables()["sampling"] == 400 and request.variables()["cacheMaxFlows"] == 9
    request = parse_start("sflow", "--target", "10.0.0.1:2055,10.0.0.2:2055", "--target", "[fd00::1]:6343")
    assert request.collector == CollectorTarget(targets=("10.0.0.1:2055", "10.0.0.2:2055", "[fd00::1]:6343"))
    assert parse_start("netflow", "--node-port", "30001", "--active-timeout", "5").variables()["collector"] == {
        "nodePort": 30001
    }


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
        (["status", "-o", "xml"], "--output"),
        (["completion", "fish"], "shell"),
    ],
)
def test_bad_input_is_a_usage_error_naming_the_flag(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any attempt to reach a gateway would fail the test: nothing may be sent.
    monkeypatch.setattr(Context, "client", lambda self: pytest.fail("a usage error must send nothing"))
    with pytest.raises(SystemExit) as exit_info:
        run(argv, prog="kubectl flows")
    assert exit_info.value.code == EXIT_USAGE
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
    for line in ("0  success", "1  the gateway", "2  usage error", "3  the gateway could not be reached"):
        assert line in text


# --- where the gateway is ---------------------------------------------------------------


def test_service_proxy_url() -> None:
    assert (
        service_proxy_url("https://api.example:6443/")
        == "https://api.example:6443/api/v1/namespaces/flowgate/services/https:flowgate-gateway:8443/proxy/graphql"
    )
    assert (
        service_proxy_url("https://10.0.0.1:6443/prefix", "ops", "gw", 9443)
        == "https://10.0.0.1:6443/prefix/api/v1/namespaces/ops/services/https:gw:9443/proxy/graphql"
    )


def test_default_endpoint_is_the_service_proxy_with_the_token_in_both_headers(tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "config")
    endpoint = resolve_endpoint(
        ConnectionOptions(kubeconfig=str(kubeconfig), namespace="ops", service="gw:9443"), environ={}
    )
    assert endpoint.url == "https://10.0.0.1:6443/api/v1/namespaces/ops/services/https:gw:9443/proxy/graphql"
    assert endpoint.ws_url.startswith("wss://10.0.0.1:6443/api/v1/")
    assert endpoint.http_headers()["Authorization"] == "Bearer t0k"
    assert endpoint.http_headers()[TOKEN_HEADER] == "Bearer t0k"
    assert endpoint.init_payload() == {"authorization": "Bearer t0k"}
    assert endpoint.through_service_proxy


def test_context_and_kubeconfig_env_are_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "config")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    assert resolve_endpoint(ConnectionOptions(context="second"), environ={}).token == "other-token"


def test_gateway_flag_and_env_override_the_service_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "config")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    endpoint = resolve_endpoint(ConnectionOptions(), environ={"FLOWGATE_GATEWAY": "http://127.0.0.1:8080"})
    assert (endpoint.url, endpoint.token, endpoint.via) == ("http://127.0.0.1:8080/graphql", "t0k", "FLOWGATE_GATEWAY")
    assert endpoint.ws_url == "ws://127.0.0.1:8080/graphql"
    endpoint = resolve_endpoint(
        ConnectionOptions(gateway="https://gw.example:8443/graphql", token="mine"),
        environ={"FLOWGATE_GATEWAY": "http://ignored"},
    )
    assert (endpoint.url, endpoint.token, endpoint.via) == ("https://gw.example:8443/graphql", "mine", "--gateway")
    assert endpoint.http_headers()["Authorization"] == "Bearer mine"


def test_gateway_url_forms() -> None:
    assert normalize_gateway_url("gw:8443") == "https://gw:8443/graphql"
    assert normalize_gateway_url("wss://gw/graphql") == "https://gw/graphql"
    assert (
        normalize_gateway_url("https://console/api/proxy/plugin/flowgate/gateway/")
        == "https://console/api/proxy/plugin/flowgate/gateway/graphql"
    )
    with pytest.raises(EndpointError):
        normalize_gateway_url("ftp://gw")


def test_missing_kubeconfig_says_how_to_point_elsewhere(tmp_path: Path) -> None:
    with pytest.raises(EndpointError, match="--gateway"):
        resolve_endpoint(ConnectionOptions(kubeconfig=str(tmp_path / "absent")), environ={})


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


def test_collector_input() -> None:
    assert collector_input(None) is None
    assert collector_input(CollectorTarget(node_port=5)) == {"nodePort": 5}
    assert StartRequest(FlowType.SFLOW).variables()["type"] == "SFLOW"


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_gateway_says_where_it_looked(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    code = run(["status", "--gateway", url, "--token", "x", "--request-timeout", "5"], prog="kubectl flows")
    err = capsys.readouterr().err
    assert code == EXIT_UNREACHABLE
    assert f"{url}/graphql" in err and "--gateway" in err and "FLOWGATE_GATEWAY" in err


def test_forbidden_names_the_verb_and_resource(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def refuse(self: Any, request: Any) -> Any:
        raise GatewayError("FORBIDDEN", "You may not change flow export.")

    monkeypatch.setattr("gateway.cli.client.FlowgateClient.start_flows", refuse)
    code = run(["start", "netflow", "--gateway", "http://gw", "--token", "x"], prog="kubectl flows")
    err = capsys.readouterr().err.splitlines()
    assert code == EXIT_ERROR
    assert err[0] == "You may not change flow export."
    assert "flowexports.flowgate.dev" in err[1] and "update" in err[1]


def test_unreachable_error_from_the_service_proxy_names_the_service(capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.cli.main import report_unreachable

    endpoint = GatewayEndpoint(url=service_proxy_url("https://api:6443"), via="service-proxy")
    ctx = Context(
        build_parser("oc flows").parse_args(["status"]), build_parser("oc flows"), io.StringIO(), io.StringIO()
    )
    report_unreachable(ctx, GatewayUnreachable(endpoint, 'HTTP 404: services "flowgate-gateway" not found'))
    text = ctx.err.getvalue()  # type: ignore[attr-defined]
    assert "services/https:flowgate-gateway:8443/proxy/graphql" in text and "service proxy" in text
    assert "--namespace/--service" in text and "--gateway URL or FLOWGATE_GATEWAY" in text


# --- contract and completion -----------------------------------------------------------


def test_every_document_is_valid_against_schema_graphql() -> None:
    schema = build_schema((ROOT / "schema.graphql").read_text())
    for name, document in DOCUMENTS.items():
        assert validate(schema, parse(document)) == [], name


def test_completion() -> None:
    assert completion.complete([""]) == list(completion.COMMANDS)
    assert completion.complete(["start", "i"]) == ["ipfix"]
    assert completion.complete(["status", "-o", ""]) == list(completion.OUTPUTS)
    assert completion.complete(["--context", ""]) == []
    assert completion.complete(["-n", ""]) == []  # a namespace comes next, not a command
    assert completion.complete(["-n", "flowgate", "st"]) == ["start", "stop", "status"]
    assert "--watch" in completion.complete(["status", "--w"])
    assert completion.complete(["completion", "z"]) == ["zsh"]
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
    assert result.returncode == EXIT_USAGE and "See 'oc flows start --help'" in result.stderr
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
        code = run(["status", "--gateway", url, "--request-timeout", "1"], prog="kubectl flows")
    assert code == EXIT_UNREACHABLE
    assert "no answer within 1s" in capsys.readouterr().err
