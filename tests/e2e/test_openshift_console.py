"""The console plugin inside the real OpenShift console (tests/fixtures/openshift_console.py: the
console's own bridge and production frontend, built from openshift/console), in real Chromium,
against the testbed's API server, with the plugin configured from deploy/overlays/openshift's
ConsolePlugin as the console operator would, and the gateway run with the arguments that overlay
gives it (HTTPS, user tokens). Where switched, real agents drive real Open vSwitch.

Every page here is watched from its first script: a Content-Security-Policy violation, a
"Missing i18n key" message or a frozen tab (a long task past LONG_TASK_MS) fails the test; the
longest task is printed. Screenshots go to
tests/artifacts/: openshift-console-network-flows.png, openshift-console-viewer.png,
openshift-console-projection.png, openshift-console-projection-confirm.png."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.fixtures.agents import NodeAgents
from tests.fixtures.browser import Pages, assert_accessible
from tests.fixtures.flows_page import (
    EMITTING_WITHIN,
    FLOWS_PATH,
    NODE_PORT,
    NODES,
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
from tests.fixtures.gateway import Gateway, launch, serving_certificate
from tests.fixtures.openshift_console import (
    OpenShiftConsole,
    console_home,
    gateway_arguments,
    install_console_objects,
    running_openshift_console,
)

pytestmark = [pytest.mark.slow]

PAGE = "/flowgate/network-flows"
PLUGINS_PAGE = "/k8s/cluster/operator.openshift.io~v1~Console/cluster/console-plugins"
FIRST_LOAD = 60_000  # ms: the console's first page load takes some 10 s here, more under load
# A tab frozen by the console translating strings not loaded yet was stuck for minutes. On a quiet
# machine the longest task here is a few hundred ms (printed); with other load on the same two
# cores a task's wall time stretches several times, so the bound is one only a freeze breaks.
LONG_TASK_MS = 5000
EVENTS = "/apis/events.k8s.io/v1/namespaces/default/events"

# From the page's first script: long tasks and every text the emission select showed. (CSP
# violations, which the console's report-only policy reports as events, the pages fixture collects.)
WATCH = """() => {
  window.flowgateWatch = { longTasks: [], emission: [] };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.flowgateWatch.longTasks.push(Math.round(entry.duration));
  }).observe({ type: 'longtask', buffered: true });
  const record = () => {
    const toggle = document.querySelector('#flowgate-emission-toggle');
    if (!toggle) return;
    const text = toggle.textContent.trim();
    const seen = window.flowgateWatch.emission;
    if (seen[seen.length - 1] !== text) seen.push(text);
  };
  new MutationObserver(record).observe(document, { subtree: true, childList: true, characterData: true });
}"""


class WatchedPage:
    """A page in the real console, watched from before its first script runs."""

    def __init__(self, pages: Pages, console: OpenShiftConsole) -> None:
        self.pages = pages
        self.console = console
        self.page = pages.open(echo_console=False, own_errors=True)
        self.messages: list[str] = []
        self.page.on("console", lambda message: self.messages.append(f"{message.type}: {message.text}"))
        # Uncaught errors on the plugin's page fail the test; the console's own pages have theirs.
        self.errors: list[str] = []
        self.page.on("pageerror", self._uncaught)
        self.page.add_init_script(f"({WATCH})()")

    def _uncaught(self, error: Any) -> None:
        if PAGE in self.page.url:
            self.errors.append(f"{self.page.url}: {error}\n{getattr(error, 'stack', '')}")

    def goto(self, path: str) -> Any:
        self.page.goto(self.console.url + path)
        return self.page

    def watched(self) -> dict[str, list[int | str]]:
        found: dict[str, list[Any]] = self.page.evaluate("window.flowgateWatch")
        return found

    def start_timing(self) -> None:
        """Long tasks count from here (the console's own first load is not the plugin's)."""
        self.page.evaluate("window.flowgateWatch.longTasks = []")

    def assert_healthy(self, what: str) -> None:
        """No CSP violation and no missing string so far, no frozen tab since start_timing."""
        watched = self.watched()
        assert not self.errors, f"{what}: uncaught errors on the plugin's page: {self.errors}"
        missing = [m for m in self.messages if "Missing i18n key" in m]
        assert not missing, f"{what}: {len(missing)} 'Missing i18n key' messages, e.g. {missing[:3]}"
        csp = self.pages.csp_violations(self.page)
        assert not csp, f"{what}: Content-Security-Policy violations: {csp}"
        longest = max(watched["longTasks"], default=0)
        print(f"{what}: longest task {longest} ms of {len(watched['longTasks'])} long tasks")
        assert longest < LONG_TASK_MS, f"{what}: the page was unresponsive for {longest} ms: {watched['longTasks']}"


@contextlib.contextmanager
def gateway_as_deployed(testbed: Any, log_dir: Path) -> Iterator[Gateway]:
    """`flowgate serve` with deploy/overlays/openshift's arguments (HTTPS, user tokens) on loopback."""
    tls = serving_certificate(log_dir / "gateway-tls")
    gateway = launch(testbed, log_dir, *gateway_arguments(tls), ca_file=tls / "tls.crt")
    try:
        gateway.wait_ready()
        yield gateway
    finally:
        gateway.stop()


