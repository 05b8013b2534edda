"""The Network Flows page in a real browser (Debian's Chromium through Playwright) against the real
gateway (`flowgate serve`), the testbed's real API server and, where export is switched, real node
agents driving real Open vSwitch: the standalone page at `/` and GraphiQL with every request off
the gateway's origin refused. axe-core checks each page for serious and critical violations. The
console plugin is tested inside the real OpenShift console: tests/e2e/test_openshift_console.py.

Screenshots go to tests/artifacts/ (gitignored): standalone-emitting.png, standalone-error.png,
viewer-disabled.png, collector-costs.png, projection.png, projection-confirm.png, sdn-unsupported.png,
reconnected.png, graphiql-subscription.png; a failing test adds failed-<test>-<n>.png."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flowgate_testbed.loadbalancer import LoadBalancer
from flowgate_testbed.testbed import free_port, free_ports
from playwright.sync_api import expect

from gateway.domain import export_cost
from gateway.domain.model import FlowType
from tests.fixtures.agents import NodeAgents
from tests.fixtures.browser import Pages, assert_accessible
from tests.fixtures.flows_page import (
    EMITTING_WITHIN,
    FLOWS_PATH,
    NODE_PORT,
    NODES,
    RECORD_STATES,
    cell,
    choose_duration,
    choose_emission,
    choose_nodes,
    expect_chosen,
    expect_states,
    exporters,
    hover_reason,
    report_traffic,
    set_active_timeout,
    status_cell,
    stop_export,
    walk_through_the_projection,
)
from tests.fixtures.gateway import Gateway, launch, running_gateway
from tests.fixtures.kubectl import LineReader

pytestmark = [pytest.mark.slow]

# -- 2. the standalone page switching real agents ---------------------------------------------


@pytest.mark.ovs
def test_standalone_page_switches_export_on_real_nodes(
    ovs_cluster: tuple[Any, NodeAgents], pages: Pages, tmp_path: Any
) -> None:
    testbed, agents = ovs_cluster
    with running_gateway(testbed, tmp_path, "--auth", "none", user="admin") as gateway:
        stop_export(gateway)
        page = pages.open(gateway.url + "/")
        expect(page.get_by_role("heading", name="Network Flows")).to_be_visible()
        expect_states(page, dict.fromkeys(NODES, "Disabled"))
        expect(page.locator("[data-test=connection-status]")).to_have_text("Live")
        page.evaluate(RECORD_STATES)

        # node-3's agent is held back, so its row has to stay Pending until that agent reports.
        agents.stop("node-3")
        set_active_timeout(page, 1)
        started = time.monotonic()
        choose_emission(page, "NetFlow")
        expect_states(page, {"node-1": "Emitting", "node-2": "Emitting"})
        print(f"figure: NetFlow chosen -> node-1 and node-2 Emitting in the page: {time.monotonic() - started:.2f} s")
        expect(status_cell(page, "node-3")).to_have_text("Pending")
        expect(page.locator("[data-test=flows-summary]")).to_have_text(
            "3 nodes: 2 emitting, 1 pending, 0 error, 0 disabled"
        )
        agents.start("node-3")
        expect_states(page, {"node-3": "Emitting"})
        seen = page.evaluate("window.flowgateSeen")
        print(f"states each row showed: {json.dumps(seen)}")
        # node-3 waited for its agent, so it must have shown Pending. node-1 and node-2 show it too
        # unless their agents answer within the gateway's conflation of one node's changes (under
        # load both may reach the page in one message): then Disabled turns straight to Emitting.
        assert seen["node-3"] == ["Disabled", "Pending", "Emitting"], seen
        for node in ("node-1", "node-2"):
            assert seen[node] in (["Disabled", "Pending", "Emitting"], ["Disabled", "Emitting"]), seen
        expect(page.locator("#flowgate-emission-toggle")).to_have_text("NetFlow")
        for node in NODES:
            expect(cell(page, node, "Type")).to_have_text("NetFlow")
            expect(cell(page, node, "Endpoint")).to_have_text(f"{testbed.node_ip(node)}:{NODE_PORT}")
            assert exporters(testbed, node)[0] != "[]", f"{node}'s br-int has no NetFlow"
        # The form took effect on the bridges: OVS exports with the timeout the page sent.
        assert testbed.ovs_vsctl("node-1", "--bare", "--columns=active_timeout", "list", "netflow").split() == ["1"]
        # Each node's collector counts its records: Received says so, with the rate and its line.
        for node in NODES:
            received = cell(page, node, "Received")
            expect(received).to_contain_text("Confirmed", timeout=EMITTING_WITHIN)
            expect(received).to_contain_text("/s")
            expect(received.get_by_role("img", name="Records per second over the last 10 minutes")).to_be_visible()
        pages.screenshot(page, "standalone-emitting")
        assert_accessible(page, "the standalone page, emitting")

        # The collector on node-2 goes away: that row alone turns Error, with the agent's sentence.
        testbed.stop_collector("node-2")
        try:
            expect_states(page, {"node-2": "Error", "node-1": "Emitting", "node-3": "Emitting"})
            message = cell(page, "node-2", "Message")
            expect(message).not_to_be_empty()
            print(f"node-2's message: {message.inner_text()}")
            pages.screenshot(page, "standalone-error")
            assert_accessible(page, "the standalone page with an error row")
        finally:
            testbed.start_collector("node-2")
        expect_states(page, {"node-2": "Emitting"})

        choose_emission(page, "Disabled")
        expect_states(page, dict.fromkeys(NODES, "Disabled"))
        expect(page.locator("#flowgate-emission-toggle")).to_have_text("Disabled")
        # The gateway shows a stopped node Disabled at once, saying its agent has not confirmed
        # yet; the message goes when the agent reports the bridge cleared.
        for node in NODES:
            expect(cell(page, node, "Endpoint")).to_have_text("—")
            expect(cell(page, node, "Message")).to_have_text("", timeout=EMITTING_WITHIN)
            assert exporters(testbed, node) == ["[]", "[]", "[]"], node


@pytest.mark.ovs
def test_standalone_page_exports_for_a_while_from_the_nodes_chosen(
    ovs_cluster: tuple[Any, NodeAgents], pages: Pages, tmp_path: Any
) -> None:
    """A typed duration and two nodes chosen on the page: a countdown, a Selected column, the
    others "not selected"; at the deadline every node stops by itself and the page says it ended."""
    testbed, _ = ovs_cluster
    with running_gateway(testbed, tmp_path, "--auth", "none", user="admin") as gateway:
        stop_export(gateway)
        page = pages.open(gateway.url + "/")
        expect_states(page, dict.fromkeys(NODES, "Disabled"))
        expect(page.locator("[data-test=export-countdown]")).to_have_count(0)
        choose_duration(page, "Other duration…", "25s")
        choose_nodes(page, "node-1, node-2")
        set_active_timeout(page, 1)
        choose_emission(page, "NetFlow")

        countdown = page.locator("[data-test=export-countdown]")
        expect(countdown).to_have_text(re.compile(r"^Stops in 00:[12]\d$"))
        expect_chosen(page, ["node-1", "node-2"])
        assert exporters(testbed, "node-3") == ["[]", "[]", "[]"]
        # The countdown agrees with the deadline the API server holds (on this machine's clock).
        spec = testbed.client().get("/apis/flowgate.dev/v1alpha1/flowexports/cluster")["spec"]
        deadline = datetime.fromisoformat(spec["deadline"].replace("Z", "+00:00")).timestamp()
        shown = countdown.inner_text().removeprefix("Stops in ")
        left = int(shown[:2]) * 60 + int(shown[3:])
        assert abs(left - (deadline - time.time())) <= 2, (shown, deadline - time.time())
        pages.screenshot(page, "standalone-timebox")
        assert_accessible(page, "the standalone page exporting for a while from two nodes")

        # The deadline: every node stops by itself; the page says when it ended.
        expect(countdown).to_have_text(re.compile(r"^Ended "), timeout=40_000)
        expect_states(page, dict.fromkeys(NODES, "Disabled"))
        expect(cell(page, "node-1", "Message")).to_contain_text("export ended at its deadline", timeout=EMITTING_WITHIN)
        expect(page.locator("#flowgate-emission-toggle")).to_have_text("Disabled")
        for node in NODES:
            assert exporters(testbed, node) == ["[]", "[]", "[]"], node


# -- 3. a viewer may look but not switch -------------------------------------------------------


def sign_in(page: Any, token: str) -> None:
    expect(page.get_by_role("heading", name="Enter token")).to_be_visible()
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Network Flows")).to_be_visible()


def test_viewer_sees_why_the_select_is_disabled(fresh_testbed: Any, pages: Pages, start_gateway: Any) -> None:
    gateway: Gateway = start_gateway(fresh_testbed)  # --auth user-token, the default
    page = pages.open(gateway.url + "/")
    expect(page.get_by_role("heading", name="Enter token")).to_be_visible()
    assert_accessible(page, "the token form")
    page.get_by_label("Token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("[data-test=token-error]")).to_be_visible()
    print(f"a wrong token: {page.locator('[data-test=token-error]').inner_text()}")

    page.get_by_label("Token").fill(fresh_testbed.token("viewer"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Network Flows")).to_be_visible()
    expect_states(page, dict.fromkeys(NODES, "Disabled"))
    reason = gateway.post("{ viewer { reason } }", user="viewer")["data"]["viewer"]["reason"]
    assert reason and "may not" in reason, reason
    expect(page.locator("[data-test=viewer-user]")).to_have_text("viewer")
    expect(page.locator("#flowgate-emission-toggle")).to_be_disabled()
    expect(hover_reason(page)).to_have_text(reason)
    pages.screenshot(page, "viewer-disabled", full_page=False)  # a full-page shot re-lays out and drops the tooltip
    assert_accessible(page, "the page as a viewer, tooltip open")

    page.get_by_role("button", name="Log out").click()
    sign_in(page, fresh_testbed.token("admin"))
    expect(page.locator("#flowgate-emission-toggle")).to_be_enabled()
    expect(page.locator("[data-test=emission-disabled-reason]")).to_have_count(0)
    expect(page.locator("[data-test=viewer-user]")).to_have_text("admin")
    # The token lives in this tab only.
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("sessionStorage.getItem('flowgate.token')") == fresh_testbed.token("admin")


def test_collector_section_shows_what_export_costs_a_node(fresh_testbed: Any, pages: Pages, tmp_path: Any) -> None:
    """The cost table the gateway ships reaches the page through GraphQL `exportCosts`."""
    table = export_cost.load()
    with running_gateway(fresh_testbed, tmp_path, "--auth", "none", user="admin") as gateway:
        page = pages.open(gateway.url + "/")
        expect(page.get_by_role("heading", name="Network Flows")).to_be_visible()
        expect_states(page, dict.fromkeys(NODES, "Disabled"))
        page.get_by_role("button", name="Collector").click()
        expect(page.get_by_role("grid", name="What export costs each node")).to_be_visible()
        for rate in table.rates:
            expect(page.get_by_role("columnheader", name=f"At {rate:,} packets/s")).to_be_visible()
        default = table.find(FlowType.IPFIX, 400, table.rates[-1])
        assert default is not None
        cpu = export_cost.format_cpu(default.cpu_percent_of_core, default.cpu_spread)
        row = page.locator('[data-test="cost-IPFIX-400"]')
        expect(row).to_contain_text("IPFIX, 1 in 400 (default)")
        expect(row).to_contain_text(f"{cpu} CPU · {export_cost.format_rate(default.export_bytes_per_second)}")
        expect(page.locator("[data-test=export-costs]")).to_contain_text(f"Measured {table.measured}")
        pages.screenshot(page, "collector-costs")
        assert_accessible(page, "the Collector section with what export costs")


def test_the_projected_cost_shows_before_switching_and_a_costly_switch_asks_first(
    fresh_testbed: Any, pages: Pages, tmp_path: Any
) -> None:
    """Each node's traffic (written into its Flow as its agent does) reaches the page as the
    projection of every type before anything changes; a switch past the threshold waits for a
    confirmation that shows the totals, and nothing is written until it is given."""
    rates = {"node-1": 2_000.0, "node-2": 20_000.0, "node-3": 50_000.0}
    report_traffic(fresh_testbed, rates)
    with running_gateway(fresh_testbed, tmp_path, "--auth", "none", user="admin") as gateway:
        page = pages.open(gateway.url + "/")
        expect_states(page, dict.fromkeys(NODES, "Disabled"))
        walk_through_the_projection(page, fresh_testbed, pages, rates, "projection")


# -- 4. OpenShiftSDN -------------------------------------------------------------------------


def test_sdn_cluster_says_flows_tracing_is_unsupported(fresh_sdn_testbed: Any, pages: Pages, tmp_path: Any) -> None:
    with running_gateway(fresh_sdn_testbed, tmp_path, "--auth", "none", user="admin") as gateway:
        page = pages.open(gateway.url + "/")
        alert = page.locator("[data-test=unsupported-alert]")
        expect(alert).to_contain_text("OpenShiftSDN does not support flows tracing.")
        expect(page.locator("#flowgate-emission-toggle")).to_be_disabled()
        expect(hover_reason(page)).to_have_text("OpenShiftSDN does not support flows tracing.")
        pages.screenshot(page, "sdn-unsupported", full_page=False)  # with the tooltip
        expect_states(page, {"node-1": "Disabled", "node-2": "Disabled"})
        assert_accessible(page, "the page on OpenShiftSDN")


# -- 5. the gateway goes away and comes back ---------------------------------------------------

FLOW_EXPORT = {
    "apiVersion": "flowgate.dev/v1alpha1",
    "kind": "FlowExport",
    "metadata": {"name": "cluster"},
    "spec": {"type": "IPFIX", "collector": {"nodePort": NODE_PORT}},
}


def report_emitting(testbed: Any, node: str, generation: int, flow_type: str, endpoint: str) -> None:
    """Flow/<node> as its agent writes it (as the testbed's agent user)."""
    agent = testbed.client("agent")
    body = {
        "apiVersion": "flowgate.dev/v1alpha1",
        "kind": "Flow",
        "metadata": {"name": node},
        "spec": {"nodeName": node},
    }
    agent.create(FLOWS_PATH, body)
    status = {
        "state": "Emitting",
        "type": flow_type,
        "endpoint": endpoint,
        "observedGeneration": generation,
        "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    agent.merge_patch(f"{FLOWS_PATH}/{node}/status", {"status": status})


def test_page_reconnects_and_shows_what_changed_meanwhile(fresh_testbed: Any, pages: Pages, tmp_path: Any) -> None:
    gateway = launch(fresh_testbed, tmp_path, "--auth", "none", user="admin")
    try:
        gateway.wait_ready()
        page = pages.open(gateway.url + "/")
        expect_states(page, dict.fromkeys(NODES, "Disabled"))
        connection = page.locator("[data-test=connection-status]")
        expect(connection).to_have_text("Live")
        page.evaluate("window.flowgateNotReloaded = true")

        gateway.process.kill()
        gateway.process.wait()
        expect(connection).to_have_text("Reconnecting…", timeout=10_000)

        # Meanwhile, as kubectl and an agent would: IPFIX is asked for and node-1 reports it.
        applied = fresh_testbed.kubectl("apply", "-f", "-", input=json.dumps(FLOW_EXPORT))
        assert applied.returncode == 0, applied.stderr
        generation = json.loads(fresh_testbed.kubectl("get", "flowexport", "cluster", "-o", "json").stdout)["metadata"][
            "generation"
        ]
        endpoint = f"{fresh_testbed.node_ip('node-1')}:{NODE_PORT}"
        report_emitting(fresh_testbed, "node-1", generation, "IPFIX", endpoint)
        expect(connection).to_have_text("Reconnecting…")  # still down: nothing new shown yet
        expect(status_cell(page, "node-1")).to_have_text("Disabled")

        down_at = time.monotonic()
        gateway = launch(fresh_testbed, tmp_path, "--auth", "none", user="admin", port=gateway.port)
        gateway.wait_ready()
        expect(connection).to_have_text("Live", timeout=40_000)  # the page's backoff is capped at 30 s
        print(f"figure: gateway restarted -> page live again: {time.monotonic() - down_at:.2f} s")
        expect_states(page, {"node-1": "Emitting", "node-2": "Pending", "node-3": "Pending"})
        expect(cell(page, "node-1", "Endpoint")).to_have_text(endpoint)
        expect(page.locator("#flowgate-emission-toggle")).to_have_text("IPFIX")
        assert page.evaluate("window.flowgateNotReloaded") is True, "the page was reloaded"
        pages.screenshot(page, "reconnected")
    finally:
        gateway.stop()


def test_pages_on_a_stopping_gateway_are_back_on_the_other_with_what_changed(
    fresh_testbed: Any, pages: Pages, tmp_path: Any
) -> None:
    """Two gateways behind HAProxy (standing in for their Service); a rolling update stops one
    (SIGTERM: 1001 to its WebSockets). Its pages come back on the other at once, through the same
    address, and show the change made while they moved; none reloads."""
    ports = free_ports(2)
    gateways = [launch(fresh_testbed, tmp_path, "--auth", "none", user="admin", port=port) for port in ports]
    balancer = LoadBalancer(tmp_path / "haproxy", list(zip("ab", ports, strict=True)))
    try:
        for gateway in gateways:
            gateway.wait_ready()
        balancer.start()
        deadline = time.monotonic() + 30
        while set(balancer.states().values()) != {"UP"}:
            assert time.monotonic() < deadline, f"both gateways UP behind HAProxy; saw {balancer.states()}"
            time.sleep(0.1)
        opened = []
        for _ in range(6):
            page = pages.open(balancer.url + "/")
            expect_states(page, dict.fromkeys(NODES, "Disabled"))
            expect(page.locator("[data-test=connection-status]")).to_have_text("Live")
            page.evaluate("window.flowgateNotReloaded = true")
            opened.append(page)
        held = balancer.sessions()
        assert held["a"] > 0 and held["b"] > 0, f"the pages' WebSockets on both gateways: {held}"

        gateways[0].process.terminate()  # as a rolling update stops it
        stopped_at = time.monotonic()
        applied = fresh_testbed.kubectl("apply", "-f", "-", input=json.dumps(FLOW_EXPORT))
        assert applied.returncode == 0, applied.stderr
        generation = json.loads(fresh_testbed.kubectl("get", "flowexport", "cluster", "-o", "json").stdout)["metadata"][
            "generation"
        ]
        endpoint = f"{fresh_testbed.node_ip('node-1')}:{NODE_PORT}"
        report_emitting(fresh_testbed, "node-1", generation, "IPFIX", endpoint)
        for page in opened:
            expect_states(page, {"node-1": "Emitting"}, timeout=20_000)
            expect(cell(page, "node-1", "Endpoint")).to_have_text(endpoint)
            expect(page.locator("[data-test=connection-status]")).to_have_text("Live")
            assert page.evaluate("window.flowgateNotReloaded") is True, "the page was reloaded"
        print(f"figure: gateway stopped -> every page shows the change: {time.monotonic() - stopped_at:.2f} s")
        assert gateways[0].process.wait(20) in (0, -signal.SIGTERM), gateways[0].log_tail()
        moved = balancer.sessions()
        assert moved["a"] == 0 and moved["b"] >= len(opened), f"every page's WebSocket on b: {moved}"
    finally:
        balancer.stop()
        for gateway in gateways:
            gateway.stop()


# -- 7. GraphiQL with nothing but the gateway reachable ----------------------------------------


def run_in_graphiql(page: Any, query: str) -> None:
    """Replaces the editor's document with `query` (one operation) and runs it."""
    page.evaluate(
        "(query) => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(query)", query
    )
    # Until GraphiQL has parsed the new document, it still sees the example's two operations and
    # its button opens a menu to choose one instead of running.
    button = page.locator(".graphiql-execute-button:not([aria-haspopup])")
    expect(button).to_be_visible()
    button.click()


def graphiql_result(page: Any, field: str, timeout: float = 15.0) -> Any:
    """The result pane's JSON once it holds data.<field>."""
    deadline = time.monotonic() + timeout
    while True:
        text = str(page.evaluate("() => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()"))
        if f'"{field}"' in text:
            result = json.loads(text)
            assert not result.get("errors"), f"GraphiQL shows errors: {text}"
            return result["data"][field]
        if time.monotonic() > deadline:
            raise AssertionError(f"GraphiQL showed no {field} within {timeout:.0f} s; it shows: {text!r}")
        time.sleep(0.1)


def test_graphiql_works_offline(fresh_testbed: Any, pages: Pages, tmp_path: Any) -> None:
    with running_gateway(fresh_testbed, tmp_path, "--auth", "none", user="admin") as gateway:
        page = pages.open()
        refused: list[str] = []

        def only_the_gateway(route: Any) -> None:
            if route.request.url.startswith(gateway.url + "/"):
                route.continue_()
            else:
                refused.append(route.request.url)
                route.abort()

        page.context.route("**/*", only_the_gateway)
        page.goto(gateway.graphql_url)
        expect(page.locator(".graphiql-query-editor .CodeMirror")).to_be_visible()

        run_in_graphiql(page, "{ flows { enabled networkType nodes { node state } } }")
        flows = graphiql_result(page, "flows")
        assert flows["networkType"] == "OVNKubernetes" and not flows["enabled"], flows
        assert sorted(n["node"] for n in flows["nodes"]) == NODES

        run_in_graphiql(page, "subscription { nodeFlowStatus { node state } }")
        first = graphiql_result(page, "nodeFlowStatus")
        assert first["node"] in NODES and first["state"] == "DISABLED", first
        pages.screenshot(page, "graphiql-subscription", full_page=False)
        assert not refused, f"GraphiQL asked for something beyond the gateway: {refused}"


# -- 10. `make demo` serves the page and says where first --------------------------------------


@pytest.mark.ovs
def test_demo_prints_the_page_first_and_serves_it(pages: Pages, tmp_path: Any) -> None:
    port = free_port()
    # A short directory: OVS control socket paths have a length limit that pytest's tmp_path breaks.
    state = Path(tempfile.mkdtemp(prefix="fg-demo-"))
    command = [str(Path(sys.executable).parent / "flowgate-testbed"), "demo", "--dir", str(state)]
    with (tmp_path / "demo.log").open("w") as progress:
        demo = subprocess.Popen([*command, "--port", str(port)], stdout=subprocess.PIPE, stderr=progress, text=True)
    try:
        reader = LineReader(demo)
        first = reader.next_line(timeout=120)
        assert first == f"Network Flows page: http://127.0.0.1:{port}/", first
        lines = [reader.next_line(timeout=5) for _ in range(8)]
        admin_token = lines[lines.index("The page asks for a token. As a cluster admin (switches flow export):") + 1]
        page = pages.open(f"http://127.0.0.1:{port}/")
        sign_in(page, admin_token.strip())
        expect_states(page, dict.fromkeys(NODES, "Disabled"))
        expect(page.locator("[data-test=connection-status]")).to_have_text("Live")
        expect(page.locator("#flowgate-emission-toggle")).to_be_enabled()
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            code = demo.wait(60)
        except subprocess.TimeoutExpired:
            demo.kill()
            code = demo.wait()
    assert code == 0, f"the demo exited {code} on Ctrl-C"
    shutil.rmtree(state, ignore_errors=True)
