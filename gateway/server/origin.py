"""Which WebSocket handshakes the gateway accepts, judged by where they come from.

Browsers apply no CORS to WebSocket handshakes: a page on any site can open a socket to any
server. That is dangerous where the browser adds credentials by itself (cookies, HTTP
authentication, client certificates): the page would act as the user (cross-site WebSocket
hijacking). The gateway takes no such credential. A caller proves who they are with a bearer
token, in the Authorization header or in connection_init, and a page can only send a token it
holds. Refusing pages of other origins is therefore defence in depth, and the only defence with
`--auth none`, where every connection acts as the gateway itself.

The rule, in order:
1. A handshake carrying `Authorization: Bearer …` is accepted whatever its Origin. A page's
   script cannot set that header on a WebSocket; a program holding the token set it. The
   OpenShift console's plugin proxy is such a program: it checks the browser's Origin itself
   (openshift/console pkg/auth/csrfverifier/csrf.go, on every upgrade), drops it
   (pkg/plugins/handlers.go), adds the signed-in user's token and dials the backend with
   `Origin: http://localhost` (pkg/proxy/proxy.go), the same for every cluster.
2. No Origin: not a browser, so nothing ambient to abuse.
3. The same origin as the gateway (the standalone page, GraphiQL).
4. An origin the gateway was told to trust (`--allowed-origin`), or any with `*`.
Anything else (a page elsewhere talking to the gateway directly) is refused with 403."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from strawberry.http.websocket_origin import is_same_origin, normalize_allowed_origins, normalize_origin

__all__ = ["normalize_allowed_origins", "refusal", "websocket_allowed"]


def carries_bearer_token(headers: Mapping[str, str]) -> bool:
    scheme, _, token = (headers.get("authorization") or "").strip().partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def websocket_allowed(headers: Mapping[str, str], allowed: frozenset[str]) -> bool:
    """Whether a handshake with these `headers` (lower-case names) may open a WebSocket; `allowed`
    as normalize_allowed_origins makes it."""
    if carries_bearer_token(headers):
        return True
    origin = headers.get("origin")
    if origin is None or headers.get("sec-fetch-site") == "same-origin":
        return True
    if is_same_origin(origin, headers.get("host")) or "*" in allowed:
        return True
    return normalize_origin(origin) in allowed


def scope_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw}


def refusal(headers: Mapping[str, str]) -> str:
    """The sentence a refused handshake is answered with (and logged)."""
    return (
        f"The gateway refused a WebSocket from a page on {headers.get('origin')!s}, which is neither the "
        f"gateway's own origin ({headers.get('host')!s}) nor one it trusts; to let that site's pages "
        "connect, start the gateway with --allowed-origin=<that origin>."
    )