def open_from_nav(page: Any, section: str | None) -> None:
    """Networking → Network Flows (Core platform), or Network Flows at the top (Developer)."""
    if section:
        page.get_by_role("button", name=section, exact=True).click()
    link = page.get_by_role("link", name="Network Flows", exact=True)
    expect(link).to_be_visible(timeout=FIRST_LOAD)
    link.click()
    expect(page).to_have_url(re.compile(f".*{PAGE}$"))
    expect(page.get_by_role("heading", name="Network Flows")).to_be_visible()


def switch_perspective(page: Any, name: str) -> None:
    toggle = page.locator("[data-test-id=perspective-switcher-toggle]")
    toggle.click()
    # A tab frozen by translating strings that are not loaded yet fails here, within the timeout.
    page.get_by_role("option", name=name).click(timeout=15_000)
    expect(toggle).to_contain_text(name, timeout=30_000)


def flowexport_events(testbed: Any) -> list[dict[str, Any]]:
    items = testbed.client().get(f"{EVENTS}?fieldSelector=regarding.kind%3DFlowExport")["items"]
    return sorted(items, key=lambda e: e["eventTime"])


def write_flow_message(testbed: Any, node: str, message: str) -> None:
    """Flow/<node>'s status message, as that node's agent writes it (with the agent's identity)."""
    testbed.client("agent").merge_patch(f"{FLOWS_PATH}/{node}/status", {"status": {"message": message}})


