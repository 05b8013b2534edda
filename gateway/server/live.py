"""graphql-transport-ws, with every live operation executed once per change and its text shared by
all who subscribed to it.

Strawberry runs each subscription on its own: every change is executed and serialised again for
every subscriber, which at thousands of subscribers is most of the gateway's time and memory. Here
subscribers of the same operation (document, variables and operation name: everyone who may read
flow state sees the same data) join one group; the group takes the hub's changes once, turns each
into JSON text once (gateway/schema/projection.py) and hands the same text to every member. A
member keeps at most one pending message per node (nodeFlowStatus) or a short queue of updates it
replaces by a fresh snapshot when it falls behind (flowsTable), so a slow reader costs a bounded
amount and never delays anyone else. One flusher writes to every connection that can take data
without waiting; a connection whose peer is slow gets a writer of its own.

Queries and mutations sent over the socket, and the legacy graphql-ws protocol, go to Strawberry
as before. Close codes and messages follow the graphql-transport-ws specification."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSyntaxError,
    NullValueNode,
    StringValueNode,
    VariableNode,
    parse,
    validate,
)
from starlette.requests import HTTPConnection
from starlette.types import Message, Receive, Scope, Send

from gateway.access import StandingAccess
from gateway.resolvers.context import FLOWGATE_AUTH_HEADER, Context, Services
from gateway.schema.projection import LivePlan, live_operation
from gateway.schema.root import MAX_TOKENS, VALIDATION_RULES, schema
from gateway.server.collector import CollectorPolicy
from gateway.service.hub import Mailbox, StatusHub, TableMailbox

log = logging.getLogger(__name__)

PROTOCOL = "graphql-transport-ws"
DOCUMENT_CACHE = 256  # distinct subscription documents remembered, parsed and validated
TABLE_BACKLOG = 16  # updates a flowsTable member may owe before it is sent a fresh snapshot instead
# A subscriber arriving while the gateway still loads the cluster (a replica just started in a
# rolling update) waits this long for it rather than being refused at once.
SYNC_WAIT = 10.0
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
TOKEN_HEADERS = (b"authorization", FLOWGATE_AUTH_HEADER.encode())  # where Context.token looks


class Closed(Exception):
    """The connection is to be closed with this code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def error_payload(errors: list[GraphQLError]) -> str:
    formatted = []
    for error in errors:
        entry = error.formatted
        entry.setdefault("extensions", {})
        entry["extensions"].setdefault("code", "INVALID_QUERY")
        formatted.append(entry)
    return _dumps(formatted)


# -- members and groups -----------------------------------------------------------------------------


class Member:
    """One subscription of one connection. Payloads are the group's shared UTF-8 text; a member
    only adds its own id around them."""

    __slots__ = ("connection", "group", "id", "next_prefix")

    def __init__(self, connection: LiveConnection, operation_id: str) -> None:
        self.connection = connection
        self.id = operation_id
        self.next_prefix = ('{"id":' + _dumps(operation_id) + ',"type":"next","payload":').encode()
        self.group: Group | None = None

    def take(self) -> list[bytes]:
        """The messages owed, emptying the outbox."""
        raise NotImplementedError

    def owe(self, node: str, payload: bytes) -> None:
        """Owe this payload (of this node's change, for a nodeFlowStatus member)."""
        raise NotImplementedError

    @property
    def owed_count(self) -> int:
        """How many messages it is owed now."""
        raise NotImplementedError

    def next_message(self, payload: bytes) -> bytes:
        return self.next_prefix + payload + b"}"


class NodeMember(Member):
    __slots__ = ("outbox",)

    def __init__(self, connection: LiveConnection, operation_id: str) -> None:
        super().__init__(connection, operation_id)
        self.outbox: dict[str, bytes] = {}

    def push(self, node: str, payload: bytes) -> None:
        self.outbox[node] = payload  # a newer status of the same node replaces the older
        self.connection.owed(self)

    def owe(self, node: str, payload: bytes) -> None:
        self.push(node, payload)

    def take(self) -> list[bytes]:
        messages = [self.next_message(p) for p in self.outbox.values()]
        self.outbox.clear()
        return messages

    @property
    def owed_count(self) -> int:
        return len(self.outbox)


