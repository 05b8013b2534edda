"""Who is calling, and may they read flow export state?

The gateway never trusts a token itself: the API server's TokenReview says who holds it and a
SubjectAccessReview says whether that user may `list flows.flowgate.dev`, the permission that
reading flow state stands for. Decisions are cached briefly (and concurrent reviews of one token
shared) so a wave of subscribers with the same token costs one review, not hundreds."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

from gateway.domain.errors import FlowgateError, Forbidden, Unauthenticated, Unavailable
from gateway.domain.model import FLOW_EXPORT_NAME
from gateway.kube.api import ApiError, ApiUnreachable, KubeApi
from gateway.kube.resources import FLOW_EXPORTS, FLOWS

READ_VERB = "list"
MISSING_TOKEN = (
    "No bearer token was sent. Over HTTP send `Authorization: Bearer <token>` or "
    "`X-Flowgate-Authorization: Bearer <token>`; over WebSocket put "
    '{"authorization": "Bearer <token>"} in the connection_init payload.'
)
REJECTED_TOKEN = "The API server did not accept this token (expired or unknown); log in again and retry."


@dataclass(frozen=True)
class Caller:
    """The identity a request acts as. token None means the gateway's own credentials
    (`--auth none`, bound to loopback)."""

    token: str | None
    username: str | None

    @property
    def who(self) -> str:
        return f'User "{self.username}"' if self.username else "The gateway's own identity"


ANONYMOUS_GATEWAY = Caller(token=None, username=None)


@dataclass(frozen=True)
class _Decision:
    expires: float
    caller: Caller | None
    # The refusal as (kind, sentence): a fresh exception per raise, so cached refusals do not
    # accumulate tracebacks.
    error: tuple[type[FlowgateError], str] | None


def bearer(value: str | None) -> str | None:
    """The token in `Bearer <token>` (a bare token is accepted too); None when empty."""
    if not value:
        return None
    scheme, _, rest = value.strip().partition(" ")
    token = rest.strip() if scheme.lower() == "bearer" else value.strip()
    return token or None


class Authorizer:
    """Read access by token, cached for at most `ttl` seconds per token."""

    def __init__(self, api: KubeApi | None, *, ttl: float = 30.0, max_entries: int = 10_000) -> None:
        self.api = api  # None: authentication is off (`--auth none`)
        self.ttl = ttl
        self.max_entries = max_entries
        self._decisions: OrderedDict[str, _Decision] = OrderedDict()
        self._inflight: dict[str, asyncio.Task[_Decision]] = {}
        self.reviews = 0  # TokenReview+SubjectAccessReview pairs sent (for tests and metrics)

    @property
    def enabled(self) -> bool:
        return self.api is not None

    async def reader(self, token: str | None) -> Caller:
        """The caller behind token, if they may read flows; raises Unauthenticated/Forbidden."""
        if self.api is None:
            return ANONYMOUS_GATEWAY
        if not token:
            raise Unauthenticated(MISSING_TOKEN)
        key = hashlib.sha256(token.encode()).hexdigest()
        decision = self._decisions.get(key)
        if decision is None or decision.expires <= time.monotonic():
            decision = await self._review_once(key, token)
        if decision.error is not None:
            kind, message = decision.error
            raise kind(message)
        assert decision.caller is not None
        return decision.caller

    async def _review_once(self, key: str, token: str) -> _Decision:
        # The review runs as its own task that every concurrent caller with this token awaits
        # through a shield: one of them going away (a closed tab) must not cancel it for the rest.
        review = self._inflight.get(key)
        if review is None:
            review = asyncio.get_running_loop().create_task(self._review_and_remember(key, token))
            self._inflight[key] = review
            review.add_done_callback(partial(self._review_done, key))
        return await asyncio.shield(review)

    async def _review_and_remember(self, key: str, token: str) -> _Decision:
        decision = await self._review(token)
        self._remember(key, decision)
        return decision

    def _review_done(self, key: str, review: asyncio.Task[_Decision]) -> None:
        self._inflight.pop(key, None)
        if not review.cancelled():
            review.exception()  # waiters re-raise it; if all went away, do not log it as never retrieved

    async def _review(self, token: str) -> _Decision:
        assert self.api is not None
        self.reviews += 1
        try:
            user = await self.api.review_token(token)
            allowed = user is not None and await self.api.may(user, READ_VERB, FLOWS)
        except ApiUnreachable as exc:
            raise Unavailable(
                "The gateway cannot reach the Kubernetes API server to check your token; try again shortly."
            ) from exc
        except ApiError as exc:
            raise Unavailable(
                f"The API server would not review your token for the gateway ({exc.status}: {exc.message}); "
                "the gateway's service account needs the system:auth-delegator role."
            ) from exc
        expires = time.monotonic() + self.ttl
        username = None if user is None else str(user.get("username") or "")
        if user is None:
            return _Decision(expires, None, (Unauthenticated, REJECTED_TOKEN))
        if not allowed:
            return _Decision(
                expires,
                None,
                (
                    Forbidden,
                    f'User "{username}" may not {READ_VERB} {FLOWS}, which reading flow export state requires; '
                    "ask a cluster admin for a role that grants it.",
                ),
            )
        return _Decision(expires, Caller(token=token, username=username), None)

    def _remember(self, key: str, decision: _Decision) -> None:
        self._decisions[key] = decision
        self._decisions.move_to_end(key)
        while len(self._decisions) > self.max_entries:
            self._decisions.popitem(last=False)


class StandingAccess:
    """A subscriber's read access over the life of its stream: asked again every `ttl` seconds so
    a revoked permission ends the stream. A check the API server cannot answer (it is restarting
    or unreachable) is retried every few seconds instead: the stream comes from the shared cache,
    which catches up once the API server is back, so a short outage must not end every
    subscription whose check falls in it. An outage longer than `outage_grace` does."""

    RETRY_SECONDS = 2.0

    def __init__(self, authorizer: Authorizer, token: str | None, *, outage_grace: float = 120.0) -> None:
        self.authorizer = authorizer
        self.token = token
        self.outage_grace = outage_grace
        now = asyncio.get_running_loop().time()
        self.confirmed_at = now
        self.due = now + authorizer.ttl  # event-loop time of the next check

    async def recheck_if_due(self) -> None:
        """Raises Forbidden/Unauthenticated when access is gone, Unavailable after a long outage."""
        loop = asyncio.get_running_loop()
        if loop.time() < self.due:
            return
        try:
            await self.authorizer.reader(self.token)
        except Unavailable:
            if loop.time() - self.confirmed_at > self.outage_grace:
                raise
            self.due = loop.time() + min(self.authorizer.ttl, self.RETRY_SECONDS)
            return
        self.confirmed_at = loop.time()
        self.due = self.confirmed_at + self.authorizer.ttl


@dataclass(frozen=True)
class SwitchAccess:
    """Whether a caller may switch flow export, and if not, why (what a page shows before the
    caller tries)."""

    user: str | None
    can_switch: bool
    reason: str | None = None


async def switch_access(api: KubeApi, caller: Caller, export_exists: bool) -> SwitchAccess:
    """Asked of the API server as the caller (`api` holds their credentials), by
    SelfSubjectAccessReview: may they update FlowExport/cluster, and create it while it does not
    exist yet? The same rights a start or stop is then checked against."""
    try:
        verbs = ["update"] if export_exists else ["update", "create"]
        refused = [verb for verb in verbs if not await api.i_may(verb, FLOW_EXPORTS, FLOW_EXPORT_NAME)]
    except (ApiError, ApiUnreachable) as exc:
        raise Unavailable(
            "The gateway cannot ask the Kubernetes API server what you may do right now; try again shortly."
        ) from exc
    if not refused:
        return SwitchAccess(caller.username, True)
    return SwitchAccess(
        caller.username,
        False,
        f'{caller.who} may not {" or ".join(refused)} {FLOW_EXPORTS} "{FLOW_EXPORT_NAME}", which switching flow '
        "export requires; ask a cluster admin for the flowgate-admin role.",
    )
