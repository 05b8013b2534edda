"""Token review decisions: who may read, cached at most `ttl`, one review for a wave of callers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.access import Authorizer, StandingAccess, bearer
from gateway.domain.errors import Forbidden, Unauthenticated, Unavailable
from gateway.kube.api import ApiError, ApiUnreachable


class Reviews:
    def __init__(self, users: dict[str, tuple[bool, str]], fail: Exception | None = None) -> None:
        self.users = users
        self.fail = fail
        self.asked: list[tuple[str, str, str]] = []

    async def review_token(self, token: str) -> dict[str, Any] | None:
        """TokenReview: every review is one entry in `asked`, (token, verb, resource) of the
        access review that follows it (or of the refusal when the token is unknown)."""
        self.asked.append((token, "list", "flows.flowgate.dev"))
        await asyncio.sleep(0.01)
        if self.fail is not None:
            raise self.fail
        allowed, user = self.users.get(token, (False, None))  # type: ignore[arg-type]
        return None if user is None else {"username": user, "allowed": allowed}

    async def may(self, user: dict[str, Any], verb: str, resource: Any, name: str | None = None) -> bool:
        assert (verb, str(resource)) == ("list", "flows.flowgate.dev")
        return bool(user["allowed"])


def authorizer(reviews: Reviews, ttl: float = 30.0) -> Authorizer:
    return Authorizer(reviews, ttl=ttl)  # type: ignore[arg-type]


async def test_reader_asks_for_list_flows_and_caches() -> None:
    reviews = Reviews({"t-viewer": (True, "viewer")})
    auth = authorizer(reviews)
    callers = await asyncio.gather(*(auth.reader("t-viewer") for _ in range(50)))
    assert {c.username for c in callers} == {"viewer"}
    assert reviews.asked == [("t-viewer", "list", "flows.flowgate.dev")]  # one review for the wave
    await auth.reader("t-viewer")
    assert len(reviews.asked) == 1


async def test_decisions_expire() -> None:
    reviews = Reviews({"t": (True, "admin")})
    auth = authorizer(reviews, ttl=0.05)
    await auth.reader("t")
    await asyncio.sleep(0.06)
    await auth.reader("t")
    assert len(reviews.asked) == 2


async def test_refusals() -> None:
    auth = authorizer(Reviews({"t-nobody": (False, "nobody")}))
    with pytest.raises(Unauthenticated, match="No bearer token"):
        await auth.reader(None)
    with pytest.raises(Unauthenticated, match="did not accept this token"):
        await auth.reader("unknown")
    with pytest.raises(Forbidden, match=r'User "nobody" may not list flows\.flowgate\.dev'):
        await auth.reader("t-nobody")
    with pytest.raises(Forbidden):  # cached refusal, raised afresh
        await auth.reader("t-nobody")


async def test_review_failures_are_unavailable_and_not_cached() -> None:
    reviews = Reviews({}, fail=ApiError(403, "Forbidden", "cannot create tokenreviews"))
    auth = authorizer(reviews)
    for _ in range(2):
        with pytest.raises(Unavailable, match="system:auth-delegator"):
            await auth.reader("t")
    assert len(reviews.asked) == 2


async def test_auth_off_is_the_gateway_itself() -> None:
    caller = await Authorizer(None).reader(None)
    assert caller.token is None and caller.who == "The gateway's own identity"


def test_bearer_parsing() -> None:
    assert bearer("Bearer abc") == "abc"
    assert bearer("bearer  abc ") == "abc"
    assert bearer("abc") == "abc"
    assert bearer("Bearer ") is None
    assert bearer(None) is None


async def test_a_caller_going_away_does_not_cancel_the_review_others_share() -> None:
    reviews = Reviews({"t": (True, "viewer")})
    auth = authorizer(reviews)
    first = asyncio.ensure_future(auth.reader("t"))
    await asyncio.sleep(0)  # the first caller has started the review
    second = asyncio.ensure_future(auth.reader("t"))
    await asyncio.sleep(0)
    first.cancel()  # e.g. its WebSocket closed mid-review
    caller = await asyncio.wait_for(second, 1)
    assert caller.username == "viewer"
    assert first.cancelled()
    assert len(reviews.asked) == 1


async def test_standing_access_ends_when_the_permission_is_revoked() -> None:
    reviews = Reviews({"t": (True, "viewer")})
    access = StandingAccess(authorizer(reviews, ttl=0.05), "t")
    await access.recheck_if_due()
    assert reviews.asked == []  # not due yet
    await asyncio.sleep(0.06)
    await access.recheck_if_due()
    assert len(reviews.asked) == 1
    reviews.users["t"] = (False, "viewer")
    await asyncio.sleep(0.06)
    with pytest.raises(Forbidden):
        await access.recheck_if_due()


async def test_standing_access_rides_out_a_short_api_server_outage_but_not_a_long_one() -> None:
    reviews = Reviews({"t": (True, "viewer")}, fail=ApiUnreachable("connection refused"))
    access = StandingAccess(authorizer(reviews, ttl=0.05), "t", outage_grace=0.3)
    await asyncio.sleep(0.06)
    await access.recheck_if_due()  # cannot be answered: the stream goes on, asked again soon
    assert len(reviews.asked) == 1
    reviews.fail = None
    await asyncio.sleep(0.06)
    await access.recheck_if_due()  # answered again: confirmed afresh
    assert len(reviews.asked) == 2
    reviews.fail = ApiUnreachable("connection refused")
    await asyncio.sleep(0.35)
    with pytest.raises(Unavailable, match="cannot reach the Kubernetes API server"):
        await access.recheck_if_due()