class TableMember(Member):
    __slots__ = ("queue", "resync")

    def __init__(self, connection: LiveConnection, operation_id: str) -> None:
        super().__init__(connection, operation_id)
        self.queue: list[bytes] = []
        self.resync = False

    def push(self, payload: bytes) -> None:
        if self.resync:
            return
        self.queue.append(payload)
        if len(self.queue) > TABLE_BACKLOG:
            self.queue.clear()
            self.resync = True  # what it missed is replaced by the table as it is then
        self.connection.owed(self)

    def owe(self, node: str, payload: bytes) -> None:
        self.push(payload)

    def take(self) -> list[bytes]:
        if self.resync:
            assert isinstance(self.group, TableGroup)
            self.resync = False
            return [self.next_message(self.group.snapshot())]
        messages = [self.next_message(p) for p in self.queue]
        self.queue.clear()
        return messages

    @property
    def owed_count(self) -> int:
        return 1 if self.resync else len(self.queue)


class Group:
    """One distinct live operation and its members."""

    def __init__(self, live: LiveOperations, key: str, plan: LivePlan) -> None:
        self.live = live
        self.key = key
        self.plan = plan
        self.members: dict[Member, None] = {}
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.run(), name=f"live {self.plan.root_field}")

    async def run(self) -> None:
        raise NotImplementedError

    def add(self, member: Member) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def deliver(self, payload: bytes, node: str = "") -> None:
        """One payload to every member. A member that owes nothing, on a connection that owes
        nothing and can take data now, is written to at once: the frame is made once per
        operation id for all of them (every gql client and `kubectl flows` watch subscribes as
        "1"), with no queueing in between. The others get it queued for the flusher.
        At ten thousand subscribers this loop is the time a change takes to reach the last one."""
        frames: dict[bytes, bytes] = {}
        for member in self.members:
            connection = member.connection
            if member.owed_count == 0 and connection.writable_now():
                frame = frames.get(member.next_prefix)
                if frame is None:
                    frame = frames[member.next_prefix] = FrameWriter.frame(member.next_message(payload))
                connection.write_frame(frame)
            else:
                member.owe(node, payload)


class NodeGroup(Group):
    """nodeFlowStatus(node): every node's (or one node's) status, then each change."""

    def __init__(self, live: LiveOperations, key: str, plan: LivePlan, node: str | None) -> None:
        super().__init__(live, key, plan)
        self.node = node
        self.mailbox: Mailbox = live.hub.subscribe(node, snapshot=False)

    def add(self, member: Member) -> None:
        assert isinstance(member, NodeMember)
        member.group = self
        for status in self.live.hub.statuses(self.node):
            member.push(status.node, self.plan.node_payload(status).encode())
        self.members[member] = None

    async def run(self) -> None:
        try:
            while True:
                status = await self.mailbox.get()
                changes = [status]
                while (more := self.mailbox.get_nowait()) is not None:
                    changes.append(more)
                for change in changes:
                    self.deliver(self.plan.node_payload(change).encode(), change.node)
        finally:
            self.mailbox.close()


class TableGroup(Group):
    """flowsTable: one snapshot, then batched changes and removals."""

    def __init__(self, live: LiveOperations, key: str, plan: LivePlan) -> None:
        super().__init__(live, key, plan)
        # No snapshot for the group itself: members get theirs when they join.
        self.mailbox: TableMailbox = live.hub.subscribe_table(live.table_batch, snapshot=False)

    def snapshot(self) -> bytes:
        """The whole table as one update, computed once per hub version for every tab that opens
        (the plan keeps it, and its rows, while no tab is open)."""
        hub = self.live.hub
        if self.plan.snapshot is None or self.plan.snapshot[0] != hub.version:
            statuses = hub.statuses()
            self.plan.keep_rows(statuses)
            text = self.plan.table_payload(True, statuses, (), hub.overview())
            self.plan.snapshot = (hub.version, text.encode())
        return self.plan.snapshot[1]

    def add(self, member: Member) -> None:
        assert isinstance(member, TableMember)
        member.group = self
        member.push(self.snapshot())
        self.members[member] = None

    async def run(self) -> None:
        try:
            while True:
                update = await self.mailbox.get()
                for node in update.removed:
                    self.plan.forget_row(node)
                payload = self.plan.table_payload(
                    update.snapshot, update.changed, update.removed, update.state
                ).encode()
                self.deliver(payload)
        finally:
            self.mailbox.close()


