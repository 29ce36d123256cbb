"""The synchronous SDK client.

    from robustedge.client import Client

    with Client("127.0.0.1:50051") as client:
        report = client.evaluate("model.onnx", "data.npz", preset="quick").report
        clean_accuracy = report.variants[0].clean_accuracy

Every RPC error is raised as a :mod:`robustedge.client` exception (see ``_errors``).
A ``channel`` can be injected (tests, custom TLS or interceptors). The asyncio
twin is :class:`robustedge.client.AsyncClient`.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import grpc

from robustedge.client import _requests as requests
from robustedge.client._errors import JobFailedError, RobustEdgeError, from_rpc_error
from robustedge.client._requests import ArtifactRef, JobRef, SpecLike, state_name
from robustedge.v1 import evaluation_pb2 as pb
from robustedge.v1 import evaluation_pb2_grpc as pb_grpc

T = TypeVar("T")

__all__ = ["Client", "state_name"]


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
        self.address, self._metadata = requests.address_and_metadata(address, token)
        self._owns_channel = channel is None
        self._channel = channel or grpc.insecure_channel(
            self.address, options=requests.CHANNEL_OPTIONS
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
        """Calls an RPC, retrying a busy or briefly unreachable server with backoff.

        ``request`` may be a zero-argument callable producing the request (a fresh
        upload stream per try).
        """
        for attempt in range(self.retries + 1):
            try:
                payload = request() if callable(request) else request
                return method(payload, metadata=self._metadata, **kwargs)
            except grpc.RpcError as error:
                if attempt == self.retries or error.code() not in requests.RETRYABLE:
                    raise from_rpc_error(error) from None
                time.sleep(requests.backoff_seconds(attempt))
        raise AssertionError("unreachable")

    def _unary(self, method: Callable[..., T], request: Any) -> T:
        return self._call(method, request, timeout=self.timeout)

    # -- uploads --------------------------------------------------------------------

    def upload_model(self, path: str | os.PathLike[str]) -> pb.Artifact:
        """Uploads an ONNX model; the server validates it. Returns the stored artifact."""
        return self._upload(self._stub.UploadModel, path)

    def upload_dataset(self, path: str | os.PathLike[str]) -> pb.Artifact:
        """Uploads an evaluation set (.npz with x, y, optional input_range)."""
        return self._upload(self._stub.UploadDataset, path)

    def _upload(
        self, method: Callable[..., pb.Artifact], path: str | os.PathLike[str]
    ) -> pb.Artifact:
        plan = requests.UploadPlan.of(path)
        return self._call(method, plan.chunks, timeout=plan.timeout(self.timeout))

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
        request = requests.submit_request(
            model, dataset, preset=preset, spec=spec, gates=gates, request_id=request_id
        )
        return self._unary(self._stub.SubmitEvaluation, request)

    def job(self, job: JobRef) -> pb.Job:
        return self._unary(self._stub.GetJob, pb.GetJobRequest(job_id=requests.job_id(job)))

    def jobs(self, limit: int = 50) -> list[pb.Job]:
        return list(self._unary(self._stub.ListJobs, pb.ListJobsRequest(limit=limit)).jobs)

    def cancel(self, job: JobRef) -> pb.Job:
        return self._unary(self._stub.CancelJob, pb.CancelJobRequest(job_id=requests.job_id(job)))

    def watch(self, job: JobRef) -> Iterator[pb.ProgressEvent]:
        """Yields progress events until the job finishes (the first is the current state)."""
        request = pb.WatchJobRequest(job_id=requests.job_id(job))
        stream = self._call(self._stub.WatchJob, request)
        try:
            yield from stream
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    def wait(self, job: JobRef) -> pb.Job:
        """Blocks until the job finishes; returns its final state."""
        final = self.job(job)
        while final.state not in requests.TERMINAL:  # also when a stream was cut short
            for _ in self.watch(job):
                pass
            final = self.job(job)
        return final

    def report(self, job: JobRef, *, html: bool = False) -> pb.GetReportResponse:
        """Waits for the job, then returns its report (and the HTML page when asked)."""
        self.wait(job)
        return self._call(
            self._stub.GetReport,
            requests.report_request(job, html),
            timeout=max(self.timeout, 120.0),
        )

    def download(self, job: JobRef, name: str, path: str | os.PathLike[str]) -> Path:
        """Downloads a file the job kept (``report.files``) to ``path``; verifies its sha256."""
        expected = requests.kept_file(self.report(job).report, name)
        request = pb.DownloadJobFileRequest(job_id=requests.job_id(job), name=name)
        target = Path(path)
        digest = hashlib.sha256()
        try:
            with open(target, "wb") as out:
                for chunk in self._call(self._stub.DownloadJobFile, request):
                    digest.update(chunk.data)
                    out.write(chunk.data)
        except grpc.RpcError as error:
            target.unlink(missing_ok=True)
            raise from_rpc_error(error) from None
        if digest.hexdigest() != expected.sha256:
            target.unlink(missing_ok=True)
            raise RobustEdgeError(f"download of {name!r} was corrupted in transit; try again")
        return target

    def capabilities(self) -> pb.Capabilities:
        return self._unary(self._stub.GetCapabilities, pb.GetCapabilitiesRequest())

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


def _show_progress(events: Iterator[pb.ProgressEvent]) -> None:
    from tqdm import tqdm

    with tqdm(total=100, unit="%", bar_format="{l_bar}{bar}| {elapsed} {postfix}") as bar:
        for event in events:
            bar.n = round(100 * event.fraction, 1)
            bar.set_description(event.stage[:40] or state_name(event.state))
            bar.set_postfix_str(event.message[:40], refresh=False)
            bar.refresh()
