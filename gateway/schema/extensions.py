"""Counting operations and the errors resolvers did not already classify."""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension


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
            code = "INTERNAL" if error.original_error is not None else "INVALID_QUERY"
            error.extensions = {**(error.extensions or {}), "code": code}
            if metrics is not None:
                metrics.errors.labels(code).inc()
