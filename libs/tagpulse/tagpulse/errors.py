"""Errors that domain code raises and the gRPC layer turns into status codes.

Domain code knows nothing of gRPC: it raises these, and `grpc_interceptors.CallInterceptor`
maps them (INVALID_ARGUMENT carries `google.rpc.BadRequest` field violations, which Envoy
returns as an HTTP 400 JSON body).
"""

from __future__ import annotations

from tagpulse.text import bounded

# Bounds on what an error can carry back to the client: a description never grows with the
# input it describes (see tagpulse.text.quoted), and these caps hold even where one slips.
MAX_FIELD_NAME = 100
MAX_DESCRIPTION = 500


class InvalidArgument(ValueError):
    """One or more request fields are wrong; `violations` maps field name → description."""

    def __init__(self, violations: dict[str, str]) -> None:
        self.violations = {
            bounded(field, MAX_FIELD_NAME): bounded(description or "is not valid", MAX_DESCRIPTION)
            for field, description in violations.items()
        }
        super().__init__(
            "; ".join(f"{field}: {description}" for field, description in self.violations.items())
        )


class NotFound(LookupError):
    """The resource the request names does not exist."""


class FailedPrecondition(RuntimeError):
    """The request is valid, but the system is not in a state to do it."""


class Unavailable(RuntimeError):
    """A dependency the request needs is down; the caller may retry."""
