"""Subscription execution whose memory does not grow with every delivered event.

graphql-core 3.3 builds a per-event copy of the subscription's executor that shares the parent's
sub-field memo, keyed on the identity of field lists that are rebuilt for every event: each event
adds an entry that lives as long as the subscription (about 1.2 KB and 14 objects). A console tab
left open on a busy cluster would grow without bound, so each event gets a memo of its own."""

from __future__ import annotations

from typing import Any

from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class FlatMemoryExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        return executor
