"""What `flowgate gather` collects, in must-gather's layout under one directory:

    cluster-scoped-resources/flowgate.dev/flowexports/cluster.yaml
    cluster-scoped-resources/flowgate.dev/flows/<node>.yaml             every Flow
    cluster-scoped-resources/console.openshift.io/consoleplugins/flowgate.yaml
    events/flowgate.yaml                 Events about FlowExport and the Flows, and in the namespace
    namespaces/<ns>/pods.yaml            the gateway's and the agents' pods
    namespaces/<ns>/pods/<pod>/<container>/logs/current.log (and previous.log after a restart)
    nodes/<node>/br-int.yaml             the node's exporters as its agent last read them from OVS
    nodes/<node>/agent-metrics.txt       the agent's whole /metrics page
    gather.log                           what was collected, and what could not be, and why

Secrets are never read, and nothing the collection authenticates with is written: objects are
written as the API server returns them (their managedFields dropped), logs as the pods wrote them.
Each part that fails is recorded in gather.log and the rest goes on."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.domain.model import FLOW_EXPORT_KIND, FLOW_EXPORT_NAME, FLOW_KIND
from gateway.kube.api import ApiError, ApiUnreachable, KubeApi
from gateway.kube.resources import EVENTS, FLOW_EXPORTS, FLOWS, Resource

JSON = dict[str, Any]
CONSOLE_PLUGINS = Resource("console.openshift.io", "v1", "consoleplugins", "ConsolePlugin")
PODS = Resource("", "v1", "pods", "Pod", namespaced=True)
PLUGIN_NAME = "flowgate"
COMPONENTS = ("gateway", "agent")
METRICS_ADDRESS = re.compile(r"^--metrics-address=.*:(\d+)$")
EXPORTER_FAMILY = "flowgate_agent_ovs_exporter"
EXPORTER_FIELDS = ("type", "targets", "active_timeout", "sampling", "cache_max_flows", "agent")


@dataclass
class Gathering:
    """One run: where it writes, and the log of what it did."""

    api: KubeApi
    dest: Path
    namespace: str
    log_lines: int
    http_timeout: float = 10.0
    notes: list[str] = field(default_factory=list)
    failures: int = 0

    def __post_init__(self) -> None:
        self.dest.mkdir(parents=True, exist_ok=True)

    def note(self, line: str) -> None:
        self.notes.append(line)

    def write(self, relative: str, content: str) -> None:
        path = self.dest / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)

    def write_objects(self, relative: str, objects: JSON | list[JSON]) -> None:
        if isinstance(objects, list):
            self.write(relative, yaml.safe_dump_all([_clean(o) for o in objects], sort_keys=False))
        else:
            self.write(relative, yaml.safe_dump(_clean(objects), sort_keys=False))

    async def step(self, what: str, work: Callable[[], Awaitable[str]]) -> None:
        """Run one part; its outcome (or why it failed) goes into gather.log."""
        try:
            self.note(f"{what}: {await work()}")
        except (ApiError, ApiUnreachable, aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            self.failures += 1
            self.note(f"{what}: FAILED: {_sentence(exc)}")


def _clean(obj: JSON) -> JSON:
    obj = dict(obj)
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    obj["metadata"] = meta
    return obj


def _sentence(exc: BaseException) -> str:
    if isinstance(exc, ApiError):
        return f"the API server answered {exc.status}: {exc.message or exc.reason}"
    return str(exc) or type(exc).__name__


async def gather(api: KubeApi, dest: Path, namespace: str, log_lines: int = 10000) -> Gathering:
    run = Gathering(api, dest, namespace, log_lines)
    await run.step("FlowExport", lambda: _flow_export(run))
    await run.step("Flows", lambda: _flows(run))
    await run.step("ConsolePlugin", lambda: _console_plugin(run))
    await run.step("Events", lambda: _events(run))
    pods: list[JSON] = []

    async def list_pods() -> str:
        pods.extend(await _pods(run))
        return f"{len(pods)} pods of the gateway and the agents in namespace {namespace}"

    await run.step("Pods", list_pods)
    for pod in pods:
        name = pod["metadata"]["name"]
        await run.step(f"logs of pod {name}", lambda pod=pod: _logs(run, pod))  # type: ignore[misc]
    agents = [p for p in pods if _component(p) == "agent"]
    await asyncio.gather(
        *(run.step(f"br-int of node {_node(p)}", lambda p=p: _agent_view(run, p)) for p in agents)  # type: ignore[misc]
    )
    run.write("gather.log", "\n".join(run.notes) + "\n")
    return run


async def _flow_export(run: Gathering) -> str:
    obj = await run.api.get_or_none(FLOW_EXPORTS, FLOW_EXPORT_NAME)
    if obj is None:
        return f"there is no {FLOW_EXPORT_KIND}/{FLOW_EXPORT_NAME} (export was never started)"
    run.write_objects(f"cluster-scoped-resources/flowgate.dev/flowexports/{FLOW_EXPORT_NAME}.yaml", obj)
    return f"spec.type {(obj.get('spec') or {}).get('type') or 'unset (stopped)'}, generation {obj['metadata'].get('generation')}"


async def _flows(run: Gathering) -> str:
    items = (await run.api.list(FLOWS)).get("items") or []
    for item in items:
        run.write_objects(f"cluster-scoped-resources/flowgate.dev/flows/{item['metadata']['name']}.yaml", item)
    return f"{len(items)} Flows"


async def _console_plugin(run: Gathering) -> str:
    obj = await run.api.get_or_none(CONSOLE_PLUGINS, PLUGIN_NAME)
    if obj is None:
        return f"there is no ConsolePlugin {PLUGIN_NAME} (not OpenShift, or installed without it)"
    run.write_objects(f"cluster-scoped-resources/console.openshift.io/consoleplugins/{PLUGIN_NAME}.yaml", obj)
    return f"ConsolePlugin {PLUGIN_NAME}"


async def _events(run: Gathering) -> str:
    """Events about FlowExport/cluster and every Flow (wherever the API server keeps them) and every
    Event in flowgate's namespace; the API server keeps them for an hour by default."""
    found: dict[str, JSON] = {}
    for kind in (FLOW_EXPORT_KIND, FLOW_KIND):
        listing = await run.api.list(EVENTS, fieldSelector=f"regarding.kind={kind}")
        for item in listing.get("items") or []:
            found[item["metadata"]["uid"]] = item
    for item in (await run.api.list(EVENTS, run.namespace)).get("items") or []:
        found[item["metadata"]["uid"]] = item
    events = sorted(found.values(), key=lambda e: e.get("eventTime") or e["metadata"].get("creationTimestamp") or "")
    run.write_objects("events/flowgate.yaml", events)
    return f"{len(events)} Events"


