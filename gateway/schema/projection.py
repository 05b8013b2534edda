"""Live operations' results and `flows` answers as JSON text, without graphql-core walking every row.

The subscription result for an event is what graphql-core's execution of the operation gives; a
plan computes the same JSON without running graphql-core over every row where the selection
allows it: NodeFlowStatus rows whose selected fields are plain scalars and enums are serialised
straight from the objects (and cached per row until the row changes), and only the remainder of
a flowsTable update is executed by graphql-core. A `flows` query is planned the same way: the
rest of the document is executed with every `nodes` list taken out, and the cached rows are
spliced in where it was. Anything else falls back to executing the whole operation. Tests hold
both ways to the same answers."""

from __future__ import annotations

import enum
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from json.encoder import encode_basestring
from typing import Any, cast

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    NameNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    Visitor,
    execute,
    get_named_type,
    get_operation_ast,
    is_leaf_type,
    visit,
)

from gateway.domain import model
from gateway.schema.types import FlowsState, FlowsTableUpdate, NodeFlowStatus

JSON = dict[str, Any]
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _plain(value: Any) -> Any:
    """A leaf value as GraphQL serialises it: enums by name, lists element by element."""
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _json_value(value: Any) -> str:
    """One leaf as JSON text, as graphql-core would serialise it and json.dumps write it."""
    if value is None:
        return "null"
    if value.__class__ is str:
        return encode_basestring(value)
    if isinstance(value, enum.Enum):
        return '"' + value.name + '"'  # names are identifiers: nothing to escape
    return _dumps(_plain(value))


@dataclass(frozen=True)
class RowProjection:
    """The selected fields of a NodeFlowStatus: (response key, attribute), in response order.
    The GraphQL type's attributes are the domain status's own, so rows are written straight from
    the domain object, field by field: at 5,000 nodes a snapshot is 5,000 rows."""

    fields: tuple[tuple[str, str | None], ...]  # attribute None: __typename
    _heads: tuple[str, ...] = field(init=False, compare=False, repr=False)  # '{"key":', ',"key":', …

    def __post_init__(self) -> None:
        heads = tuple(("," if i else "{") + encode_basestring(key) + ":" for i, (key, _) in enumerate(self.fields))
        object.__setattr__(self, "_heads", heads)

    def json(self, row: model.NodeFlowStatus) -> str:
        if not self.fields:
            return "{}"
        parts = []
        for head, (_, attr) in zip(self._heads, self.fields, strict=True):
            parts.append(head)
            parts.append('"NodeFlowStatus"' if attr is None else _json_value(getattr(row, attr)))
        parts.append("}")
        return "".join(parts)


class RowCache:
    """Each node's row as one projection writes it, kept until the node's status changes (a new
    domain object) or the node goes. At 5,000 nodes a fresh answer after one change writes one
    row and joins the 4,999 others as they are."""

    def __init__(self, projection: RowProjection) -> None:
        self.projection = projection
        self._rows: dict[str, tuple[model.NodeFlowStatus, str]] = {}

    def json(self, status: model.NodeFlowStatus) -> str:
        cached = self._rows.get(status.node)
        if cached is not None and cached[0] is status:
            return cached[1]
        text = self.projection.json(status)
        self._rows[status.node] = (status, text)
        return text

    def list_json(self, statuses: Sequence[model.NodeFlowStatus]) -> str:
        return "[" + ",".join([self.json(s) for s in statuses]) + "]"

    def forget(self, node: str) -> None:
        self._rows.pop(node, None)

    def keep(self, statuses: Sequence[model.NodeFlowStatus]) -> None:
        """Drop rows of nodes no longer listed (gone while nobody read them)."""
        if len(self._rows) > len(statuses):
            listed = {s.node for s in statuses}
            self._rows = {n: row for n, row in self._rows.items() if n in listed}


