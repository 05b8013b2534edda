"""What the gateway's /metrics reports: requests, errors, subscribers, watch health and event lag.

Each app owns its registry (several gateways can live in one test process); watch and subscriber
figures are read from the informers and the hub at scrape time rather than mirrored."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.access import Authorizer
from gateway.service.hub import StatusHub

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Live(Collector):
    def __init__(self, hub: StatusHub, authorizer: Authorizer, subscribers: Callable[[], int]) -> None:
        self.hub = hub
        self.authorizer = authorizer
        self.subscribers = subscribers

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "flowgate_subscribers", "Open subscriptions (nodeFlowStatus and flowsTable).", value=self.subscribers()
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
        for informer in self.hub.informers.informers:
            kind = str(informer.resource)
            watches.add_metric([kind], float(informer.ready))
            restarts.add_metric([kind], informer.restarts)
            relists.add_metric([kind], informer.relists)
            events.add_metric([kind], informer.events)
        yield from (watches, restarts, relists, events)
        yield GaugeMetricFamily(
            "flowgate_watches", "Watches the gateway holds open.", value=self.hub.informers.watch_count
        )
        yield GaugeMetricFamily(
            "flowgate_ready", "1 when every watch is synced and connected.", value=float(self.hub.informers.ready)
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

    def track(self, hub: StatusHub, authorizer: Authorizer, subscribers: Callable[[], int] | None = None) -> None:
        """Report subscribers, the hub's watches and the authorizer's reviews at scrape time."""
        self.registry.register(_Live(hub, authorizer, subscribers or (lambda: hub.subscriber_count)))

    def render(self) -> bytes:
        return generate_latest(self.registry)
