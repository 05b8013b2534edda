"""Answers to the read-only query every page and script sends (`flows`), computed once per state
of the cluster and served to every caller who may read it until something changes.

A `flows` query over 5,000 nodes executed by graphql-core is most of its time in the rows; on a
live cluster some Flow changes every second, so most answers are fresh ones. A query plan
(gateway/schema/projection.py) executes everything but the rows and splices in each node's row
as last written, so a fresh answer writes only the rows that changed. The answer depends only on
the hub's derived state (never on who asks, once they may read), so it is also kept, keyed by the
exact request and the hub's version. Each caller is still authorised on every request. Anything
else — mutations, `viewer`, documents with other root fields, errors — goes through Strawberry
untouched."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from inspect import isawaitable
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    validate,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from gateway.resolvers.context import Context, Services
from gateway.schema.projection import QueryPlan, RowCache, RowProjection
from gateway.schema.root import MAX_TOKENS, VALIDATION_RULES, schema

CACHEABLE_FIELDS = frozenset({"flows", "__typename"})  # root fields that read shared state only
MAX_ENTRIES = 64
MAX_BODY = 64 * 1024  # larger requests are not the query a page sends: left to Strawberry

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _cacheable_document(query: str, operation_name: str | None) -> DocumentNode | None:
    """The parsed document when it is a query of shared state only (and the answer can be kept)."""
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except GraphQLError:
        return None
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.QUERY:
        return None
    roots = operation.selection_set.selections
    if roots and all(isinstance(f, FieldNode) and f.name.value in CACHEABLE_FIELDS for f in roots):
        return document
    return None


class QueryAnswers:
    def __init__(self, services: Services, strawberry: ASGIApp) -> None:
        self.services = services
        self.strawberry = strawberry
        self._answers: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        # Per request: its plan, or None when it is not a cacheable query.
        self._plans: dict[str, QueryPlan | None] = {}
        # Rows written once per projection, whichever plans share it.
        self._rows: dict[RowProjection, RowCache] = {}
        self.hits = 0
        self.planned = 0  # fresh answers with the rows spliced in (not executed row by row)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The naive baseline (sharing off) executes every query, as a stock server would.
        if scope["type"] != "http" or scope["method"] != "POST" or not self.services.sharing:
            await self.strawberry(scope, receive, send)
            return
        body, more = b"", True
        while more and len(body) <= MAX_BODY:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        request = _decode(body) if not more else None
        if request is None or not self._is_cacheable(request):
            await self.strawberry(scope, _replay(body, receive if more else None), send)
            return
        await self._answer(scope, request, send)

    def _is_cacheable(self, request: dict[str, Any]) -> bool:
        return self._plan(request) is not None

    def _plan(self, request: dict[str, Any]) -> QueryPlan | None:
        key = _key(request)
        if key not in self._plans:
            if len(self._plans) >= MAX_ENTRIES:
                self._plans.pop(next(iter(self._plans)))
            self._plans[key] = self._make_plan(request)
        return self._plans[key]

    def _make_plan(self, request: dict[str, Any]) -> QueryPlan | None:
        operation_name = request.get("operationName")
        document = _cacheable_document(request["query"], operation_name)
        operation = None if document is None else get_operation_ast(document, operation_name)
        if document is None or operation is None or validate(schema._schema, document, VALIDATION_RULES):
            return None  # not a query of shared state, or refused: Strawberry answers it, uncached
        return QueryPlan(schema._schema, document, operation, request.get("variables"), operation_name)

    def _row_cache(self, projection: RowProjection) -> RowCache:
        found = self._rows.get(projection)
        if found is None:
            if len(self._rows) >= 8:  # a handful of row shapes in use; each holds a row per node
                self._rows.pop(next(iter(self._rows)))
            found = self._rows[projection] = RowCache(projection)
        return found

    async def _planned(self, plan: QueryPlan, context: Context, request: dict[str, Any]) -> bytes | None:
        """The answer with the rows spliced in; None when it must be executed as usual (errors,
        or the cluster changed while the rest was executed)."""
        hub = self.services.hub
        version = hub.version
        result = execute(
            schema._schema,
            plan.executed,
            context_value=context,
            variable_values=request.get("variables"),
            operation_name=request.get("operationName"),
        )
        if isawaitable(result):
            result = await result
        if result.errors or result.data is None or hub.version != version:
            return None
        statuses = hub.statuses()
        rows = None if plan.rows is None else self._row_cache(plan.rows)
        if rows is not None:
            rows.keep(statuses)
        self.planned += 1
        return plan.render(result.data, rows, statuses).encode()

    async def _answer(self, scope: Scope, request: dict[str, Any], send: Send) -> None:
        context = Context(services=self.services, request=Request(scope))
        hub = self.services.hub
        key = _key(request)
        try:
            with context.errors():
                await context.reader()
                hub.statuses()  # derived (the first read after the watches synced derives every node)
        except GraphQLError as error:
            self.services.metrics.operations.labels("query").inc()
            await Response(_dumps({"data": None, "errors": [error.formatted]}), media_type="application/json")(
                scope, _nothing, send
            )
            return
        cached = self._answers.get(key)
        if cached is not None and cached[0] == hub.version:
            self.hits += 1
            self.services.metrics.operations.labels("query").inc()
            body = cached[1]
        else:
            version = hub.version
            plan = self._plan(request)
            if plan is not None and plan.compiled:
                planned = await self._planned(plan, context, request)
                if planned is not None:
                    self.services.metrics.operations.labels("query").inc()
                    self._keep(key, version, planned)
                    await Response(planned, media_type="application/json")(scope, _nothing, send)
                    return
            result = await schema.execute(
                request["query"],
                variable_values=request.get("variables"),
                context_value=context,
                operation_name=request.get("operationName"),
            )
            answer: dict[str, Any] = {"data": result.data}
            if result.errors:
                answer["errors"] = [e.formatted for e in result.errors]
            body = _dumps(answer)
            if not result.errors and hub.version == version:
                self._keep(key, version, body)
        await Response(body, media_type="application/json")(scope, _nothing, send)

    def _keep(self, key: str, version: int, body: bytes) -> None:
        self._answers[key] = (version, body)
        self._answers.move_to_end(key)
        while len(self._answers) > MAX_ENTRIES:
            self._answers.popitem(last=False)


def _key(request: dict[str, Any]) -> str:
    return json.dumps([request.get("query"), request.get("operationName"), request.get("variables")], sort_keys=True)


def _decode(body: bytes) -> dict[str, Any] | None:
    try:
        request = json.loads(body)
    except ValueError:
        return None
    if not isinstance(request, dict) or not isinstance(request.get("query"), str):
        return None
    if request.get("variables") is not None and not isinstance(request["variables"], dict):
        return None
    return request


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _replay(body: bytes, rest: Receive | None) -> Receive:
    """A receive that hands over the body already read, then whatever is still to come."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": rest is not None}
        if rest is not None:
            return await rest()
        return {"type": "http.disconnect"}

    return receive


async def _nothing() -> Message:
    return {"type": "http.disconnect"}
