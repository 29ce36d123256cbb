"""The client's exception tree, mapped from gRPC status codes in one place.

RobustEdgeError
├── SpecError                 a spec file or option is invalid (checked on the client)
├── ServiceError              the server answered with an error status
│   ├── InvalidArgumentError      INVALID_ARGUMENT (bad upload, spec or gate)
│   ├── NotFoundError             NOT_FOUND (unknown model, dataset or job)
│   ├── FailedPreconditionError   FAILED_PRECONDITION (e.g. report of a running job)
│   ├── ResourceExhaustedError    RESOURCE_EXHAUSTED (limits, full disk)
│   ├── AuthenticationError       UNAUTHENTICATED / PERMISSION_DENIED
│   ├── UnavailableError          UNAVAILABLE / DEADLINE_EXCEEDED (server down or slow)
│   └── ServerError               INTERNAL, UNKNOWN, DATA_LOSS and anything else
└── JobFailedError            a job finished FAILED or CANCELLED
"""

from __future__ import annotations

import grpc


class RobustEdgeError(Exception):
    """Base class of every error the SDK raises."""


class SpecError(RobustEdgeError):
    """A spec file, preset option or gate is invalid; raised before contacting the server."""


class ServiceError(RobustEdgeError):
    """The server answered with an error status."""

    def __init__(self, message: str, code: grpc.StatusCode) -> None:
        super().__init__(message)
        self.code = code


class InvalidArgumentError(ServiceError):
    pass


class NotFoundError(ServiceError):
    pass


class FailedPreconditionError(ServiceError):
    pass


class ResourceExhaustedError(ServiceError):
    pass


class AuthenticationError(ServiceError):
    pass


class UnavailableError(ServiceError):
    pass


class ServerError(ServiceError):
    pass


class JobFailedError(RobustEdgeError):
    """A job ended FAILED or CANCELLED; ``job`` holds its final state and reason."""

    def __init__(self, message: str, job: object) -> None:
        super().__init__(message)
        self.job = job


_BY_CODE: dict[grpc.StatusCode, type[ServiceError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: AuthenticationError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: UnavailableError,
}


def from_rpc_error(error: grpc.RpcError) -> ServiceError:
    """Turns a grpc.RpcError into the matching ServiceError subclass."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    cls = _BY_CODE.get(code, ServerError)
    return cls(f"{code.name}: {details}", code)