class _Plan:
    """What every plan needs of its operation: the fields it selects (fragments expanded,
    @skip/@include applied with its variables) and whether a list of rows can be projected."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
        operation_name: str | None,
    ) -> None:
        self.schema = schema
        self.document = document
        self.operation = operation
        self.variables = dict(variables or {})
        self.operation_name = operation_name

    def _collect(self, selection_sets: Sequence[SelectionSetNode | None]) -> dict[str, list[FieldNode]]:
        """The fields these selection sets select, by response key, fragments expanded and
        @skip/@include applied (the operation is validated: fragments are on the same type)."""
        fragments = {d.name.value: d for d in self.document.definitions if isinstance(d, FragmentDefinitionNode)}
        out: dict[str, list[FieldNode]] = {}
        seen: set[str] = set()

        def visit(selection_set: SelectionSetNode | None) -> None:
            for selection in selection_set.selections if selection_set else ():
                if not self._included(selection):
                    continue
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    out.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    visit(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                    seen.add(selection.name.value)
                    visit(fragments[selection.name.value].selection_set)

        for selection_set in selection_sets:
            visit(selection_set)
        return out

    def _included(self, node: Any) -> bool:
        """@skip(if:) and @include(if:), their argument a literal or a variable."""
        for directive in node.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            (argument,) = directive.arguments
            value = argument.value
            condition = bool(self.variables.get(value.name.value)) if isinstance(value, VariableNode) else value.value
            if (name == "skip") == bool(condition):
                return False
        return True

    def _row_projection(self, field_nodes: Sequence[FieldNode]) -> RowProjection | None:
        row_type = self.schema.get_type("NodeFlowStatus")
        assert isinstance(row_type, GraphQLObjectType)
        selected = self._collect([n.selection_set for n in field_nodes])
        attributes = _attribute_names(NodeFlowStatus)
        fields: list[tuple[str, str | None]] = []
        for key, nodes in selected.items():
            names = {n.name.value for n in nodes}
            if len(names) != 1 or any(n.arguments for n in nodes):
                return None
            name = names.pop()
            if name == "__typename":
                fields.append((key, None))
                continue
            definition = row_type.fields.get(name)
            if definition is None or not is_leaf_type(get_named_type(definition.type)) or name not in attributes:
                return None
            if attributes[name] not in _DOMAIN_ROW_FIELDS:
                return None  # not a plain copy of the domain status: executed as usual
            fields.append((key, attributes[name]))
        return RowProjection(tuple(fields))


class LivePlan(_Plan):
    """How one (document, variables, operation name) turns events into the JSON of its `next`
    payloads. Rows are cached by the domain object they came from."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
        operation_name: str | None,
    ) -> None:
        super().__init__(schema, document, operation, variables, operation_name)
        fields = self._collect([operation.selection_set])
        ((self.response_key, nodes),) = fields.items()  # a subscription has exactly one root field
        self.root_field = nodes[0].name.value
        self.arguments = {a.name.value: a.value for a in nodes[0].arguments or ()}
        # The last whole-table payload and the hub version it is of (flowsTable), kept by the
        # caller across the plan's subscribers coming and going.
        self.snapshot: tuple[int, bytes] | None = None
        self.rows: RowCache | None = None
        self.changed_keys: tuple[str, ...] = ()
        self.compiled = self._compile(nodes)

    def _compile(self, root_nodes: Sequence[FieldNode]) -> bool:
        """True when rows can be serialised directly; the rest is executed as usual."""
        if self.root_field == "nodeFlowStatus":
            projection = self._row_projection(root_nodes)
            self.rows = None if projection is None else RowCache(projection)
            return self.rows is not None
        if self.root_field == "flowsTable":
            selected = self._collect([n.selection_set for n in root_nodes])
            changed = [key for key, nodes in selected.items() if nodes[0].name.value == "changed"]
            projections = {self._row_projection(selected[key]) for key in changed}
            if len(projections) > 1 or None in projections:
                return False  # aliases of `changed` selecting different fields: execute as usual
            projection = projections.pop() if projections else None
            self.rows = None if projection is None else RowCache(projection)
            self.changed_keys = tuple(changed)
            return True
        return False

    # -- running -----------------------------------------------------------------------------

    def _execute(self, root: Any) -> JSON:
        result = execute(
            self.schema,
            self.document,
            root_value=root,
            variable_values=self.variables,
            operation_name=self.operation_name,
        )
        assert isinstance(result, ExecutionResult), "live operations resolve synchronously"
        payload: JSON = {"data": result.data}
        if result.errors:
            payload["errors"] = [e.formatted for e in result.errors]
        return payload

    def row_json(self, status: model.NodeFlowStatus) -> str:
        assert self.rows is not None
        return self.rows.json(status)

    def forget_row(self, node: str) -> None:
        if self.rows is not None:
            self.rows.forget(node)

    def keep_rows(self, nodes: Sequence[model.NodeFlowStatus]) -> None:
        if self.rows is not None:
            self.rows.keep(nodes)

    def node_payload(self, status: model.NodeFlowStatus) -> str:
        """The `next` payload (JSON text) of a nodeFlowStatus event."""
        if self.compiled:
            return '{"data":{' + _dumps(self.response_key) + ":" + self.row_json(status) + "}}"
        return _dumps(self._execute(NodeFlowStatus.from_domain(status)))

    def table_payload(
        self, snapshot: bool, changed: Sequence[model.NodeFlowStatus], removed: Sequence[str], state: model.FlowsState
    ) -> str:
        """The `next` payload (JSON text) of a flowsTable update."""
        if not self.compiled:
            update = FlowsTableUpdate(
                snapshot=snapshot,
                state=FlowsState.from_domain(state),
                changed=[NodeFlowStatus.from_domain(s) for s in changed],
                removed=list(removed),
            )
            return _dumps(self._execute(update))
        # Everything but the rows by graphql-core (changed left empty), then the cached rows spliced
        # in where graphql-core put the empty list.
        update = FlowsTableUpdate(
            snapshot=snapshot, state=FlowsState.from_domain(state), changed=[], removed=list(removed)
        )
        payload = self._execute(update)
        data = (payload.get("data") or {}).get(self.response_key)
        if not self.changed_keys or not isinstance(data, dict):
            return _dumps(payload)
        assert self.rows is not None
        return _splice(payload, [(data, self.changed_keys)], self.rows.list_json(changed))


