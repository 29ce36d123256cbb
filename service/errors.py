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


class Unauthenticated(ServiceError):
    code = grpc.StatusCode.UNAUTHENTICATED


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


def wrap_handler(
    handler: grpc.RpcMethodHandler,
    around: Callable[[Callable[..., Any], Any, grpc.ServicerContext], Any],
) -> grpc.RpcMethodHandler:
    """Returns a copy of ``handler`` whose behaviour runs inside ``around``.

    ``around(behavior, request, context)`` must return what ``behavior`` returns; for
    streaming responses it is called when the stream starts and must return the iterator.
    """
    for kind, factory in (
        ("unary_unary", grpc.unary_unary_rpc_method_handler),
        ("unary_stream", grpc.unary_stream_rpc_method_handler),
        ("stream_unary", grpc.stream_unary_rpc_method_handler),
        ("stream_stream", grpc.stream_stream_rpc_method_handler),
    ):
        behavior = getattr(handler, kind)
        if behavior is None:
            continue
        streaming = kind.endswith("_stream")

        def wrapped(request: Any, context: grpc.ServicerContext, b: Any = behavior) -> Any:
            return around(b, request, context)

        def wrapped_stream(
            request: Any, context: grpc.ServicerContext, b: Any = behavior
        ) -> Iterator[Any]:
            yield from around(b, request, context)

        return factory(
            wrapped_stream if streaming else wrapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return handler


class ErrorInterceptor(grpc.ServerInterceptor):
    """Maps exceptions raised by any handler (or inner interceptor) to status codes."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        streaming = handler.response_streaming

        def around(
            behavior: Callable[..., Any], request: Any, context: grpc.ServicerContext
        ) -> Any:
            if streaming:
                return _guard_stream(behavior, request, context, method)
            try:
                return behavior(request, context)
            except Exception as exc:  # this is the one place that maps them
                _abort_for(exc, context, method)

        return wrap_handler(handler, around)


def _guard_stream(
    behavior: Callable[..., Iterator[Any]], request: Any, context: grpc.ServicerContext, method: str
) -> Iterator[Any]:
    try:
        yield from behavior(request, context)
    except Exception as exc:  # this is the one place that maps them
        _abort_for(exc, context, method)
