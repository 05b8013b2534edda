"""What the example scripts share: where the gateway is and who you are.

--url / FLOWGATE_URL      the gateway's GraphQL endpoint (default http://127.0.0.1:8443/graphql)
--token / FLOWGATE_TOKEN  your Kubernetes bearer token (e.g. `oc whoami -t`)
--insecure                do not verify the gateway's TLS certificate
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
from typing import Any

import aiohttp
from gql import Client
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.exceptions import TransportError, TransportQueryError
from gql.transport.websockets import WebsocketsTransport

DEFAULT_URL = "http://127.0.0.1:8443/graphql"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--url", default=os.environ.get("FLOWGATE_URL", DEFAULT_URL), help="gateway GraphQL URL")
    p.add_argument("--token", default=os.environ.get("FLOWGATE_TOKEN"), help="Kubernetes bearer token")
    p.add_argument("--insecure", action="store_true", help="do not verify the gateway's certificate")
    return p


def _ssl(args: argparse.Namespace) -> ssl.SSLContext | bool:
    if not args.url.startswith(("https:", "wss:")):
        return False
    context = ssl.create_default_context()
    if args.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def http_client(args: argparse.Namespace) -> Client:
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    return Client(transport=AIOHTTPTransport(url=args.url, headers=headers, ssl=_ssl(args)))


def ws_client(args: argparse.Namespace) -> Client:
    url = args.url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    transport = WebsocketsTransport(
        url=url,
        ssl=_ssl(args),
        # The token travels in connection_init: proxies in front of the gateway may strip headers.
        init_payload={"authorization": f"Bearer {args.token}"} if args.token else {},
        # gql offers the legacy graphql-ws protocol first unless told otherwise.
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    return Client(transport=transport)


# What talking to the gateway can raise: its GraphQL errors, or not reaching it at all.
GATEWAY_ERRORS = (TransportError, OSError, aiohttp.ClientError)


def fail(error: Exception, args: argparse.Namespace) -> int:
    """Print the gateway's sentence and its code (or where it could not be reached); exit status."""
    if isinstance(error, TransportQueryError):
        for e in error.errors or [{"message": str(error)}]:
            code = (e.get("extensions") or {}).get("code", "ERROR")
            print(f"{code}: {e.get('message')}", file=sys.stderr)
        return 1
    print(
        f"UNREACHABLE: the gateway at {args.url} did not answer ({error}); pass --url or set FLOWGATE_URL.",
        file=sys.stderr,
    )
    return 3


def row(status: dict[str, Any]) -> str:
    return f"{status['node']:<20} {status['state'].lower():<9} {(status['type'] or '').lower():<8} {status['endpoint'] or ''}"
