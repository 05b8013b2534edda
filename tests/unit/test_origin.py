"""Which WebSocket handshakes the gateway accepts (gateway/server/origin.py)."""

from __future__ import annotations

import pytest

from gateway.server.origin import normalize_allowed_origins, refusal, websocket_allowed

NONE = normalize_allowed_origins([])
TRUSTED = normalize_allowed_origins(["https://app.example.com"])


@pytest.mark.parametrize(
    ("headers", "allowed", "accepted"),
    [
        # The OpenShift console's proxy: its fixed Origin and the user's token.
        ({"origin": "http://localhost", "authorization": "Bearer t", "host": "gw:8443"}, NONE, True),
        # Any program holding a token, whatever Origin it writes.
        ({"origin": "https://evil.example", "authorization": "bearer t", "host": "gw:8443"}, NONE, True),
        # A page elsewhere: no header a script could add makes it acceptable.
        ({"origin": "https://evil.example", "host": "gw:8443"}, NONE, False),
        ({"origin": "https://evil.example", "authorization": "Bearer ", "host": "gw:8443"}, NONE, False),
        ({"origin": "https://evil.example", "authorization": "Basic dTpw", "host": "gw:8443"}, NONE, False),
        ({"origin": "http://localhost", "host": "gw:8443"}, NONE, False),
        ({"origin": "null", "host": "gw:8443"}, NONE, False),
        # Not a browser.
        ({"host": "gw:8443"}, NONE, True),
        # The gateway's own pages.
        ({"origin": "https://gw:8443", "host": "gw:8443"}, NONE, True),
        ({"origin": "https://other:1", "sec-fetch-site": "same-origin", "host": "gw:8443"}, NONE, True),
        # Trusted by configuration.
        ({"origin": "https://app.example.com", "host": "gw:8443"}, TRUSTED, True),
        ({"origin": "https://APP.example.com:443", "host": "gw:8443"}, TRUSTED, True),
        ({"origin": "https://app.example.com.evil", "host": "gw:8443"}, TRUSTED, False),
        ({"origin": "https://evil.example", "host": "gw:8443"}, normalize_allowed_origins(["*"]), True),
    ],
)
def test_websocket_allowed(headers: dict[str, str], allowed: frozenset[str], accepted: bool) -> None:
    assert websocket_allowed(headers, allowed) is accepted


def test_the_refusal_names_the_origin_and_the_way_in() -> None:
    sentence = refusal({"origin": "https://evil.example", "host": "gw:8443"})
    assert sentence == (
        "The gateway refused a WebSocket from a page on https://evil.example, which is neither the "
        "gateway's own origin (gw:8443) nor one it trusts; to let that site's pages connect, start the "
        "gateway with --allowed-origin=<that origin>."
    )