def _component(pod: JSON) -> str:
    return str(((pod.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/component", ""))


def _node(pod: JSON) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "unscheduled")


async def _pods(run: Gathering) -> list[JSON]:
    pods: list[JSON] = []
    for component in COMPONENTS:
        selector = f"app.kubernetes.io/name=flowgate,app.kubernetes.io/component={component}"
        pods += (await run.api.list(PODS, run.namespace, labelSelector=selector)).get("items") or []
    run.write_objects(f"namespaces/{run.namespace}/pods.yaml", pods)
    return pods


async def _logs(run: Gathering, pod: JSON) -> str:
    name = pod["metadata"]["name"]
    restarted = {s["name"] for s in (pod.get("status") or {}).get("containerStatuses") or [] if s.get("restartCount")}
    written = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        cname = container["name"]
        for previous in (False, True) if cname in restarted else (False,):
            path = PODS.path(name, run.namespace, "log")
            params = f"container={cname}&tailLines={run.log_lines}&timestamps=true" + (
                "&previous=true" if previous else ""
            )
            text = await run.api.text(f"{path}?{params}")
            which = "previous" if previous else "current"
            run.write(f"namespaces/{run.namespace}/pods/{name}/{cname}/logs/{which}.log", text)
            written.append(f"{cname} ({which}, {len(text.splitlines())} lines)")
    return ", ".join(written) or "no containers"


def metrics_port(pod: JSON) -> int:
    """The agent's metrics port, from its container's --metrics-address; ValueError when it serves none."""
    for container in (pod.get("spec") or {}).get("containers") or []:
        for arg in [*(container.get("command") or []), *(container.get("args") or [])]:
            match = METRICS_ADDRESS.match(arg)
            if match:
                return int(match.group(1))
    raise ValueError("its agent serves no metrics (no --metrics-address), so its view of br-int cannot be read")


def exporters(page: str) -> list[JSON]:
    """br-int's exporter rows from an agent's /metrics page, as the agent last read them."""
    rows: list[JSON] = []
    wanted = "".join(
        line + "\n"
        for line in page.splitlines()
        if line.startswith(
            ("# HELP " + EXPORTER_FAMILY + " ", "# TYPE " + EXPORTER_FAMILY + " ", EXPORTER_FAMILY + "{")
        )
    )
    for family in text_string_to_metric_families(wanted):
        for sample in family.samples:
            row: JSON = {"bridge": sample.labels.get("bridge")}
            for key in EXPORTER_FIELDS:
                value = sample.labels.get(key, "")
                if value:
                    row[key] = int(value) if value.isdigit() else value
            rows.append(row)
    return rows


async def _agent_view(run: Gathering, pod: JSON) -> str:
    node = _node(pod)
    address = (pod.get("status") or {}).get("podIP")
    if not address:
        raise ValueError(f"pod {pod['metadata']['name']} has no IP yet")
    url = f"http://{address}:{metrics_port(pod)}/metrics"
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=run.http_timeout)) as session,
        session.get(url) as response,
    ):
        if response.status != 200:
            raise ValueError(f"{url} answered HTTP {response.status}")
        page = await response.text()
    run.write(f"nodes/{node}/agent-metrics.txt", page)
    rows = exporters(page)
    run.write(
        f"nodes/{node}/br-int.yaml", yaml.safe_dump({"node": node, "source": url, "exporters": rows}, sort_keys=False)
    )
    described = "; ".join(f"{r.get('type')} to {r.get('targets')}" for r in rows) or "no exporter"
    return f"{described} (from {url})"
