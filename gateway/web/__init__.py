"""What the gateway serves to browsers, built from plugin-ui/ into this package by
`hack/build-ui.sh` (`make ui`): ui/ (the standalone Network Flows page, at /), graphiql/
(GraphiQL, at GET /graphql for browsers, no CDN) and plugin/ (the OpenShift console plugin's
files, at /plugin/, the ConsolePlugin's backend). Nothing built is committed."""

from __future__ import annotations

from pathlib import Path

WEB = Path(__file__).parent
UI = WEB / "ui"
GRAPHIQL = WEB / "graphiql"
PLUGIN = WEB / "plugin"

NOT_BUILT = (
    "<!doctype html><title>flowgate</title><p>This flowgate installation was built without its web "
    "pages ({what}). GraphQL itself works at <code>/graphql</code>; build the pages with "
    "<code>make ui</code> in a source checkout.</p>"
)


def built(folder: Path, entry: str) -> Path | None:
    page = folder / entry
    return page if page.is_file() else None
