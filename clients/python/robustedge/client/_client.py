"""The synchronous SDK client.

    from robustedge.client import Client

    with Client("127.0.0.1:50051") as client:
        report = client.evaluate("model.onnx", "data.npz", preset="quick")
        print(report.variants[0].clean_accuracy)

Every RPC error is raised as a :mod:`robustedge.client` exception (see ``_errors``).
A ``channel`` can be injected (tests, custom TLS or interceptors).
"""

from __future__ import annotations

import hashlib
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import grpc

from robustedge.client._errors import (
    JobFailedError,
    RobustEdgeError,
    SpecError,
    from_rpc_error,
)
from robustedge.client._spec import load_spec_file, spec_from_dict
from robustedge.v1 import evaluation_pb2 as pb
from robustedge.v1 import evaluation_pb2_grpc as pb_grpc

DEFAULT_ADDRESS = "127.0.0.1:50051"
ADDRESS_ENV = "ROBUSTEDGE_SERVER"
TOKEN_ENV = "ROBUSTEDGE_TOKEN"
CHUNK_BYTES = 1 << 20
TERMINAL = (pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED)

T = TypeVar("T")
# Status codes worth another try: a server at its limits or restarting.
_RETRYABLE = (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE)
JobRef: TypeAlias = pb.Job | str
ArtifactRef: TypeAlias = pb.Artifact | str
SpecLike: TypeAlias = pb.EvaluationSpec | dict[str, Any] | str | os.PathLike[str] | None


def _job_id(job: JobRef) -> str:
    return job.id if isinstance(job, pb.Job) else job


def _artifact_id(artifact: ArtifactRef) -> str:
    return artifact.id if isinstance(artifact, pb.Artifact) else artifact


def state_name(state: int) -> str:
    """``JOB_STATE_SUCCEEDED`` -> ``succeeded``."""
    return pb.JobState.Name(state).removeprefix("JOB_STATE_").lower()