class LiveOperations:
    """Every live group of one gateway, the connections they write to, and the one flusher."""

    def __init__(self, hub: StatusHub, *, table_batch: float = 0.02, collector: CollectorPolicy | None = None) -> None:
        self.hub = hub
        self.table_batch = table_batch
        self.collector = collector or CollectorPolicy(freeze=False)
        self.groups: dict[str, Group] = {}
        self.connections: set[LiveConnection] = set()
        self._documents: dict[str, tuple[DocumentNode, list[GraphQLError]]] = {}
        # Plans by operation, kept after their last subscriber leaves: a tab reopening the table
        # finds its rows (and, unchanged, its whole snapshot) already written.
        self._plans: dict[str, LivePlan] = {}
        self._owed: dict[LiveConnection, None] = {}
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def subscriber_count(self) -> int:
        return sum(len(g.members) for g in self.groups.values())

    def most_pending(self) -> int:
        """The most messages any one member is owed: a slow nodeFlowStatus reader at most one per
        node, a slow flowsTable reader at most TABLE_BACKLOG before a fresh table replaces them."""
        return max((m.owed_count for g in self.groups.values() for m in g.members), default=0)

    def checked(self, query: str) -> tuple[DocumentNode, list[GraphQLError]]:
        """The document and its validation errors, remembered for the documents clients keep
        sending (a wave of tabs opening sends the same text a thousand times). A syntax error
        closes the connection, as the protocol asks."""
        found = self._documents.get(query)
        if found is None:
            try:
                document = parse(query, max_tokens=MAX_TOKENS)
            except GraphQLSyntaxError as exc:
                raise Closed(4400, exc.message) from None
            found = (document, validate(schema._schema, document, VALIDATION_RULES))
            if len(self._documents) >= DOCUMENT_CACHE:
                self._documents.pop(next(iter(self._documents)))
            self._documents[query] = found
        return found

    def plan(self, key: str, make: Callable[[], LivePlan]) -> LivePlan:
        """The operation's plan, made once and remembered for the operations clients keep using."""
        found = self._plans.pop(key, None) or make()
        self._plans[key] = found  # most recently used last
        if len(self._plans) > DOCUMENT_CACHE:
            self._plans.pop(next(iter(self._plans)))
        return found

    def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_forever(), name="live flusher")
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="live access sweeper")

    async def stop(self) -> None:
        for task in (self._flusher, self._sweeper, *(g.task for g in self.groups.values())):
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in (self._flusher, self._sweeper, *(g.task for g in self.groups.values())) if t),
            return_exceptions=True,
        )

    def join(self, member: Member, key: str, plan: LivePlan, node: str | None) -> None:
        group = self.groups.get(key)
        if group is None:
            group = (
                NodeGroup(self, key, plan, node) if plan.root_field == "nodeFlowStatus" else TableGroup(self, key, plan)
            )
            self.groups[key] = group
            group.start()
        group.add(member)

    def leave(self, member: Member) -> None:
        group = member.group
        if group is None:
            return
        group.members.pop(member, None)
        member.group = None
        if not group.members:
            group.close()
            self.groups.pop(group.key, None)

    def owe(self, connection: LiveConnection) -> None:
        self._owed[connection] = None
        self._wake.set()

    async def _flush_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            owed, self._owed = self._owed, {}
            for connection in owed:
                connection.flush()
            await asyncio.sleep(0)  # let the readers in between waves

    async def _sweep_forever(self) -> None:
        """Access of running subscriptions is checked again when due, one connection at a time;
        and the garbage collector is kept out of the way of ten thousand connections
        (gateway/server/collector.py)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            self.collector.tick(self.connections)
            now = loop.time()
            for connection in list(self.connections):
                if connection.access is not None and connection.access.due <= now and connection.checking is None:
                    connection.checking = asyncio.create_task(connection.check_access())


# -- one connection -------------------------------------------------------------------------------


class LiveConnection:
    """One graphql-transport-ws WebSocket."""

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        services: Services,
        live: LiveOperations,
        *,
        init_timeout: float,
        max_subscriptions: int,
        execute_other: Callable[[Context, dict[str, Any]], Awaitable[str]],
    ) -> None:
        # Of the upgrade request, only what may carry the caller's token is kept: the whole ASGI
        # scope (a dozen keys, nested dicts, every header) is some 3 KB an idle subscriber need not hold.
        self.request_headers = [(k, v) for k, v in scope.get("headers") or () if k in TOKEN_HEADERS]
        self.receive = receive
        self.send = send
        self.raw_send: Send = send  # the server's own: live sockets are routed ahead of any middleware
        self.services = services
        self.live = live
        self.init_timeout = init_timeout
        self.max_subscriptions = max_subscriptions
        self.execute_other = execute_other
        self.context: Context | None = None
        self.members: dict[str, Member] = {}
        self.others: dict[str, asyncio.Task[None]] = {}
        self.access: StandingAccess | None = None
        self.checking: asyncio.Task[None] | None = None
        self._owed: dict[Member, None] = {}
        self._writer: asyncio.Task[None] | None = None
        self._timing_out: asyncio.Future[None] | None = None  # the close after no connection_init
        self._closed = False
        self._frames = FrameWriter.of(self.raw_send)
        self.frozen = False  # out of the garbage collector's sight (gateway/server/collector.py)

    # -- serving ---------------------------------------------------------------------------------

    async def serve(self) -> None:
        await self.send({"type": "websocket.accept", "subprotocol": PROTOCOL})
        self.live.connections.add(self)
        # Let go of once connection_init came: ten thousand idle subscribers hold no timer.
        timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(self.init_timeout, self._init_due)
        try:
            while True:
                message = await self.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message["type"] != "websocket.receive":
                    continue
                try:
                    await self._handle(message)
                except Closed as closing:
                    await self.close(closing.code, closing.reason)
                    return
                if self.context is not None and timer is not None:
                    timer.cancel()
                    timer = None
        finally:
            if timer is not None:
                timer.cancel()
            self._closed = True
            self.live.connections.discard(self)
            self.live.collector.closed(self)
            for member in self.members.values():
                self.live.leave(member)
            self.members.clear()
            for task in (*self.others.values(), self._writer, self.checking):
                if task is not None:
                    task.cancel()

    def _init_due(self) -> None:
        self._timing_out = asyncio.ensure_future(self._init_timed_out())

    async def _init_timed_out(self) -> None:
        if self.context is None and not self._closed:
            await self.close(4408, "Connection initialisation timeout")

    async def close(self, code: int, reason: str) -> None:
        if not self._closed:
            self._closed = True
            try:
                await self.send({"type": "websocket.close", "code": code, "reason": reason})
            except Exception:  # the peer is already gone
                log.debug("closing a WebSocket that was already gone", exc_info=True)

    async def _handle(self, message: Message) -> None:
        text = message.get("text")
        if text is None and message.get("bytes") is not None:
            text = message["bytes"].decode(errors="replace")
        try:
            body = json.loads(text or "")
        except ValueError:
            raise Closed(4400, "Failed to parse message") from None
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            raise Closed(4400, "Failed to parse message")
        kind = body["type"]
        if kind == "connection_init":
            await self._init(body)
        elif kind == "ping":
            await self.raw_send({"type": "websocket.send", "text": '{"type":"pong"}'})
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            await self._subscribe(body)
        elif kind == "complete":
            self._complete(str(body.get("id", "")))
        else:
            raise Closed(4400, f"Unknown message type: {kind}")

    async def _init(self, body: dict[str, Any]) -> None:
        payload = body.get("payload") or {}
        if not isinstance(payload, dict):
            raise Closed(4400, "Invalid connection init payload")
        if self.context is not None:
            raise Closed(4429, "Too many initialisation requests")
        request = HTTPConnection({"type": "websocket", "headers": self.request_headers})
        self.context = Context(services=self.services, request=request, connection_params=payload)
        await self.raw_send({"type": "websocket.send", "text": '{"type":"connection_ack"}'})

    async def _subscribe(self, body: dict[str, Any]) -> None:
        if self.context is None:
            raise Closed(4401, "Unauthorized")
        operation_id = body.get("id")
        payload = body.get("payload")
        if not isinstance(operation_id, str) or not operation_id or not isinstance(payload, dict):
            raise Closed(4400, "Invalid subscribe message")
        if operation_id in self.members or operation_id in self.others:
            raise Closed(4409, f"Subscriber for {operation_id} already exists")
        if len(self.members) + len(self.others) >= self.max_subscriptions:
            await self._error(operation_id, [GraphQLError("Subscription limit reached")])
            return
        query = payload.get("query")
        variables = payload.get("variables") or {}
        operation_name = payload.get("operationName")
        if not isinstance(query, str) or not isinstance(variables, dict):
            raise Closed(4400, "Invalid subscribe message")
        key = _dumps([query, operation_name, variables])
        group = self.live.groups.get(key)
        if group is not None:  # the same operation as others run: parsed and checked already
            self.services.metrics.operations.labels("subscription").inc()
            await self._join(operation_id, key, group.plan)
            return
        document, errors = self.live.checked(query)
        operation = live_operation(schema._schema, document, operation_name)
        if operation is None:
            # A query or mutation over the socket: executed as over HTTP, in its own task.
            self.others[operation_id] = asyncio.create_task(self._other(operation_id, payload))
            return
        if errors:
            self.services.metrics.errors.labels("INVALID_QUERY").inc()
            await self._error(operation_id, errors)
            return
        self.services.metrics.operations.labels("subscription").inc()
        plan = self.live.plan(key, lambda: LivePlan(schema._schema, document, operation, variables, operation_name))
        await self._join(operation_id, key, plan)

    async def _join(self, operation_id: str, key: str, plan: LivePlan) -> None:
        assert self.context is not None
        node = _argument(plan.arguments.get("node"), plan.variables)
        hub = self.services.hub
        if not hub.synced:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(hub.informers.wait_synced(), SYNC_WAIT)
        try:
            with self.context.errors():
                await self.context.reader()
                if node is not None:
                    self.services.hub.statuses(node)  # refuses a node that does not exist
        except GraphQLError as error:
            await self._error(operation_id, [error])
            return
        if self.access is None:
            self.access = StandingAccess(self.services.authorizer, self.context.token())
        member: Member = (
            NodeMember(self, operation_id) if plan.root_field == "nodeFlowStatus" else TableMember(self, operation_id)
        )
        self.members[operation_id] = member
        self.live.join(member, key, plan, node)

    async def _other(self, operation_id: str, payload: dict[str, Any]) -> None:
        assert self.context is not None
        try:
            result = await self.execute_other(self.context, payload)
            await self.raw_send({"type": "websocket.send", "text": self._next(operation_id, result)})
            await self.raw_send({"type": "websocket.send", "text": _complete(operation_id)})
        finally:
            self.others.pop(operation_id, None)

    def _complete(self, operation_id: str) -> None:
        member = self.members.pop(operation_id, None)
        if member is not None:
            self.live.leave(member)
            self._owed.pop(member, None)
        task = self.others.pop(operation_id, None)
        if task is not None:
            task.cancel()

    async def _error(self, operation_id: str, errors: list[GraphQLError]) -> None:
        text = '{"id":' + _dumps(operation_id) + ',"type":"error","payload":' + error_payload(errors) + "}"
        await self.raw_send({"type": "websocket.send", "text": text})

    @staticmethod
    def _next(operation_id: str, payload: str) -> str:
        return '{"id":' + _dumps(operation_id) + ',"type":"next","payload":' + payload + "}"

    # -- access ----------------------------------------------------------------------------------

    async def check_access(self) -> None:
        """A revoked permission ends every subscription of this connection (FORBIDDEN)."""
        assert self.access is not None and self.context is not None
        try:
            with self.context.errors():
                await self.access.recheck_if_due()
        except GraphQLError as error:
            for operation_id in list(self.members):
                self._complete(operation_id)
                await self._error(operation_id, [error])
        finally:
            self.checking = None

    # -- writing ---------------------------------------------------------------------------------

    def owed(self, member: Member) -> None:
        if self._closed:
            return
        self._owed[member] = None
        if self._writer is None:
            self.live.owe(self)

    def writable_now(self) -> bool:
        """Nothing owed, no writer of its own, and the peer takes data now: a frame may be written
        at once without jumping ahead of anything."""
        return (
            not self._owed
            and self._writer is None
            and not self._closed
            and self._frames is not None
            and self._frames.ready()
        )

    def write_frame(self, frame: bytes) -> None:
        assert self._frames is not None
        self._frames.write_frame(frame)

    def flush(self) -> None:
        """Called by the flusher: written at once if the peer keeps up, else handed to a writer of
        this connection's own (so one slow peer never holds up the others)."""
        if self._writer is not None or self._closed:
            return
        if self._frames is not None and self._frames.ready():
            owed, self._owed = self._owed, {}
            for member in owed:
                if member.group is not None:  # else completed meanwhile
                    for message in member.take():
                        self._frames.write(message)
        else:
            self._writer = asyncio.create_task(self._write_when_able())

    async def _write_when_able(self) -> None:
        try:
            while self._owed and not self._closed:
                owed, self._owed = self._owed, {}
                for member in owed:
                    if member.group is not None:
                        for message in member.take():
                            await self.raw_send({"type": "websocket.send", "text": message.decode()})
        except Exception:
            # The peer went away mid-write: the receive loop sees the disconnect and cleans up.
            self._closed = True
        finally:
            self._writer = None


