"""The audit trail as the console reads it: the Events about flow export (starts, switches and
stops on FlowExport/cluster, nodes turning to Error on their Flow), from one watch of the Events
about flowgate.dev objects in the namespace cluster-scoped objects' Events live in."""

from __future__ import annotations

from typing import Any

from gateway.domain.audit import AuditEntry, newest_first
from gateway.domain.errors import InvalidArgument, Unavailable
from gateway.domain.model import API_VERSION
from gateway.kube.api import KubeApi
from gateway.kube.events import CLUSTER_EVENTS_NAMESPACE
from gateway.kube.resources import EVENTS
from gateway.watch.informer import Informer

MAX_LIMIT = 100


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument("limit", f"limit must be between 1 and {MAX_LIMIT}, not {limit}.")


class AuditLog:
    def __init__(self, informer: Informer) -> None:
        self.informer = informer

    @classmethod
    def on_api(cls, api: KubeApi, **options: Any) -> AuditLog:
        return cls(
            Informer.on_api(
                api,
                EVENTS,
                namespace=CLUSTER_EVENTS_NAMESPACE,
                field_selector=f"regarding.apiVersion={API_VERSION}",
                **options,
            )
        )

    def latest(self, limit: int) -> list[AuditEntry]:
        """The newest `limit` Events about flow export, newest first."""
        check_limit(limit)
        if not self.informer.synced.is_set():
            why = f" ({self.informer.last_error})" if self.informer.last_error else ""
            raise Unavailable(
                f"The gateway has not yet loaded the Events about flow export from the API server{why}; "
                "try again in a few seconds."
            )
        entries = (AuditEntry.from_event(event) for event in self.informer.items())
        return newest_first([e for e in entries if e is not None], limit)