@pytest.mark.ovs
def test_an_admin_runs_export_from_the_real_console(
    ovs_cluster: tuple[Any, NodeAgents], pages: Pages, tmp_path: Path
) -> None:
    console_home()
    testbed, agents = ovs_cluster
    install_console_objects(testbed)
    testbed.client().request("DELETE", EVENTS)
    with gateway_as_deployed(testbed, tmp_path) as gateway:
        stop_export(gateway)
        # Export already runs when the page opens: the page must show it, and never "Disabled".
        started = gateway.post(
            "mutation { startFlows(type: NETFLOW, collector: {nodePort: 30001}, activeTimeoutSeconds: 1) { generation } }"
        )
        assert not started.get("errors"), started
        with running_openshift_console(testbed, gateway, "admin", tmp_path) as console:
            watched = WatchedPage(pages, console)
            page = watched.goto("/")
            open_from_nav(page, "Networking")
            connection = page.locator("[data-test=connection-status]")
            expect(connection).to_have_text("Live", timeout=FIRST_LOAD)
            watched.start_timing()
            expect_states(page, dict.fromkeys(NODES, "Emitting"))
            expect(page.locator("#flowgate-emission-toggle")).to_have_text("NetFlow")
            shown = watched.watched()["emission"]
            assert "Disabled" not in shown, f"the select showed a setting it did not know: {shown}"
            for node in NODES:  # each node's collector counts its records
                expect(cell(page, node, "Received")).to_contain_text("Confirmed", timeout=EMITTING_WITHIN)
            pages.screenshot(page, "openshift-console-network-flows", full_page=False)
            watched.assert_healthy("the Network Flows page as it opened, as admin")
            # The plugin's page at rest, not the console's masthead and navigation around it.
            assert_accessible(page, "the plugin's page in the real console", within="main")
            watched.start_timing()  # axe's own run is a long task

            # Switched through the console's proxy, as the signed-in user.
            choose_emission(page, "IPFIX")
            expect(page.locator("#flowgate-emission-toggle")).to_have_text("IPFIX")
            for node in NODES:
                expect(cell(page, node, "Type")).to_have_text("IPFIX", timeout=EMITTING_WITHIN)
                expect(status_cell(page, node)).to_have_text("Emitting", timeout=EMITTING_WITHIN)
                expect(cell(page, node, "Endpoint")).to_have_text(f"{testbed.node_ip(node)}:{NODE_PORT}")
            assert exporters(testbed, "node-1")[2] != "[]", "node-1's br-int has no IPFIX"

            # A Flow status change reaches the row (node-3's agent is held so it does not answer).
            agents.stop("node-3")
            written = time.monotonic()
            write_flow_message(testbed, "node-3", "written by the test")
            expect(cell(page, "node-3", "Message")).to_have_text("written by the test", timeout=10_000)
            print(
                f"figure: Flow status written -> row shows it in the real console: {time.monotonic() - written:.2f} s"
            )
            agents.start("node-3")

            choose_emission(page, "Disabled")
            expect_states(page, dict.fromkeys(NODES, "Disabled"))
            for node in NODES:
                expect(cell(page, node, "Message")).to_have_text("", timeout=EMITTING_WITHIN)
                assert exporters(testbed, node) == ["[]", "[]", "[]"], node

            # The writes were the user's: FlowExport's Events name them.
            notes = [(e["reason"], e["note"]) for e in flowexport_events(testbed)]
            assert [reason for reason, _ in notes] == ["FlowExportStarted", "FlowExportSwitched", "FlowExportStopped"]
            assert all(note.startswith('User "admin" ') for _, note in notes), notes

            # The gateway goes away (SIGTERM, as in a rolling update) and comes back on its port.
            page.evaluate("window.flowgateNotReloaded = true")
            gateway.stop()
            expect(connection).to_have_text("Reconnecting…", timeout=15_000)
            # A few refused attempts later the page says why, as the console's proxy answers it.
            trouble = page.locator("[data-test=connection-trouble]")
            expect(trouble).to_contain_text("attempts in a row", timeout=30_000)
            expect(page.locator("[data-test=connection-trouble-seen]")).to_contain_text("HTTP 502")
            expect(page.locator("[data-test=connection-trouble-todo]")).to_contain_text("The gateway cannot be reached")
            print(f"the page, with the gateway down: {trouble.inner_text()!r}")
            assert gateway.ca_file is not None
            tls = gateway.ca_file.parent
            restarted = launch(testbed, tmp_path, *gateway_arguments(tls), port=gateway.port, ca_file=gateway.ca_file)
            try:
                restarted.wait_ready()
                back = time.monotonic()
                expect(connection).to_have_text("Live", timeout=45_000)  # the page's backoff is capped at 30 s
                expect(trouble).to_have_count(0)
                print(f"figure: gateway restarted -> page live again: {time.monotonic() - back:.2f} s")
                expect_states(page, dict.fromkeys(NODES, "Disabled"))
                expect(page.locator("#flowgate-emission-toggle")).to_have_text("Disabled")
                assert page.evaluate("window.flowgateNotReloaded") is True, "the page was reloaded"
                # Every WebSocket the console's proxy dialled was accepted.
                for log in (gateway.log, restarted.log):
                    assert "refused a WebSocket" not in log.read_text(), log
                counted = restarted.metrics()
                assert 'flowgate_http_requests_total{method="WS",path="/graphql",status="101"}' in counted, counted
                assert 'method="WS",status="403"' not in counted, counted
            finally:
                restarted.stop()

            # The console's own check before its proxy: a write without its CSRF header is refused.
            status = page.evaluate(
                """async () => (await fetch('/api/proxy/plugin/flowgate/gateway/graphql', {
                    method: 'POST', headers: {'Content-Type': 'application/json'},
                    body: '{"query": "{ flows { enabled } }"}',
                })).status"""
            )
            assert status == 403, status
            watched.assert_healthy("the Network Flows page, as admin")

            # The console's own record of the plugin, in the same session (its CSP violations are
            # what this browser tab saw): the console's router, not a new page load.
            page.evaluate(
                "(path) => { window.history.pushState({}, '', path); window.dispatchEvent(new PopStateEvent('popstate')); }",
                PLUGINS_PAGE,
            )
            plugins = page
            expect(plugins.locator("[data-test=flowgate-status]")).to_have_text("Loaded", timeout=FIRST_LOAD)
            expect(plugins.locator("[data-test=flowgate-csp-violations]")).to_have_text("No")


