"""Builds the gRPC server: servicer, error interceptor, health and reflection services."""

from __future__ import annotations

import logging
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from robustedge.service.artifacts import ArtifactStore
from robustedge.service.auth import AuthInterceptor, TokenRegistry
from robustedge.service.errors import ErrorInterceptor
from robustedge.service.jobs import ExecutorConfig, JobManager
from robustedge.service.servicer import EvaluationServicer
from robustedge.service.store import JobStore
from robustedge.v1 import evaluation_pb2 as pb
from robustedge.v1 import evaluation_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["EvaluationService"].full_name
CHUNK_BYTES = 1 << 20


@dataclass
class TlsConfig:
    """Server certificate and key (PEM); with ``client_ca`` clients must present a
    certificate signed by it (mutual TLS)."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    def credentials(self) -> grpc.ServerCredentials:
        client_ca = self.client_ca.read_bytes() if self.client_ca else None
        return grpc.ssl_server_credentials(
            [(self.key.read_bytes(), self.cert.read_bytes())],
            root_certificates=client_ca,
            require_client_auth=client_ca is not None,
        )


@dataclass
class ServerConfig:
    data_dir: Path
    listen: str = "127.0.0.1:50051"
    tokens: TokenRegistry = field(default_factory=lambda: TokenRegistry({}))
    tls: TlsConfig | None = None
    max_concurrent_jobs: int = 1
    max_attempts: int = 3
    max_upload_bytes: int = 2 << 30
    rpc_threads: int = 16
    executor: ExecutorConfig = field(init=False)

    def __post_init__(self) -> None:
        self.executor = ExecutorConfig(
            max_concurrent_jobs=self.max_concurrent_jobs, max_attempts=self.max_attempts
        )


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    jobs: JobManager
    store: JobStore
    health: health.HealthServicer

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self, grace: float = 2.0) -> None:
        """Reports NOT_SERVING, stops accepting RPCs, then stops the executor."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        self.jobs.stop()
        self.store.close()


def create_server(config: ServerConfig) -> RunningServer:
    """Creates and starts a server; ``listen`` may use port 0 to pick a free port (tests)."""
    data_dir = config.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(data_dir / "robustedge.sqlite")
    artifacts = ArtifactStore(data_dir / "artifacts")
    swept = artifacts.sweep_temp()
    if swept:
        log.info("removed %d unfinished upload(s) left by a previous run", swept)
    jobs = JobManager(store, artifacts, data_dir / "jobs", config.executor)

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.rpc_threads, thread_name_prefix="rpc"),
        # The first interceptor is the outermost: it also maps errors raised by auth.
        interceptors=[ErrorInterceptor(), AuthInterceptor(config.tokens)],
        options=[
            ("grpc.max_receive_message_length", 4 * CHUNK_BYTES),
            ("grpc.max_send_message_length", 64 * CHUNK_BYTES),
        ],
    )
    pb_grpc.add_EvaluationServiceServicer_to_server(
        EvaluationServicer(store, artifacts, jobs, config.max_upload_bytes), server
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME),
        server,
    )  # fmt: skip
    if config.tls is not None:
        port = server.add_secure_port(config.listen, config.tls.credentials())
    else:
        port = server.add_insecure_port(config.listen)
    if port == 0:
        raise OSError(f"cannot listen on {config.listen}")
    jobs.start()
    server.start()
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info(
        "RobustEdge listening on %s (data dir %s)",
        config.listen.rsplit(":", 1)[0] + f":{port}",
        data_dir,
    )
    return RunningServer(server, port, jobs, store, health_servicer)
