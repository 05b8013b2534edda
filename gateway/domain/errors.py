"""Errors the domain raises. Each carries a stable code (the GraphQL `extensions.code`) and a
sentence a person can act on."""

from __future__ import annotations


class FlowgateError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(FlowgateError):
    code = "INVALID_ARGUMENT"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnsupportedNetwork(FlowgateError):
    code = "UNSUPPORTED_NETWORK"


class Unauthenticated(FlowgateError):
    code = "UNAUTHENTICATED"


class Forbidden(FlowgateError):
    code = "FORBIDDEN"


class Conflict(FlowgateError):
    code = "CONFLICT"


class Unavailable(FlowgateError):
    code = "UNAVAILABLE"


class ManagedByOperator(Conflict):
    """Flow export belongs to OpenShift's Cluster Network Operator on this cluster (CONFLICT)."""
