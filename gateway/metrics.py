"""What the gateway's /metrics reports: requests, errors, subscribers, watch health and event lag.

Each app owns its registry (several gateways can live in one test process); watch and subscriber
figures are read from the informers and the hub at scrape time rather than mirrored."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.access import Authorizer
from gateway.service.hub import StatusHub
from gateway.watch.informer import InformerSet

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Live(Collector):
    def __init__(
        self,
        hub: StatusHub,
        authorizer: Authorizer,
        subscribers: Callable[[], int],
        others: InformerSet | None,
        pending: Callable[[], int],
    ) -> None:
        self.hub = hub
        self.authorizer = authorizer
        self.subscribers = subscribers
        self.others = others or InformerSet([])
        self.pending = pending

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "flowgate_subscribers", "Open subscriptions (nodeFlowStatus and flowsTable).", value=self.subscribers()
        )
        yield GaugeMetricFamily(
            "flowgate_subscriber_pending_max",
            "The most node statuses waiting for any one subscriber (a slow reader holds at most one per node).",
            value=self.pending(),
        )
        watches = GaugeMetricFamily(
            "flowgate_watch_connected", "1 when the watch of this kind is synced and connected.", labels=["resource"]
        )
        restarts = CounterMetricFamily(
            "flowgate_watch_restarts", "Watch failures and watchdog restarts, per kind.", labels=["resource"]
        )
        relists = CounterMetricFamily(
            "flowgate_watch_relists", "Relists after 410 Gone, per kind.", labels=["resource"]
        )
        events = CounterMetricFamily("flowgate_watch_events", "Watch events applied, per kind.", labels=["resource"])
        for informer in [*self.hub.informers.informers, *self.others.informers]:
            kind = str(informer.resource)
            watches.add_metric([kind], float(informer.ready))
            restarts.add_metric([kind], informer.restarts)
            relists.add_metric([kind], informer.relists)
            events.add_metric([kind], informer.events)
        yield from (watches, restarts, relists, events)
        yield GaugeMetricFamily(
            "flowgate_watches",
            "Watches the gateway holds open.",
            value=self.hub.informers.watch_count + self.others.watch_count,
        )
        yield GaugeMetricFamily(
            "flowgate_ready", "1 when every watch is synced and connected.", value=float(self.hub.informers.ready)
        )
        if self.hub.synced:
            # One series per node, whatever its agent says or whether it has one: what alerts
            # compare the agents' own series with (a node Pending with no agent reporting).
            nodes = GaugeMetricFamily(
                "flowgate_node_state",
                "Each node's export state as users see it (Disabled, Pending, Emitting, Error); always 1.",
                labels=["node", "state"],
            )
            for status in self.hub.statuses():
                nodes.add_metric([status.node, status.state.value], 1.0)
            yield nodes
        yield GaugeMetricFamily(
            "flowgate_gc_frozen_objects",
            "Objects moved out of the garbage collector's sight (gc.freeze) after start-up and connection waves.",
            value=gc.get_freeze_count(),
        )
        yield CounterMetricFamily(
            "flowgate_access_reviews", "TokenReview+SubjectAccessReview pairs sent.", value=self.authorizer.reviews
        )


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "flowgate_http_requests",
            "HTTP requests and WebSocket connections, by path and status (101 for WebSocket).",
            ["path", "method", "status"],
            registry=self.registry,
        )
        self.operations = Counter(
            "flowgate_graphql_operations", "GraphQL operations executed, by type.", ["type"], registry=self.registry
        )
        self.errors = Counter(
            "flowgate_graphql_errors", "GraphQL errors returned, by extensions.code.", ["code"], registry=self.registry
        )
        self.event_lag = Histogram(
            "flowgate_event_lag_seconds",
            "Time from a status change reaching the gateway to its delivery to a subscriber.",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )

        self.gc_pauses = Histogram(
            "flowgate_gc_pause_seconds",
            "How long each garbage collection held the gateway up, by generation (2: a full collection).",
            ["generation"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )

        self.gc_policy_collections = Counter(
            "flowgate_gc_policy_collections",
            "Full collections the garbage-collection policy made once half of the frozen connections had closed.",
            registry=self.registry,
        )

    def watch_collector(self) -> Callable[[], None]:
        """Time every garbage collection of this process into gc_pauses (undo with the returned
        function): a full collection over ten thousand connections is a stall every subscriber sees."""
        started = 0.0
        pauses = {generation: self.gc_pauses.labels(str(generation)) for generation in (0, 1, 2)}

        def on_collection(phase: str, info: dict[str, int]) -> None:
            nonlocal started
            if phase == "start":
                started = time.perf_counter()
            else:
                pauses[info["generation"]].observe(time.perf_counter() - started)

        gc.callbacks.append(on_collection)
        return lambda: gc.callbacks.remove(on_collection)

    def track(
        self,
        hub: StatusHub,
        authorizer: Authorizer,
        subscribers: Callable[[], int] | None = None,
        others: InformerSet | None = None,
        pending: Callable[[], int] | None = None,
    ) -> None:
        """Report subscribers, the hub's watches (and `others`'), how far behind the slowest
        subscriber is, and the authorizer's reviews at scrape time."""
        self.registry.register(
            _Live(
                hub,
                authorizer,
                subscribers or (lambda: hub.subscriber_count),
                others,
                pending or hub.most_pending,
            )
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
