"""The gRPC servicer: translates requests into calls on the stores and the job manager.

Kept thin on purpose: validation lives in ``validation`` and ``spec``, execution
in ``jobs``, and every exception becomes a status code in ``errors.ErrorInterceptor``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from robustedge.service import spec as spec_module
from robustedge.service import validation
from robustedge.service.artifacts import ArtifactStore
from robustedge.service.auth import current_principal
from robustedge.service.capabilities import capabilities
from robustedge.service.errors import FailedPrecondition, InvalidArgument, NotFound
from robustedge.service.jobs import TERMINAL, JobManager
from robustedge.service.store import JobStore
from robustedge.v1 import evaluation_pb2 as pb
from robustedge.v1 import evaluation_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

MAX_LIST = 500


class EvaluationServicer(pb_grpc.EvaluationServiceServicer):
    def __init__(
        self, store: JobStore, artifacts: ArtifactStore, jobs: JobManager, max_upload_bytes: int
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.jobs = jobs
        self.max_upload_bytes = max_upload_bytes

    # -- uploads --------------------------------------------------------------------

    def UploadModel(self, request_iterator, context):
        return self._upload(request_iterator, pb.ARTIFACT_KIND_MODEL, validation.describe_model)

    def UploadDataset(self, request_iterator, context):
        return self._upload(request_iterator, pb.ARTIFACT_KIND_DATASET, validation.describe_dataset)

    def _upload(
        self,
        chunks: Iterator[pb.UploadChunk],
        kind: int,
        describe: Callable[[Path], pb.ModelInfo | pb.DatasetInfo],
    ) -> pb.Artifact:
        first = next(chunks, None)
        if first is None or first.WhichOneof("payload") != "header":
            raise InvalidArgument("the first message of an upload must carry the header")
        header = first.header

        def data() -> Iterator[bytes]:
            for chunk in chunks:
                if chunk.WhichOneof("payload") != "data":
                    raise InvalidArgument("only the first message of an upload may be a header")
                yield chunk.data

        owner = current_principal.get()
        existing = self.store.get_artifact(header.sha256.lower(), kind, owner=None)
        sha256, path = self.artifacts.write_stream(
            data(),
            expected_size=header.size_bytes,
            expected_sha256=header.sha256,
            max_bytes=self.max_upload_bytes,
        )
        if existing is not None:
            # The caller just proved it holds these bytes; it may now use the artifact.
            self.store.put_artifact(existing, owner)
            return existing
        info = describe(path)
        info.sha256 = sha256
        artifact = pb.Artifact(
            id=sha256, kind=kind, sha256=sha256, size_bytes=header.size_bytes,
            filename=Path(header.filename).name[:255],
        )  # fmt: skip
        if kind == pb.ARTIFACT_KIND_MODEL:
            artifact.model.CopyFrom(info)
        else:
            artifact.dataset.CopyFrom(info)
        self.store.put_artifact(artifact, owner)
        return artifact

    # -- jobs -----------------------------------------------------------------------

    def SubmitEvaluation(self, request, context):
        owner = current_principal.get()
        model = self.store.get_artifact(request.model_id, pb.ARTIFACT_KIND_MODEL, owner)
        if model is None:
            raise NotFound(f"unknown model {request.model_id!r}; upload it first")
        dataset = self.store.get_artifact(request.dataset_id, pb.ARTIFACT_KIND_DATASET, owner)
        if dataset is None:
            raise NotFound(f"unknown dataset {request.dataset_id!r}; upload it first")
        validation.check_compatible(model.model, dataset.dataset)
        resolved = spec_module.merge(request.preset, request.spec)
        spec_module.validate(
            resolved, input_range=(dataset.dataset.input_min, dataset.dataset.input_max)
        )
        job = pb.Job(
            model_id=model.id,
            dataset_id=dataset.id,
            spec=resolved,
            preset=request.preset,
            request_id=request.request_id,
        )
        return self.jobs.submit(job, owner)

    def GetJob(self, request, context):
        return self.jobs.get(request.job_id, current_principal.get())

    def WatchJob(self, request, context):
        yield from self.jobs.watch(request.job_id, current_principal.get(), context.is_active)

    def CancelJob(self, request, context):
        return self.jobs.cancel(request.job_id, current_principal.get())

    def ListJobs(self, request, context):
        if request.limit < 0:
            raise InvalidArgument("limit must not be negative")
        limit = min(request.limit or 50, MAX_LIST)
        return pb.ListJobsResponse(jobs=self.store.list_jobs(current_principal.get(), limit))

    def GetReport(self, request, context):
        job = self.jobs.get(request.job_id, current_principal.get())
        if job.state not in TERMINAL:
            raise FailedPrecondition(
                f"job {job.id} is {pb.JobState.Name(job.state).removeprefix('JOB_STATE_').lower()};"
                " its report exists once it has finished"
            )
        report = self.store.get_report(job.id)
        if report is None:
            raise NotFound(f"job {job.id} finished without a report: {job.error or 'no units ran'}")
        response = pb.GetReportResponse(report=report)
        for fmt in request.formats:
            response.documents.append(_render(report, fmt))
        return response

    def GetCapabilities(self, request, context):
        return capabilities()


def _render(report: pb.Report, fmt: int) -> pb.RenderedDocument:
    if fmt == pb.REPORT_FORMAT_HTML:
        from robustedge.reports import render_html

        return pb.RenderedDocument(
            format=fmt, media_type="text/html", content=render_html(report).encode("utf-8")
        )
    raise InvalidArgument(f"unsupported report format {fmt}")
