"""Counting operations and the errors resolvers did not already classify, and the rule that one
request makes at most one change."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationRule,
)
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


class OneMutationPerRequest(ValidationRule):
    """A mutation operation selects exactly one root field: `{a: startFlows(…) b: stopFlows}` would
    switch export twice in one request (and an aliased storm of starts would write dozens of
    times), so it is refused before anything runs. Batching is off as well."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
        if node.operation != OperationType.MUTATION:
            return
        selections = node.selection_set.selections
        if len(selections) == 1 and isinstance(selections[0], FieldNode):
            return
        shown = ", ".join(
            (f"{s.alias.value}: {s.name.value}" if s.alias else s.name.value)
            if isinstance(s, FieldNode)
            else "a fragment"
            for s in selections
        )
        self.report_error(
            GraphQLError(
                f"A request may make one change, and this mutation asks for {len(selections)} ({shown}); "
                "send each mutation on its own.",
                node,
            )
        )


MAX_NESTING = 20  # the full introspection query (GraphiQL's) nests 15 levels


class NestingLimit(ValidationRule):
    """Caps how deep any operation nests, introspection included. QueryDepthLimiter skips the
    introspection fields, and `__schema { types { fields { type { fields { type …` multiplies the
    answer by every type's fields at each level: a few hundred tokens would make the gateway
    build an answer without end."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
        fragments = {
            f.name.value: f for f in self.context.document.definitions if isinstance(f, FragmentDefinitionNode)
        }

        def depth(selections: SelectionSetNode | None, seen: frozenset[str]) -> int:
            if selections is None:
                return 0
            deepest = 0
            for selection in selections.selections:
                if isinstance(selection, FieldNode):
                    found = 1 + depth(selection.selection_set, seen) if selection.selection_set else 1
                elif isinstance(selection, InlineFragmentNode):
                    found = depth(selection.selection_set, seen)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = fragments.get(name)
                    found = 0 if fragment is None or name in seen else depth(fragment.selection_set, seen | {name})
                else:
                    found = 0
                deepest = max(deepest, found)
                if deepest > MAX_NESTING:
                    break
            return deepest

        nesting = depth(node.selection_set, frozenset())
        if nesting > MAX_NESTING:
            self.report_error(
                GraphQLError(
                    f"This operation nests more than {MAX_NESTING} levels deep, more than flowgate answers "
                    "(the full introspection query needs 15).",
                    node,
                )
            )