class Client:
    """A connection to a RobustEdge server.

    ``address`` defaults to ``$ROBUSTEDGE_SERVER`` or 127.0.0.1:50051, ``token`` to
    ``$ROBUSTEDGE_TOKEN``; the token is sent as a bearer token on every call.
    ``timeout`` bounds each unary call in seconds (streams are not bounded);
    ``retries`` is how often a busy (RESOURCE_EXHAUSTED) or unreachable
    (UNAVAILABLE) server is retried, with exponential backoff.
    """

    def __init__(
        self,
        address: str | None = None,
        token: str | None = None,
        *,
        channel: grpc.Channel | None = None,
        timeout: float = 60.0,
        retries: int = 5,
    ) -> None:
        self.address = address or os.environ.get(ADDRESS_ENV) or DEFAULT_ADDRESS
        token = token if token is not None else os.environ.get(TOKEN_ENV)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._owns_channel = channel is None
        self._channel = channel or grpc.insecure_channel(
            self.address, options=[("grpc.max_receive_message_length", 64 * CHUNK_BYTES)]
        )
        self._stub = pb_grpc.EvaluationServiceStub(self._channel)
        self.timeout = timeout
        self.retries = retries

    def close(self) -> None:
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: Callable[..., T], request: Any, **kwargs: Any) -> T:
        """Calls an RPC; a busy or briefly unreachable server is retried with backoff.

        Every RPC of the service is safe to repeat (uploads are content-addressed,
        submissions carry a request id), so RESOURCE_EXHAUSTED (a server at its caps)
        and UNAVAILABLE are retried ``self.retries`` times. ``request`` may be a
        zero-argument callable producing the request (a fresh upload stream per try).
        """
        for attempt in range(self.retries + 1):
            try:
                payload = request() if callable(request) else request
                return method(payload, metadata=self._metadata, **kwargs)
            except grpc.RpcError as error:
                if attempt == self.retries or error.code() not in _RETRYABLE:
                    raise from_rpc_error(error) from None
                time.sleep(min(0.25 * 2**attempt, 5.0) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    # -- uploads --------------------------------------------------------------------

    def upload_model(self, path: str | os.PathLike[str]) -> pb.Artifact:
        """Uploads an ONNX model; the server validates it. Returns the stored artifact."""
        return self._upload(self._stub.UploadModel, Path(path))

    def upload_dataset(self, path: str | os.PathLike[str]) -> pb.Artifact:
        """Uploads an evaluation set (.npz with x, y, optional input_range)."""
        return self._upload(self._stub.UploadDataset, Path(path))

    def _upload(self, method: Callable[..., pb.Artifact], path: Path) -> pb.Artifact:
        try:
            size = path.stat().st_size
            digest = hashlib.sha256()
            with open(path, "rb") as source:
                for block in iter(lambda: source.read(CHUNK_BYTES), b""):
                    digest.update(block)
        except OSError as exc:
            raise RobustEdgeError(f"cannot read {path}: {exc.strerror}") from exc

        def chunks() -> Iterator[pb.UploadChunk]:
            header = pb.UploadHeader(filename=path.name, size_bytes=size, sha256=digest.hexdigest())
            yield pb.UploadChunk(header=header)
            with open(path, "rb") as source:
                for block in iter(lambda: source.read(CHUNK_BYTES), b""):
                    yield pb.UploadChunk(data=block)

        return self._call(method, chunks, timeout=max(self.timeout, size / 5e6))

    # -- jobs -----------------------------------------------------------------------

    def submit(
        self,
        model: ArtifactRef,
        dataset: ArtifactRef,
        *,
        preset: str | None = None,
        spec: SpecLike = None,
        gates: Sequence[str] = (),
        request_id: str | None = None,
    ) -> pb.Job:
        """Submits an evaluation. ``spec`` may be a proto, a dict or a YAML/JSON file path.

        A preset named in a spec file is used unless ``preset`` is given. ``request_id``
        makes the call idempotent (one is generated when omitted).
        """
        spec_preset, message = _resolve_spec(spec)
        message.gates.extend(gates)
        request = pb.SubmitEvaluationRequest(
            model_id=_artifact_id(model),
            dataset_id=_artifact_id(dataset),
            preset=preset or spec_preset,
            spec=message,
            request_id=request_id or uuid.uuid4().hex,
        )
        return self._call(self._stub.SubmitEvaluation, request, timeout=self.timeout)

    def job(self, job: JobRef) -> pb.Job:
        return self._call(
            self._stub.GetJob, pb.GetJobRequest(job_id=_job_id(job)), timeout=self.timeout
        )

    def jobs(self, limit: int = 50) -> list[pb.Job]:
        response = self._call(
            self._stub.ListJobs, pb.ListJobsRequest(limit=limit), timeout=self.timeout
        )
        return list(response.jobs)

    def cancel(self, job: JobRef) -> pb.Job:
        return self._call(
            self._stub.CancelJob, pb.CancelJobRequest(job_id=_job_id(job)), timeout=self.timeout
        )

    def watch(self, job: JobRef) -> Iterator[pb.ProgressEvent]:
        """Yields progress events until the job finishes (the first is the current state)."""
        stream = self._call(self._stub.WatchJob, pb.WatchJobRequest(job_id=_job_id(job)))
        try:
            yield from stream
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    def wait(self, job: JobRef) -> pb.Job:
        """Blocks until the job finishes; returns its final state."""
        for _ in self.watch(job):
            pass
        final = self.job(job)
        while final.state not in TERMINAL:  # a watch stream cut short by the server
            for _ in self.watch(job):
                pass
            final = self.job(job)
        return final

    def report(self, job: JobRef, *, html: bool = False) -> pb.GetReportResponse:
        """Waits for the job, then returns its report (and the HTML page when asked)."""
        self.wait(job)
        request = pb.GetReportRequest(job_id=_job_id(job))
        if html:
            request.formats.append(pb.REPORT_FORMAT_HTML)
        return self._call(self._stub.GetReport, request, timeout=max(self.timeout, 120.0))

    def download(self, job: JobRef, name: str, path: str | os.PathLike[str]) -> Path:
        """Downloads a file the job kept (``report.files``) to ``path``; verifies its sha256."""
        listed = {f.name: f for f in self.report(job).report.files}
        if name not in listed:
            raise RobustEdgeError(f"job {_job_id(job)} kept no file {name!r}")
        request = pb.DownloadJobFileRequest(job_id=_job_id(job), name=name)
        target = Path(path)
        digest = hashlib.sha256()
        stream = self._call(self._stub.DownloadJobFile, request)
        try:
            with open(target, "wb") as out:
                for chunk in stream:
                    digest.update(chunk.data)
                    out.write(chunk.data)
        except grpc.RpcError as error:
            target.unlink(missing_ok=True)
            raise from_rpc_error(error) from None
        if digest.hexdigest() != listed[name].sha256:
            target.unlink(missing_ok=True)
            raise RobustEdgeError(f"download of {name!r} was corrupted in transit; try again")
        return target

    def capabilities(self) -> pb.Capabilities:
        return self._call(
            self._stub.GetCapabilities, pb.GetCapabilitiesRequest(), timeout=self.timeout
        )

    def evaluate(
        self,
        model_path: str | os.PathLike[str],
        dataset_path: str | os.PathLike[str],
        *,
        preset: str | None = None,
        spec: SpecLike = None,
        gates: Sequence[str] = (),
        progress: bool = True,
        html: bool = False,
    ) -> pb.GetReportResponse:
        """Uploads, submits, shows a progress bar while it runs, and returns the report.

        Raises :class:`JobFailedError` when the job fails or is cancelled.
        """
        model = self.upload_model(model_path)
        dataset = self.upload_dataset(dataset_path)
        job = self.submit(model, dataset, preset=preset, spec=spec, gates=gates)
        if progress:
            _show_progress(self.watch(job))
        final = self.wait(job)
        if final.state != pb.JOB_STATE_SUCCEEDED:
            raise JobFailedError(f"job {final.id} {state_name(final.state)}: {final.error}", final)
        return self.report(final, html=html)


def _resolve_spec(spec: SpecLike) -> tuple[str, pb.EvaluationSpec]:
    if spec is None:
        return "", pb.EvaluationSpec()
    if isinstance(spec, pb.EvaluationSpec):
        copy = pb.EvaluationSpec()
        copy.CopyFrom(spec)
        return "", copy
    if isinstance(spec, dict):
        return spec_from_dict(spec)
    if isinstance(spec, str | os.PathLike):
        return load_spec_file(spec)
    raise SpecError(f"spec must be a proto, a dict or a file path, not {type(spec).__name__}")


def _show_progress(events: Iterator[pb.ProgressEvent]) -> None:
    from tqdm import tqdm

    with tqdm(total=100, unit="%", bar_format="{l_bar}{bar}| {elapsed} {postfix}") as bar:
        for event in events:
            bar.n = round(100 * event.fraction, 1)
            bar.set_description(event.stage[:40] or state_name(event.state))
            bar.set_postfix_str(event.message[:40], refresh=False)
            bar.refresh()
