"""What the example scripts share: where the gateway is and who you are, and gql clients built
from flowgate's own GraphQL client (gateway.client), sending its documents (.graphql files).

--url / FLOWGATE_URL      the gateway's GraphQL endpoint (default http://127.0.0.1:8443/graphql)
--token / FLOWGATE_TOKEN  your Kubernetes bearer token (e.g. `oc whoami -t`)
--insecure                do not verify the gateway's TLS certificate
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import aiohttp
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportError, TransportQueryError

from gateway.client import FlowgateClient, endpoint
from gateway.client.documents import document

DEFAULT_URL = "http://127.0.0.1:8443/graphql"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--url", default=os.environ.get("FLOWGATE_URL", DEFAULT_URL), help="gateway GraphQL URL")
    p.add_argument("--token", default=os.environ.get("FLOWGATE_TOKEN"), help="Kubernetes bearer token")
    p.add_argument("--insecure", action="store_true", help="do not verify the gateway's certificate")
    return p


def _client(args: argparse.Namespace) -> FlowgateClient:
    return FlowgateClient(endpoint(args.url, args.token, insecure=args.insecure, via="--url"))


def http_client(args: argparse.Namespace) -> Client:
    """gql over HTTP, for queries and mutations."""
    return Client(transport=_client(args).http_transport())


def ws_client(args: argparse.Namespace) -> Client:
    """gql over graphql-transport-ws, for subscriptions; the token travels in connection_init."""
    return Client(transport=_client(args).ws_transport())


def request(operation: str, **variables: Any) -> GraphQLRequest:
    """One of flowgate's own GraphQL documents (gateway/client/documents/<operation>.graphql)."""
    return GraphQLRequest(document(operation), variable_values=variables or None, operation_name=operation)


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
