"""The headers a security review expects on what the gateway serves over HTTP.

Every answer says `X-Content-Type-Options: nosniff` (a file is only ever what its type says) and
`Referrer-Policy: no-referrer` (the gateway's URLs never leave in a Referer). The pages it serves
itself, the standalone Network Flows page and GraphiQL, also carry a Content-Security-Policy that
allows only what they load: their own scripts, stylesheets, fonts and images from the gateway,
GraphQL over HTTP and WebSocket to the gateway, and no framing by any site (a page that can
switch flow export must not be clickjacked). The console plugin's files are scripts and JSON the
console loads; its page lives under the console's own policy."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",  # 'self' covers ws: and wss: to the same host (CSP level 3)
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
EVERY_ANSWER = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
PAGES = [(b"content-security-policy", PAGE_POLICY.encode()), (b"x-frame-options", b"DENY")]


class SecurityHeaders:
    """Adds the headers to every HTTP answer, and the page policy to HTML ones."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                names = {name.lower() for name, _ in headers}
                added = EVERY_ANSWER
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html"):
                    added = EVERY_ANSWER + PAGES
                headers.extend((name, value) for name, value in added if name not in names)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
