"""The headers on what the gateway serves over HTTP (gateway/server/security_headers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes_asyncio.client import Configuration
from starlette.testclient import TestClient

from gateway.kube.config import ClusterAccess
from gateway.server.app import create_app
from gateway.server.settings import GatewaySettings
from tests.unit.fakes import FakeKube


@pytest.fixture
def client() -> Iterator[TestClient]:
    access = ClusterAccess(Configuration(host="https://127.0.0.1:1"), source="test")
    app = create_app(access, GatewaySettings(auth="none"), api=FakeKube())  # type: ignore[arg-type]
    with TestClient(app) as test_client:
        yield test_client


def policy(header: str) -> dict[str, str]:
    directives = (d.strip().split(" ", 1) for d in header.split(";") if d.strip())
    return {name: value for name, value in directives}


@pytest.mark.parametrize("path", ["/", "/graphql"])
def test_pages_allow_only_what_they_load_and_no_framing(client: TestClient, path: str) -> None:
    # The page is served whether or not the web UI is built here (503 with a sentence if not).
    answer = client.get(path, headers={"Accept": "text/html"})
    assert answer.headers["content-type"].startswith("text/html")
    csp = policy(answer.headers["content-security-policy"])
    assert csp["default-src"] == "'none'"
    for directive in ("script-src", "style-src", "connect-src"):
        assert csp[directive] == "'self'", (directive, csp)
    assert csp["frame-ancestors"] == "'none'" and answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"


def test_every_answer_is_nosniff_and_no_referrer_and_only_pages_carry_the_policy(client: TestClient) -> None:
    for path in ("/healthz", "/metrics"):
        answer = client.get(path)
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert answer.headers["referrer-policy"] == "no-referrer", path
        assert "content-security-policy" not in answer.headers, path
    query = client.post("/graphql", json={"query": "{ __typename }"})
    assert query.json() == {"data": {"__typename": "Query"}}
    assert query.headers["x-content-type-options"] == "nosniff"