class FrameWriter:
    """Text frames written straight to the connection's transport, for servers that let us:
    uvicorn's WebSocket protocols keep the transport, whether it may be written now (`writable`)
    and whether a close went out. Every message of every subscriber otherwise passes through the
    ASGI send and the protocol library, several times the cost for the same bytes."""

    __slots__ = ("protocol",)

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol

    @staticmethod
    def of(send: Send) -> FrameWriter | None:
        protocol = getattr(send, "__self__", None)
        needed = ("transport", "writable", "close_sent")
        if protocol is None or not all(hasattr(protocol, name) for name in needed):
            return None
        return FrameWriter(protocol)

    def ready(self) -> bool:
        p = self.protocol
        return bool(p.writable.is_set() and not p.close_sent and not p.transport.is_closing())

    @staticmethod
    def frame(message: bytes) -> bytes:
        """A server's (unmasked) text frame of one message."""
        length = len(message)
        if length < 126:
            header = bytes((0x81, length))
        elif length < 65536:
            header = b"\x81\x7e" + length.to_bytes(2, "big")
        else:
            header = b"\x81\x7f" + length.to_bytes(8, "big")
        return header + message

    def write(self, message: bytes) -> None:
        self.protocol.transport.write(self.frame(message))

    def write_frame(self, frame: bytes) -> None:
        self.protocol.transport.write(frame)


def _complete(operation_id: str) -> str:
    return '{"id":' + _dumps(operation_id) + ',"type":"complete"}'


def _argument(value: Any, variables: dict[str, Any]) -> str | None:
    if value is None or isinstance(value, NullValueNode):
        return None
    if isinstance(value, VariableNode):
        found = variables.get(value.name.value)
        return None if found is None else str(found)
    if isinstance(value, StringValueNode):
        return value.value
    return None


def wants_live(scope: Scope) -> bool:
    """A WebSocket offering graphql-transport-ws (the legacy graphql-ws goes to Strawberry)."""
    for name, value in scope.get("headers") or ():
        if name == b"sec-websocket-protocol":
            offered = [p.strip() for p in value.decode("latin-1").split(",")]
            return PROTOCOL in offered
    return False
