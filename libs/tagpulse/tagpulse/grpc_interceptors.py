"""The server interceptor every tagpulse service runs: tracing, metrics, authentication, error mapping."""

from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from google.api import annotations_pb2
from google.protobuf import any_pb2, empty_pb2
from google.protobuf.descriptor import FieldDescriptor, ServiceDescriptor
from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter, Histogram

from tagpulse.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from tagpulse.series_at_zero import create_at_zero

log = logging.getLogger("tagpulse.grpc")

Behavior = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
Around = Callable[[Behavior, Any, grpc.aio.ServicerContext], Awaitable[Any]]

_LABELS = ("grpc_type", "grpc_service", "grpc_method")
# The names and labels of go-grpc-prometheus / py-grpc-prometheus, so stock dashboards work.
SERVER_STARTED = Counter("grpc_server_started_total", "RPCs started on the server.", _LABELS)
SERVER_HANDLED = Counter(
    "grpc_server_handled_total", "RPCs completed on the server, by status code.", (*_LABELS, "grpc_code")
)
SERVER_HANDLING_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time the server took to handle an RPC.",
    _LABELS,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


def create_method_series(services: Iterable[ServiceDescriptor]) -> None:
    """Every unary method's series at zero, each status code included (as go-grpc-prometheus
    does), so the error-ratio alert sees a method's first server error after a start."""
    codes = [code.name for code in grpc.StatusCode]
    for service in services:
        for method in service.methods:
            if method.client_streaming or method.server_streaming:
                continue
            labels = {
                "grpc_type": ["unary"],
                "grpc_service": [service.full_name],
                "grpc_method": [method.name],
            }
            create_at_zero(SERVER_STARTED, **labels)
            create_at_zero(SERVER_HANDLING_SECONDS, **labels)
            create_at_zero(SERVER_HANDLED, **labels, grpc_code=codes)


def _split_method(full_method: str) -> tuple[str, str]:
    service, _, method = full_method.lstrip("/").partition("/")
    return service, method


def _handler_type(handler: grpc.RpcMethodHandler) -> str:
    if handler.request_streaming and handler.response_streaming:
        return "bidi_stream"
    if handler.request_streaming:
        return "client_stream"
    if handler.response_streaming:
        return "server_stream"
    return "unary"


@dataclass(frozen=True)
class Undecodable:
    """A request protobuf could not parse; it reaches the interceptors in place of the message,
    so that authentication runs first and the answer is INVALID_ARGUMENT, never INTERNAL."""

    violations: dict[str, str]