class QueryPlan(_Plan):
    """A query whose root fields are `flows` (and __typename): graphql-core executes `executed`,
    the document with every `nodes` under `flows` replaced by a placeholder, and `render` splices
    the rows in. `compiled` is False when the rows cannot be written directly (a field that is
    not a plain copy of the domain status, or aliases of `nodes` selecting different fields):
    the caller then executes the whole document as usual."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
        operation_name: str | None,
    ) -> None:
        super().__init__(schema, document, operation, variables, operation_name)
        self.row_keys: dict[str, tuple[str, ...]] = {}  # flows response key -> its `nodes` response keys
        replaced: set[int] = set()
        projections: set[RowProjection | None] = set()
        for key, nodes in self._collect([operation.selection_set]).items():
            if nodes[0].name.value != "flows":
                continue
            lists = [
                (sub, sub_nodes)
                for sub, sub_nodes in self._collect([n.selection_set for n in nodes]).items()
                if sub_nodes[0].name.value == "nodes"
            ]
            for _, sub_nodes in lists:
                projections.add(self._row_projection(sub_nodes))
                replaced.update(id(n) for n in sub_nodes)
            self.row_keys[key] = tuple(sub for sub, _ in lists)
        self.compiled = len(projections) <= 1 and None not in projections
        self.rows: RowProjection | None = projections.pop() if self.compiled and projections else None
        self.executed = _without_fields(document, replaced) if self.compiled else document

    def render(self, data: JSON, rows: RowCache | None, statuses: Sequence[model.NodeFlowStatus]) -> str:
        """The answer's JSON: `data` as graphql-core executed `executed` (the `flows` it read being
        of these statuses), with the rows written by `rows` (a cache of this plan's projection;
        None when the document selects no rows)."""
        if rows is None:
            return _dumps({"data": data})
        slots = [(value, keys) for key, keys in self.row_keys.items() if isinstance(value := data.get(key), dict)]
        return _splice({"data": data}, slots, rows.list_json(statuses))


def _splice(payload: JSON, slots: Sequence[tuple[JSON, Sequence[str]]], rows: str) -> str:
    """`payload` as JSON text with `rows` (a JSON list) as the value of each key of each slot: a
    marker no data can contain is put there, and its text replaced after serialising."""
    marker = f"@@rows-{secrets.token_hex(8)}@@"
    for parent, keys in slots:
        for key in keys:
            if key in parent:  # not skipped
                parent[key] = marker
    return _dumps(payload).replace(_dumps(marker), rows)


def _without_fields(document: DocumentNode, fields: set[int]) -> DocumentNode:
    """The document with these field nodes (by identity) replaced by `__typename` under the same
    response key and directives: a cheap placeholder that keeps the key, its place and @skip."""

    class Replace(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> FieldNode | None:
            if id(node) not in fields:
                return None
            key = node.alias or node.name
            return FieldNode(alias=key, name=NameNode(value="__typename"), arguments=(), directives=node.directives)

    return cast(DocumentNode, visit(document, Replace()))


_DOMAIN_ROW_FIELDS = frozenset(f.name for f in fields(model.NodeFlowStatus))


def _attribute_names(strawberry_type: type) -> dict[str, str]:
    """GraphQL field name -> the attribute holding it, for fields that are plain attributes."""
    definition = strawberry_type.__strawberry_definition__  # type: ignore[attr-defined]
    return {
        f.graphql_name or _camel(f.python_name): f.python_name for f in definition.fields if f.base_resolver is None
    }


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def live_operation(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | None:
    """The document's operation when it is a subscription flowgate serves live, else None."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.SUBSCRIPTION:
        return None
    return operation
