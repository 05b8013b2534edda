"""The one GraphQL client of a flowgate gateway: endpoint.py (where and as whom), documents/
(what is sent, as .graphql files) and client.py (gql over HTTP and WebSocket)."""

from gateway.client.client import FlowgateClient, GatewayError, GatewayUnreachable, start_variables
from gateway.client.endpoint import EndpointError, GatewayEndpoint, endpoint

__all__ = [
    "EndpointError",
    "FlowgateClient",
    "GatewayEndpoint",
    "GatewayError",
    "GatewayUnreachable",
    "endpoint",
    "start_variables",
]
