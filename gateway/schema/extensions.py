"""Counting operations and the errors resolvers did not already classify."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension


def is_internal(error: GraphQLError) -> bool:
    """A resolver failed with something other than a GraphQL error (a bug). Everything else
    without a flowgate code is the document's fault: it did not parse or validate, or a variable
    did not fit its type (graphql-core reports those with the coercion's own error attached)."""
    return (
        error.path is not None
        and error.original_error is not None
        and not isinstance(error.original_error, GraphQLError)
    )


class OperationMetrics(SchemaExtension):
    """Counts each operation by type. Errors without extensions.code (a malformed or refused
    document, or a bug) get one here, so every error a client sees is classified."""

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context.context
        metrics = getattr(getattr(context, "services", None), "metrics", None)
        try:
            kind = self.execution_context.operation_type.value
        except RuntimeError:
            kind = "invalid"  # the document did not parse
        if metrics is not None:
            metrics.operations.labels(kind).inc()
        result = self.execution_context.result
        for error in (result.errors if result is not None else None) or []:
            if error.extensions and "code" in error.extensions:
                continue
            code = "INTERNAL" if is_internal(error) else "INVALID_QUERY"
            error.extensions = {**(error.extensions or {}), "code": code}
            if metrics is not None:
                metrics.errors.labels(code).inc()
