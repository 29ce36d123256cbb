"""Container health check: the standard ``grpc.health.v1.Health/Check`` (exit 0 = SERVING).

Reads the address from ``ROBUSTEDGE_LISTEN`` (a wildcard host is checked on loopback)
unless ``ROBUSTEDGE_HEALTHCHECK_ADDRESS`` is set. With ``ROBUSTEDGE_TLS_CERT`` set the
check speaks TLS, trusting ``ROBUSTEDGE_HEALTHCHECK_CA`` (default: the server's own
certificate, right for a self-signed one) and expecting the certificate to name
``ROBUSTEDGE_HEALTHCHECK_SERVER_NAME`` (default ``localhost``). A server requiring
client certificates (mTLS) needs ``ROBUSTEDGE_HEALTHCHECK_ADDRESS`` pointed at a
plain-text sidecar port or the health check disabled. Health needs no token.
Usable from the host too: ``ROBUSTEDGE_LISTEN=127.0.0.1:50051 python containers/healthcheck.py``.
"""

from __future__ import annotations

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def address() -> str:
    explicit = os.environ.get("ROBUSTEDGE_HEALTHCHECK_ADDRESS")
    if explicit:
        return explicit
    host, _, port = os.environ.get("ROBUSTEDGE_LISTEN", "0.0.0.0:50051").rpartition(":")
    if host in ("", "0.0.0.0", "[::]", "::"):
        host = "127.0.0.1"
    return f"{host}:{port}"


def channel(target: str) -> grpc.Channel:
    cert = os.environ.get("ROBUSTEDGE_TLS_CERT")
    if not cert:
        return grpc.insecure_channel(target)
    with open(os.environ.get("ROBUSTEDGE_HEALTHCHECK_CA", cert), "rb") as f:
        roots = f.read()
    name = os.environ.get("ROBUSTEDGE_HEALTHCHECK_SERVER_NAME", "localhost")
    options = [("grpc.ssl_target_name_override", name)]
    return grpc.secure_channel(target, grpc.ssl_channel_credentials(roots), options)


def main() -> int:
    target = address()
    service = sys.argv[1] if len(sys.argv) > 1 else ""
    timeout = float(os.environ.get("ROBUSTEDGE_HEALTHCHECK_TIMEOUT", "5"))
    try:
        with channel(target) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    except grpc.RpcError as error:
        sys.stderr.write(f"{target}: {error.code().name}: {error.details()}\n")
        return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    sys.stdout.write(f"{target}: {status}\n")
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main())
