"""Shared fixtures: each area keeps its own in tests/fixtures/ and they are all available here."""

pytest_plugins = (
    "tests.fixtures.testbed",
    "tests.fixtures.gateway",
    "tests.fixtures.agents",
    "tests.fixtures.kubectl",
    "tests.fixtures.browser",
)
