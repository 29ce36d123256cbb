"""Service exceptions and the one interceptor that turns them into gRPC status codes.

Servicer methods raise :class:`ServiceError` subclasses with a message that is safe
to show a client. The interceptor maps them to status codes; anything else is an
unexpected fault: it is logged in full on the server and the client gets INTERNAL
with a generic message and an incident id, never a traceback or a server path.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """An error whose message is safe to return to the client."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL


class InvalidArgument(ServiceError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(ServiceError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class DataLoss(ServiceError):
    code = grpc.StatusCode.DATA_LOSS


class Unavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE


def _abort_for(exc: BaseException, context: grpc.ServicerContext, method: str) -> None:
    if isinstance(exc, ServiceError):
        log.info("%s -> %s: %s", method, exc.code.name, exc)
        context.abort(exc.code, str(exc))
    incident = uuid.uuid4().hex[:12]
    log.exception("%s failed unexpectedly (incident %s)", method, incident)
    context.abort(grpc.StatusCode.INTERNAL, f"internal error (incident {incident}); see server log")


class ErrorInterceptor(grpc.ServerInterceptor):
    """Maps exceptions raised by any handler to status codes, in one place."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler.unary_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                _wrap_unary(handler.stream_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                _wrap_stream(handler.stream_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


def _wrap_unary(behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
    def wrapper(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return behavior(request, context)
        except Exception as exc:
            _abort_for(exc, context, method)

    return wrapper


def _wrap_stream(behavior: Callable[..., Iterator[Any]], method: str) -> Callable[..., Any]:
    def wrapper(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from behavior(request, context)
        except Exception as exc:
            _abort_for(exc, context, method)

    return wrapper
