"""An in-process fake RobustEdge server for testing your own pipelines.

It speaks the real protocol on a free loopback port but evaluates nothing: every
job finishes at once with the report you give it, with your gates evaluated
against that report by the same gate language the real server uses. Use it to
test CI glue — exit codes, gate expressions, report files — without a model,
torch or a running service:

    from robustedge.client import Client, messages as pb
    from robustedge.client.testing import FakeServer

    report = pb.Report(variants=[pb.VariantResult(name="base", ok=True, clean_accuracy=0.97)])
    with FakeServer(report=report) as fake, Client(fake.address) as client:
        response = client.evaluate("model.onnx", "data.npz", progress=False,
                                   gates=["clean_accuracy[variant=base] >= 0.9"])
        assert response.report.gates[0].passed

Uploads are checked like the real server checks the transport (header first, size
and sha256); their content is not validated. ``job_state`` and ``error`` make
every job end another way (e.g. ``pb.JOB_STATE_FAILED``).
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc

from robustedge.client.gates import evaluate_gates
from robustedge.v1 import evaluation_pb2 as pb
from robustedge.v1 import evaluation_pb2_grpc as pb_grpc

__all__ = ["FakeServer"]


class _FakeServicer(pb_grpc.EvaluationServiceServicer):
    def __init__(self, fake: FakeServer) -> None:
        self.fake = fake

    def UploadModel(self, request_iterator: Iterator[pb.UploadChunk], context: Any) -> pb.Artifact:
        return self._upload(request_iterator, context, pb.ARTIFACT_KIND_MODEL)

    def UploadDataset(
        self, request_iterator: Iterator[pb.UploadChunk], context: Any
    ) -> pb.Artifact:
        return self._upload(request_iterator, context, pb.ARTIFACT_KIND_DATASET)

    def _upload(self, chunks: Iterator[pb.UploadChunk], context: Any, kind: int) -> pb.Artifact:
        first = next(chunks, None)
        if first is None or first.WhichOneof("payload") != "header":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message must be the header")
            raise AssertionError("abort raises")
        header = first.header
        digest = hashlib.sha256()
        size = 0
        for chunk in chunks:
            digest.update(chunk.data)
            size += len(chunk.data)
        if size != header.size_bytes or digest.hexdigest() != header.sha256:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "size or sha256 does not match")
        artifact = pb.Artifact(
            id=header.sha256, kind=kind, sha256=header.sha256, size_bytes=size,
            filename=header.filename,
        )  # fmt: skip
        with self.fake._lock:
            self.fake.artifacts[artifact.id] = artifact
        return artifact

    def SubmitEvaluation(self, request: pb.SubmitEvaluationRequest, context: Any) -> pb.Job:
        fake = self.fake
        with fake._lock:
            for artifact_id, kind in (
                (request.model_id, pb.ARTIFACT_KIND_MODEL),
                (request.dataset_id, pb.ARTIFACT_KIND_DATASET),
            ):
                stored = fake.artifacts.get(artifact_id)
                if stored is None or stored.kind != kind:
                    context.abort(grpc.StatusCode.NOT_FOUND, f"unknown artifact {artifact_id!r}")
            if request.request_id and request.request_id in fake._by_request:
                return fake.jobs[fake._by_request[request.request_id]]
            job = pb.Job(
                id=uuid.uuid4().hex,
                state=fake.job_state,
                model_id=request.model_id,
                dataset_id=request.dataset_id,
                spec=request.spec,
                preset=request.preset,
                request_id=request.request_id,
                progress=1.0,
                error=fake.error,
            )
            job.created_at.GetCurrentTime()
            job.finished_at.GetCurrentTime()
            report = pb.Report()
            report.CopyFrom(fake.report)
            report.job_id, report.job_state, report.error = job.id, job.state, job.error
            report.gates.extend(evaluate_gates(report, list(request.spec.gates)))
            fake.jobs[job.id] = job
            fake.reports[job.id] = report
            fake.submitted.append(request)
            if request.request_id:
                fake._by_request[request.request_id] = job.id
            return job

    def _job(self, job_id: str, context: Any) -> pb.Job:
        job = self.fake.jobs.get(job_id)
        if job is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown job {job_id!r}")
        return job

    def GetJob(self, request: pb.GetJobRequest, context: Any) -> pb.Job:
        return self._job(request.job_id, context)

    def WatchJob(self, request: pb.WatchJobRequest, context: Any) -> Iterator[pb.ProgressEvent]:
        job = self._job(request.job_id, context)
        stages = ("preparing samples", "building base", "attacking", "finished")
        for sequence, stage in enumerate(stages, start=1):
            done = sequence == len(stages)
            yield pb.ProgressEvent(
                job_id=job.id,
                state=job.state if done else pb.JOB_STATE_RUNNING,
                stage=stage,
                fraction=sequence / len(stages),
                sequence=sequence,
            )

    def CancelJob(self, request: pb.CancelJobRequest, context: Any) -> pb.Job:
        return self._job(request.job_id, context)  # every fake job has already finished

    def ListJobs(self, request: pb.ListJobsRequest, context: Any) -> pb.ListJobsResponse:
        jobs = list(reversed(self.fake.jobs.values()))[: request.limit or 50]
        return pb.ListJobsResponse(jobs=jobs)

    def GetReport(self, request: pb.GetReportRequest, context: Any) -> pb.GetReportResponse:
        self._job(request.job_id, context)
        response = pb.GetReportResponse(report=self.fake.reports[request.job_id])
        if pb.REPORT_FORMAT_HTML in request.formats:
            response.documents.add(
                format=pb.REPORT_FORMAT_HTML,
                media_type="text/html",
                content=b"<!doctype html><title>fake report</title><p>RobustEdge FakeServer</p>",
            )
        return response

    def GetCapabilities(self, request: pb.GetCapabilitiesRequest, context: Any) -> pb.Capabilities:
        return pb.Capabilities(server_version="fake")

    def DownloadJobFile(
        self, request: pb.DownloadJobFileRequest, context: Any
    ) -> Iterator[pb.FileChunk]:
        self._job(request.job_id, context)
        content = self.fake.files.get(request.name)
        if content is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no file {request.name!r}")
        yield pb.FileChunk(data=content)


class FakeServer:
    """A fake EvaluationService on a free loopback port (see the module docstring).

    ``report`` is what every job returns (its ``files`` may be backed by
    :meth:`add_file`); ``submitted`` records every SubmitEvaluation request.
    """

    def __init__(
        self,
        report: pb.Report | None = None,
        *,
        job_state: int = pb.JOB_STATE_SUCCEEDED,
        error: str = "",
    ) -> None:
        self.report = report or pb.Report()
        self.job_state = job_state
        self.error = error
        self.artifacts: dict[str, pb.Artifact] = {}
        self.jobs: dict[str, pb.Job] = {}
        self.reports: dict[str, pb.Report] = {}
        self.files: dict[str, bytes] = {}
        self.submitted: list[pb.SubmitEvaluationRequest] = []
        self._by_request: dict[str, str] = {}
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None
        self.address = ""

    def add_file(self, name: str, content: bytes, description: str = "") -> None:
        """Serves ``content`` as a kept file and lists it in every report."""
        self.files[name] = content
        self.report.files.add(
            name=name,
            size_bytes=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            description=description,
        )

    def start(self) -> str:
        """Starts serving (once; later calls return the same address)."""
        if self._server is not None:
            return self.address
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        pb_grpc.add_EvaluationServiceServicer_to_server(_FakeServicer(self), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server = server
        self.address = f"127.0.0.1:{port}"
        return self.address

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(0).wait()
            self._server = None

    def __enter__(self) -> FakeServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