def _tolerant(deserialize: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except DecodeError:
            return Undecodable(_undecodable_fields(getattr(deserialize, "__self__", None), data))

    return parse


def _undecodable_fields(message_type: Any, data: bytes) -> dict[str, str]:
    """Name the text fields that are not UTF-8 (the usual cause: a percent-encoded byte in a
    REST query string); otherwise say the request as a whole could not be read."""
    holder = empty_pb2.Empty()
    try:
        holder.ParseFromString(data)  # every field lands among the unknown ones, unchecked
    except DecodeError:
        return {"request": "is not a valid protobuf message"}
    descriptor = getattr(message_type, "DESCRIPTOR", None)
    fields = descriptor.fields_by_number if descriptor is not None else {}
    found: dict[str, str] = {}
    unknown_fields = UnknownFieldSet(holder)
    for index in range(len(unknown_fields)):
        unknown = unknown_fields[index]
        field = fields.get(unknown.field_number)
        if field is None or field.type != FieldDescriptor.TYPE_STRING or not isinstance(unknown.data, bytes):
            continue
        try:
            unknown.data.decode("utf-8")
        except UnicodeDecodeError:
            found[field.name] = "is not valid UTF-8 text"
    return found or {"request": "could not be read (a text field is not valid UTF-8?)"}


def _wrap_unary(
    handler: grpc.RpcMethodHandler, around: Around, deserializer: Callable[[bytes], Any] | None = None
) -> grpc.RpcMethodHandler:
    inner = handler.unary_unary

    async def call(req: Any, ctx: grpc.aio.ServicerContext) -> Any:
        result = inner(req, ctx)
        return await result if inspect.isawaitable(result) else result

    async def behavior(request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await around(call, request, context)

    return grpc.unary_unary_rpc_method_handler(
        behavior,
        request_deserializer=deserializer or handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _code_of(context: grpc.aio.ServicerContext) -> grpc.StatusCode | None:
    code = context.code()
    if code is None or isinstance(code, grpc.StatusCode):
        return code
    for status in grpc.StatusCode:  # some grpc versions report the integer value
        if status.value[0] == code:
            return status
    return None


def mutating_methods(services: Iterable[ServiceDescriptor]) -> frozenset[str]:
    """Full method names whose REST mapping is POST, PUT, PATCH or DELETE.

    The contract is the one place that says which calls change data, so the token check
    follows it instead of a list kept by hand.
    """
    names = set()
    for service in services:
        for method in service.methods:
            rule = method.GetOptions().Extensions[annotations_pb2.http]
            if rule.WhichOneof("pattern") in ("post", "put", "patch", "delete"):
                names.add(f"/{service.full_name}/{method.name}")
    return frozenset(names)


class TokenCheck:
    """Mutating calls must carry `authorization: Bearer <API token>`; reads are open."""

    def __init__(self, protected_methods: frozenset[str], api_token: str | None) -> None:
        self.protected_methods = protected_methods
        self.api_token = api_token

    def problem(self, metadata: Iterable[tuple[str, str | bytes]]) -> str | None:
        """Why a mutating call's metadata does not authorize it; None when it does."""
        if not self.api_token:
            return "this call changes data and the server has no API token (TAGPULSE_API_TOKEN)"
        values = [value for key, value in metadata if key == "authorization"]
        if not values:
            return "this call changes data: send 'authorization: Bearer <API token>'"
        value = values[0] if isinstance(values[0], str) else values[0].decode("latin-1")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.api_token.encode()
        ):
            return "the API token is wrong"
        return None


class CallInterceptor(grpc.aio.ServerInterceptor):
    """What every call of a tagpulse service goes through, in this order: its server span
    (OpenTelemetry; the W3C trace context of the caller's metadata is its parent), the
    grpc_server_* metrics, the token check of mutating calls (before anything else is looked
    at, so a call without the token is 401 whatever else is wrong with it), and the domain's
    errors turned into status codes (anything unexpected into INTERNAL with a log line: the
    client never sees a stack trace).

    One interceptor whose wrapped handler is built once per method: four interceptors each
    rebuilding their wrapper at every call, OpenTelemetry's gRPC instrumentation among them,
    cost a third of a warm answer's CPU (BENCHMARKS.md, "warm answers")."""

    def __init__(self, tokens: TokenCheck) -> None:
        self.tokens = tokens
        self.tracer = trace.get_tracer("tagpulse.grpc")
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = details.method
        wrapped = self.handlers.get(method)
        if wrapped is None:
            handler = await continuation(details)
            if handler is None:
                return handler
            wrapped = self.handlers[method] = self._wrap(method, handler)
        if wrapped.unary_unary is None:
            # Streaming RPCs here are the library's (health Watch, reflection): count starts only.
            service, name = _split_method(method)
            SERVER_STARTED.labels(_handler_type(wrapped), service, name).inc()
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        if handler.unary_unary is None:
            return handler
        service, name = _split_method(method)
        labels = ("unary", service, name)
        started_total = SERVER_STARTED.labels(*labels)
        seconds = SERVER_HANDLING_SECONDS.labels(*labels)
        handled = {code: SERVER_HANDLED.labels(*labels, code.name) for code in grpc.StatusCode}
        protected = method in self.tokens.protected_methods
        span_attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}
        tracer, tokens = self.tracer, self.tokens

        async def around(call: Behavior, request: Any, context: grpc.aio.ServicerContext) -> Any:
            started_total.inc()
            started = time.perf_counter()
            code = grpc.StatusCode.UNKNOWN
            metadata = context.invocation_metadata() or ()
            parent = propagate.extract({key: value for key, value in metadata if isinstance(value, str)})
            with tracer.start_as_current_span(
                method, context=parent, kind=SpanKind.SERVER, attributes=span_attributes
            ) as span:
                try:
                    response = await _answer(call, request, context, method, protected, tokens, metadata)
                    code = _code_of(context) or grpc.StatusCode.OK
                    return response
                except asyncio.CancelledError:
                    code = grpc.StatusCode.CANCELLED
                    raise
                except BaseException:
                    code = _code_of(context) or grpc.StatusCode.UNKNOWN
                    raise
                finally:
                    span.set_attribute("rpc.grpc.status_code", code.value[0])
                    if code is not grpc.StatusCode.OK:
                        span.set_status(Status(StatusCode.ERROR, code.name))
                    handled[code].inc()
                    seconds.observe(time.perf_counter() - started)

        return _wrap_unary(handler, around, _tolerant(handler.request_deserializer))


async def _answer(
    call: Behavior,
    request: Any,
    context: grpc.aio.ServicerContext,
    method: str,
    protected: bool,
    tokens: TokenCheck,
    metadata: Iterable[tuple[str, str | bytes]],
) -> Any:
    """The call's answer, or its error as a status code."""
    if protected:
        problem = tokens.problem(metadata)
        if problem is not None:
            log.warning("request rejected", extra={"method": method, "reason": problem})
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, problem)
    try:
        if isinstance(request, Undecodable):
            raise InvalidArgument(request.violations)
        return await call(request, context)
    except InvalidArgument as error:
        await context.abort_with_status(invalid_argument_status(error))
    except NotFound as error:
        await context.abort(grpc.StatusCode.NOT_FOUND, str(error))
    except FailedPrecondition as error:
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
    except Unavailable as error:
        await context.abort(grpc.StatusCode.UNAVAILABLE, str(error))
    except NotImplementedError:
        # The generated base servicer raises it for RPCs of the contract not built yet.
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not built yet (see docs/api.md)")
    except (grpc.aio.AbortError, asyncio.CancelledError):
        raise
    except Exception:
        log.exception("unexpected error", extra={"method": method})
        await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the service log")


def invalid_argument_status(error: InvalidArgument) -> grpc.Status:
    """INVALID_ARGUMENT with a google.rpc.BadRequest listing each bad field."""
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
            for field, description in error.violations.items()
        ]
    )
    detail = any_pb2.Any()
    detail.Pack(bad_request)
    return rpc_status.to_status(
        status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=str(error), details=[detail])
    )
