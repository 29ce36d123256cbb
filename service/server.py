"""Builds the gRPC server: servicer, error interceptor, health and reflection services.

Limits come from :mod:`robustedge.service.limits`: message size, concurrent RPCs
(gRPC itself answers RESOURCE_EXHAUSTED past ``max_concurrent_rpcs``; the thread pool
is as large, so a long-lived stream never queues another call behind it), and the
upload and validation caps enforced by the servicer. :meth:`RunningServer.stop`
drains: health turns NOT_SERVING at once, new calls are refused, in-flight calls
get ``drain_seconds`` to finish, watchers are told to come back, then the executor
stops (running jobs stay resumable: every finished unit is already recorded).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from robustedge.service.artifacts import ArtifactStore
from robustedge.service.auth import AuthInterceptor, TokenRegistry
from robustedge.service.errors import ErrorInterceptor
from robustedge.service.executor import ExecutorConfig
from robustedge.service.jobs import JobManager
from robustedge.service.limits import TransportLimits, ValidationLimits
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
    executor_backend: str = "local"
    ray_address: str = ""
    # s3://BUCKET/PREFIX: job files travel through an S3-compatible store (Ray only).
    artifact_store: str = ""
    # Local executor: a spare worker waits with its imports done (~1 s less per job).
    prestart_worker: bool = True
    # Address-space cap of each worker process (0: none).
    worker_memory_bytes: int = 12 << 30
    # A unit that reports nothing (results or progress) for this long is failed as hung.
    unit_idle_seconds: float = 1800
    limits: TransportLimits = field(default_factory=TransportLimits)
    validation: ValidationLimits = field(default_factory=ValidationLimits)
    executor: ExecutorConfig = field(init=False)

    def __post_init__(self) -> None:
        self.executor = ExecutorConfig(
            max_concurrent_jobs=self.max_concurrent_jobs,
            max_attempts=self.max_attempts,
            backend=self.executor_backend,
            ray_address=self.ray_address,
            artifact_store=self.artifact_store,
            prestart_worker=self.prestart_worker,
            worker_memory_bytes=self.worker_memory_bytes,
            unit_idle_seconds=self.unit_idle_seconds,
        )


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    jobs: JobManager
    store: JobStore
    health: health.HealthServicer
    servicer: EvaluationServicer
    drain_seconds: float = 10.0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self, grace: float | None = None) -> float:
        """Drains and stops; returns the seconds it took (at most grace + a few).

        Health reports NOT_SERVING first so that load balancers stop sending calls;
        unary calls and uploads in flight get ``grace`` seconds to finish, watch streams
        end at once with UNAVAILABLE (they would otherwise last as long as their job).
        """
        started = time.monotonic()
        grace = self.drain_seconds if grace is None else grace
        self.health.enter_graceful_shutdown()
        self.servicer.draining.set()
        self.server.stop(grace).wait()
        self.jobs.stop()
        self.store.close()
        seconds = time.monotonic() - started
        log.info("stopped in %.1f s", seconds)
        return seconds


def create_server(config: ServerConfig) -> RunningServer:
    """Creates and starts a server; ``listen`` may use port 0 to pick a free port (tests)."""
    data_dir = config.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(data_dir / "robustedge.sqlite")
    limits = config.limits
    artifacts = ArtifactStore(data_dir / "artifacts", min_free_bytes=limits.min_free_disk_bytes)
    swept = artifacts.sweep_temp()
    if swept:
        log.info("removed %d unfinished upload(s) left by a previous run", swept)
    _fail_jobs_with_missing_inputs(store, artifacts)
    jobs = JobManager(store, artifacts, data_dir / "jobs", config.executor)

    server = grpc.server(
        futures.ThreadPoolExecutor(
            max_workers=limits.max_concurrent_rpcs, thread_name_prefix="rpc"
        ),
        # The first interceptor is the outermost: it also maps errors raised by auth.
        interceptors=[ErrorInterceptor(), AuthInterceptor(config.tokens)],
        options=[
            ("grpc.max_receive_message_length", limits.max_message_bytes),
            ("grpc.max_send_message_length", 64 * CHUNK_BYTES),
        ],
        maximum_concurrent_rpcs=limits.max_concurrent_rpcs,
    )
    servicer = EvaluationServicer(store, artifacts, jobs, limits, config.validation)
    pb_grpc.add_EvaluationServiceServicer_to_server(servicer, server)
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
    # Imports torch, the attack and compressor registries and probes the runtimes in
    # the background, so the first SubmitEvaluation does not pay for it (~1-2 s).
    threading.Thread(target=_warm_up, name="warm-up", daemon=True).start()
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info(
        "RobustEdge listening on %s (data dir %s)",
        config.listen.rsplit(":", 1)[0] + f":{port}",
        data_dir,
    )
    return RunningServer(server, port, jobs, store, health_servicer, servicer, limits.drain_seconds)


def _fail_jobs_with_missing_inputs(store: JobStore, artifacts: ArtifactStore) -> None:
    """Fails unfinished jobs whose uploaded files are gone, instead of retrying them.

    A data dir restored without its artifacts (or a file removed by hand) would
    otherwise make such jobs fail in the worker on every attempt.
    """
    for job_id in store.jobs_in_states((pb.JOB_STATE_QUEUED, pb.JOB_STATE_RUNNING)):
        job = store.get_job(job_id)
        if job is None:
            continue
        missing = [i for i in (job.model_id, job.dataset_id) if not artifacts.exists(i)]
        if missing:
            log.error("job %s: uploaded file(s) %s missing; failing it", job_id, missing)
            store.finish_job(
                job_id,
                pb.JOB_STATE_FAILED,
                "an uploaded file of this job is missing on the server; upload and submit again",
            )


def _warm_up() -> None:
    try:
        from robustedge.service.capabilities import capabilities

        capabilities()
    except Exception:  # warming up is an optimisation; the first request will retry
        log.exception("warm-up failed")