def test_the_projected_cost_shows_in_the_real_console_before_anything_changes(
    fresh_testbed: Any, pages: Pages, tmp_path: Path
) -> None:
    """Each node's traffic (in its Flow, as its agent writes it) reaches the plugin through the
    console's proxy as the projection of every type; a costly switch waits for a confirmation
    with the totals, and is sent as the signed-in user once confirmed."""
    console_home()
    testbed = fresh_testbed
    install_console_objects(testbed)
    testbed.client().request("DELETE", EVENTS)
    rates = {"node-1": 2_000.0, "node-2": 20_000.0, "node-3": 50_000.0}
    report_traffic(testbed, rates)
    with (
        gateway_as_deployed(testbed, tmp_path) as gateway,
        running_openshift_console(testbed, gateway, "admin", tmp_path) as console,
    ):
        watched = WatchedPage(pages, console)
        page = watched.goto("/")
        open_from_nav(page, "Networking")
        expect(page.locator("[data-test=connection-status]")).to_have_text("Live", timeout=FIRST_LOAD)
        expect_states(page, dict.fromkeys(NODES, "Disabled"))
        watched.start_timing()
        walk_through_the_projection(page, testbed, pages, rates, "openshift-console-projection")
        watched.assert_healthy("the projection in the real console")
        notes = [e["note"] for e in flowexport_events(testbed)]
        assert notes and notes[-1].startswith('User "admin" started flow export: IPFIX'), notes


@pytest.mark.ovs
def test_the_real_console_counts_down_and_shows_the_nodes_selected(
    ovs_cluster: tuple[Any, NodeAgents], pages: Pages, tmp_path: Path
) -> None:
    """Export for 15 minutes from two nodes, chosen on the page in the real console: the countdown
    next to "Flows emission", the Selected column and the others "not selected"; stopping it
    takes the countdown away."""
    console_home()
    testbed, _ = ovs_cluster
    install_console_objects(testbed)
    with gateway_as_deployed(testbed, tmp_path) as gateway:
        stop_export(gateway)
        with running_openshift_console(testbed, gateway, "admin", tmp_path) as console:
            watched = WatchedPage(pages, console)
            page = watched.goto(PAGE)
            expect(page.locator("[data-test=connection-status]")).to_have_text("Live", timeout=FIRST_LOAD)
            watched.start_timing()
            expect_states(page, dict.fromkeys(NODES, "Disabled"))
            choose_duration(page, "15 min")
            choose_nodes(page, "node-1, node-2")
            set_active_timeout(page, 1)
            choose_emission(page, "NetFlow")

            countdown = page.locator("[data-test=export-countdown]")
            expect(countdown).to_have_text(re.compile(r"^Stops in 1[45]:\d\d$"), timeout=EMITTING_WITHIN)
            expect_chosen(page, ["node-1", "node-2"])
            expect(page.locator("#flowgate-duration-toggle")).to_have_text("Keep the current end")
            first = countdown.inner_text()
            expect(countdown).not_to_have_text(first, timeout=5_000)  # it counts, second by second
            assert exporters(testbed, "node-3") == ["[]", "[]", "[]"]
            spec = testbed.client().get("/apis/flowgate.dev/v1alpha1/flowexports/cluster")["spec"]
            assert spec["nodes"] == ["node-1", "node-2"] and spec["deadline"], spec
            # The countdown and the table in one view: the form sections folded away.
            page.locator("[data-test=node-choice] button[aria-expanded=true]").click()
            page.get_by_role("button", name=re.compile("^Collector")).click()
            expect(page.locator("#flowgate-node-names")).to_be_hidden()
            pages.screenshot(page, "openshift-console-timebox", full_page=False)
            watched.assert_healthy("the Network Flows page exporting for a while from two nodes")
            assert_accessible(page, "the countdown and the Selected column in the real console", within="main")
            watched.start_timing()

            choose_emission(page, "Disabled")
            expect_states(page, dict.fromkeys(NODES, "Disabled"))
            expect(countdown).to_have_count(0)
            expect(page.get_by_role("columnheader", name="Selected")).to_have_count(0)
            watched.assert_healthy("the Network Flows page after the stop")


