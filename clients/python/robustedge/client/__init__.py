"""RobustEdge client SDK: upload a model and an evaluation set, get a robustness report.

    from robustedge.client import Client

    with Client("127.0.0.1:50051") as client:
        response = client.evaluate("model.onnx", "data.npz", preset="quick")
        rows = [(a.attack, a.epsilon, a.robust_accuracy) for a in response.report.attacks]

``AsyncClient`` is the asyncio twin; ``robustedge.client.testing.FakeServer`` is an
in-process fake server to test your own pipelines against. The public names are
re-exported here; the modules behind them are private.
"""

from robustedge.client._aio import AsyncClient
from robustedge.client._client import Client
from robustedge.client._errors import (
    AuthenticationError,
    FailedPreconditionError,
    InvalidArgumentError,
    JobFailedError,
    NotFoundError,
    ResourceExhaustedError,
    RobustEdgeError,
    ServerError,
    ServiceError,
    SpecError,
    UnavailableError,
)
from robustedge.client._requests import state_name
from robustedge.client._spec import load_spec_file, parse_number, spec_from_dict
from robustedge.v1 import evaluation_pb2 as messages

__all__ = [
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "FailedPreconditionError",
    "InvalidArgumentError",
    "JobFailedError",
    "NotFoundError",
    "ResourceExhaustedError",
    "RobustEdgeError",
    "ServerError",
    "ServiceError",
    "SpecError",
    "UnavailableError",
    "load_spec_file",
    "messages",
    "parse_number",
    "spec_from_dict",
    "state_name",
]
