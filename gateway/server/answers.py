"""Answers to the read-only query every page and script sends (`flows`), computed once per state
of the cluster and served to every caller who may read it until something changes.

A `flows` query over 5,000 nodes is most of its time in GraphQL execution of the rows; the answer
depends only on the hub's derived state (never on who asks, once they may read), so it is kept,
keyed by the exact request and the hub's version. Each caller is still authorised on every
request. Anything else — mutations, `viewer`, documents with other root fields, errors — goes
through Strawberry untouched."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from graphql import FieldNode, GraphQLError, OperationType, get_operation_ast, parse
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from gateway.resolvers.context import Context, Services
from gateway.schema.root import MAX_TOKENS, schema

CACHEABLE_FIELDS = frozenset({"flows", "__typename"})  # root fields that read shared state only
MAX_ENTRIES = 64
MAX_BODY = 64 * 1024  # larger requests are not the query a page sends: left to Strawberry

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def cacheable(query: str, operation_name: str | None) -> bool:
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except GraphQLError:
        return False
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.QUERY:
        return False
    roots = operation.selection_set.selections
    return bool(roots) and all(isinstance(f, FieldNode) and f.name.value in CACHEABLE_FIELDS for f in roots)


class QueryAnswers:
    def __init__(self, services: Services, strawberry: ASGIApp) -> None:
        self.services = services
        self.strawberry = strawberry
        self._answers: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        self._cacheable: dict[str, bool] = {}
        self.hits = 0

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
        key = _key(request)
        if key not in self._cacheable:
            if len(self._cacheable) >= 4 * MAX_ENTRIES:
                self._cacheable.clear()
            self._cacheable[key] = cacheable(request["query"], request.get("operationName"))
        return self._cacheable[key]

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
                self._answers[key] = (version, body)
                self._answers.move_to_end(key)
                while len(self._answers) > MAX_ENTRIES:
                    self._answers.popitem(last=False)
        await Response(body, media_type="application/json")(scope, _nothing, send)


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