def test_readers_find_the_page_in_their_perspective_and_others_see_no_entry(
    fresh_testbed: Any, pages: Pages, tmp_path: Path
) -> None:
    console_home()
    testbed = fresh_testbed
    install_console_objects(testbed)
    with (
        gateway_as_deployed(testbed, tmp_path) as gateway,
        running_openshift_console(testbed, gateway, "viewer", tmp_path) as viewer_console,
        running_openshift_console(testbed, gateway, "nobody", tmp_path) as nobody_console,
    ):
        reason = gateway.post("{ viewer { reason } }", user="viewer")["data"]["viewer"]["reason"]
        assert reason and "may not" in reason, reason

        # A viewer lands in the Developer perspective, which has the entry too.
        viewer = WatchedPage(pages, viewer_console)
        page = viewer.goto("/")
        expect(page.locator("[data-test-id=perspective-switcher-toggle]")).to_contain_text(
            "Developer", timeout=FIRST_LOAD
        )
        open_from_nav(page, None)
        expect(page.locator("[data-test=connection-status]")).to_have_text("Live", timeout=FIRST_LOAD)
        expect_states(page, dict.fromkeys(NODES, "Disabled"))
        expect(page.locator("#flowgate-emission-toggle")).to_be_disabled()
        expect(hover_reason(page)).to_have_text(reason)
        pages.screenshot(page, "openshift-console-viewer", full_page=False)

        # Switching to Core platform stays responsive and shows the entry under Networking.
        viewer.start_timing()
        switch_perspective(page, "Core platform")
        open_from_nav(page, "Networking")
        expect(page.locator("[data-test=connection-status]")).to_have_text("Live", timeout=FIRST_LOAD)
        expect(page.locator("#flowgate-emission-toggle")).to_be_disabled()
        viewer.assert_healthy("the viewer's console, both perspectives")

        # A user who may not read flows: the page itself says so (the plugin is loaded), but no
        # perspective offers an entry.
        nobody = WatchedPage(pages, nobody_console)
        page = nobody.goto(PAGE)
        expect(page.locator("[data-test=table-error]")).to_contain_text("flows", timeout=FIRST_LOAD)
        nobody.start_timing()
        page.wait_for_timeout(3000)  # the access flag, had it let this user in, would show the entry by now
        for perspective in ("Developer", "Core platform"):
            if perspective not in page.locator("[data-test-id=perspective-switcher-toggle]").inner_text():
                switch_perspective(page, perspective)
            if perspective == "Core platform":
                expect(page.get_by_role("button", name="Administration", exact=True)).to_be_visible()
                networking = page.get_by_role("button", name="Networking", exact=True)
                if networking.count():
                    networking.click()
            expect(page.get_by_role("link", name="Network Flows", exact=True)).to_have_count(0)
            nav = page.locator(".pf-v6-c-page__sidebar")
            print(f"nobody's {perspective} navigation: {json.dumps(nav.inner_text().splitlines())}")
            pages.screenshot(page, f"openshift-console-nobody-{perspective.split()[0].lower()}", full_page=False)
        nobody.assert_healthy("the console of a user who may not read flows")
