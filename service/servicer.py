"""The gRPC servicer: translates requests into calls on the stores and the job manager.

Kept thin on purpose: validation lives in ``validation`` and ``spec``, execution
in ``jobs``, and every exception becomes a status code in ``errors.ErrorInterceptor``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from robustedge.service import job_inputs, validation
from robustedge.service import spec as spec_module
from robustedge.service.artifacts import ArtifactStore, Received
from robustedge.service.auth import current_principal
from robustedge.service.capabilities import capabilities
from robustedge.service.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from robustedge.service.jobs import TERMINAL, JobManager
from robustedge.service.limits import TransportLimits, ValidationLimits
from robustedge.service.store import Derived, JobStore
from robustedge.service.transport import ClientGone, IdleGuardedStream, Slots
from robustedge.v1 import evaluation_pb2 as pb
from robustedge.v1 import evaluation_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

MAX_LIST = 500
MAX_FILE_NAME = 256
DOWNLOAD_CHUNK_BYTES = 1 << 20
# Ids are hex digests or uuids; anything else cannot name a job or artifact, and is not
# echoed back at length (a 4 MB id in a status detail would break the trailers).
_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
# Bounds on a spec's lists, checked before the spec is resolved: a 4 MB message of
# ten thousand attacks is refused cheaply instead of being planned.
_SPEC_LIST_LIMITS = {"variants": 64, "attacks": 64, "gates": 128}
MAX_EPSILONS = 64


def _check_id(value: str, field: str) -> str:
    if not _ID.match(value):
        raise InvalidArgument(f"{field} must be 1-128 letters, digits, '.', '_' or '-'")
    return value


class EvaluationServicer(pb_grpc.EvaluationServiceServicer):
    def __init__(
        self,
        store: JobStore,
        artifacts: ArtifactStore,
        jobs: JobManager,
        limits: TransportLimits | None = None,
        validation_limits: ValidationLimits | None = None,
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.jobs = jobs
        self.limits = limits or TransportLimits()
        self.validation_limits = validation_limits or ValidationLimits()
        self.upload_slots = Slots(self.limits.max_concurrent_uploads, "uploads")
        self.validator_slots = validation.ValidatorSlots(
            self.limits.max_concurrent_validations, self.validation_limits.wall_seconds
        )
        # Set when the server drains (SIGTERM): watchers are told to come back later.
        self.draining = threading.Event()

    # -- uploads --------------------------------------------------------------------

    def UploadModel(self, request_iterator, context):
        return self._upload(request_iterator, pb.ARTIFACT_KIND_MODEL, context)

    def UploadDataset(self, request_iterator, context):
        return self._upload(request_iterator, pb.ARTIFACT_KIND_DATASET, context)

    def _upload(
        self, request_iterator: Iterator[pb.UploadChunk], kind: int, context: grpc.ServicerContext
    ) -> pb.Artifact:
        with self.upload_slots:
            chunks = IdleGuardedStream(
                request_iterator, self.limits.upload_idle_seconds, self.limits.upload_seconds
            )
            try:
                return self._receive(chunks, kind, context)
            finally:
                chunks.close()

    def _receive(
        self, chunks: Iterator[pb.UploadChunk], kind: int, context: grpc.ServicerContext
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
        existing = self.store.get_artifact(header.sha256.lower()[:64], kind, owner=None)
        with self.artifacts.receive(
            data(),
            expected_size=header.size_bytes,
            expected_sha256=header.sha256,
            max_bytes=self.limits.max_upload_bytes,
        ) as received:
            if existing is not None:
                # The caller just proved it holds these bytes; it may now use the artifact.
                # Storing them again also repairs a copy that was damaged on disk.
                self.artifacts.commit(received)
                self.store.put_artifact(existing, owner)
                return existing
            if not context.is_active():
                raise ClientGone("the client left before its upload was validated")
            artifact = pb.Artifact(
                id=received.sha256, kind=kind, sha256=received.sha256,
                size_bytes=header.size_bytes, filename=Path(header.filename).name[:255],
            )  # fmt: skip
            if kind == pb.ARTIFACT_KIND_MODEL:
                self._validate_model(received, artifact)
            else:
                with self.validator_slots:
                    info = validation.validate_upload(
                        "dataset", received.temp, self.validation_limits
                    )
                assert isinstance(info, pb.DatasetInfo)
                info.sha256 = received.sha256
                artifact.dataset.CopyFrom(info)
                self.artifacts.commit(received)
                self.store.put_artifact(artifact, owner)
            return artifact

    def _validate_model(self, received: Received, artifact: pb.Artifact) -> None:
        runnable = self.artifacts.new_temp_path()  # swept at start-up if we die meanwhile
        try:
            with self.validator_slots:
                check = validation.validate_upload(
                    "model", received.temp, self.validation_limits, runnable_path=runnable
                )
            assert isinstance(check, validation.ModelCheck)
            check.info.sha256 = received.sha256
            artifact.model.CopyFrom(check.info)
            self.artifacts.commit(received)
            self.store.put_artifact(artifact, current_principal.get())
            if check.note:
                derived = self.artifacts.adopt(runnable)
                self.store.put_derived(
                    received.sha256, job_inputs.RUNNABLE, Derived(derived, check.note)
                )
                log.info("model %s: %s (runnable copy %s)", received.sha256[:12], check.note,
                         derived[:12])  # fmt: skip
        finally:
            runnable.unlink(missing_ok=True)

    # -- jobs -----------------------------------------------------------------------

    def SubmitEvaluation(self, request, context):
        owner = current_principal.get()
        _check_id(request.model_id, "model_id")
        _check_id(request.dataset_id, "dataset_id")
        if request.request_id:
            _check_id(request.request_id, "request_id")
        _check_spec_size(request.spec)
        model = self.store.get_artifact(request.model_id, pb.ARTIFACT_KIND_MODEL, owner)
        if model is None:
            raise NotFound(f"unknown model {request.model_id!r}; upload it first")
        dataset = self.store.get_artifact(request.dataset_id, pb.ARTIFACT_KIND_DATASET, owner)
        if dataset is None:
            raise NotFound(f"unknown dataset {request.dataset_id!r}; upload it first")
        validation.check_compatible(model.model, dataset.dataset)
        input_range = (dataset.dataset.input_min, dataset.dataset.input_max)
        resolved = spec_module.merge(request.preset, request.spec, input_range)
        spec_module.validate(resolved, input_range=input_range)
        # The stored bytes must still be the validated ones (DATA_LOSS otherwise).
        job_inputs.resolve(self.store, self.artifacts, model.id, dataset.id)
        pending = self.store.count_pending_jobs(owner)
        if pending >= self.limits.max_pending_jobs and not (
            request.request_id and self.store.has_request(owner, request.request_id)
        ):
            raise ResourceExhausted(
                f"{pending} of your jobs are queued or running, the most this server accepts;"
                " wait for one to finish"
            )
        job = pb.Job(
            model_id=model.id,
            dataset_id=dataset.id,
            spec=resolved,
            preset=request.preset,
            request_id=request.request_id,
        )
        return _scrubbed(self.jobs.submit(job, owner))

    def GetJob(self, request, context):
        job_id = _check_id(request.job_id, "job_id")
        return _scrubbed(self.jobs.get(job_id, current_principal.get()))

    def WatchJob(self, request, context):
        _check_id(request.job_id, "job_id")
        last: pb.ProgressEvent | None = None

        def active() -> bool:
            return context.is_active() and not self.draining.is_set()

        for event in self.jobs.watch(request.job_id, current_principal.get(), active):
            last = event
            yield _scrubbed(event)
        if self.draining.is_set() and (last is None or last.state not in TERMINAL):
            raise Unavailable("the server is shutting down; watch the job again after it restarts")

    def CancelJob(self, request, context):
        return _scrubbed(
            self.jobs.cancel(_check_id(request.job_id, "job_id"), current_principal.get())
        )

    def ListJobs(self, request, context):
        if request.limit < 0:
            raise InvalidArgument("limit must not be negative")
        limit = min(request.limit or 50, MAX_LIST)
        jobs = self.store.list_jobs(current_principal.get(), limit)
        return pb.ListJobsResponse(jobs=[_scrubbed(job) for job in jobs])

    def GetReport(self, request, context):
        job = self.jobs.get(_check_id(request.job_id, "job_id"), current_principal.get())
        if job.state not in TERMINAL:
            raise FailedPrecondition(
                f"job {job.id} is {pb.JobState.Name(job.state).removeprefix('JOB_STATE_').lower()};"
                " its report exists once it has finished"
            )
        report = self.store.get_report(job.id)
        if report is None:
            reason = validation.sanitize(job.error) or "no units ran"
            raise NotFound(f"job {job.id} finished without a report: {reason}")
        response = pb.GetReportResponse(report=_scrubbed(report))
        for fmt in request.formats:
            response.documents.append(_render(report, fmt))
        return response

    def GetCapabilities(self, request, context):
        return capabilities()

    def DownloadJobFile(self, request, context):
        job_id = _check_id(request.job_id, "job_id")
        if not 0 < len(request.name) <= MAX_FILE_NAME:
            raise InvalidArgument(f"name must be 1-{MAX_FILE_NAME} characters")
        # Only names the job listed in its report resolve (JobManager.kept_file), and
        # the file is checked against its recorded sha256 (DATA_LOSS otherwise).
        path = self.jobs.kept_file(job_id, current_principal.get(), request.name)
        with open(path, "rb") as file:
            while block := file.read(DOWNLOAD_CHUNK_BYTES):
                yield pb.FileChunk(data=block)


# String fields of jobs, events and reports that carry error text from the worker and
# the libraries it ran (onnxruntime puts its build paths in messages).
M = TypeVar("M", bound=Message)
_ERROR_FIELDS = frozenset({"error", "message", "skipped_reason"})


def _scrubbed(message: M) -> M:
    """The message with server paths removed from its error-text fields, recursively."""
    for field, value in message.ListFields():
        if field.type == field.TYPE_STRING and field.name in _ERROR_FIELDS:
            if not field.is_repeated and ("/" in value or "\\" in value):
                setattr(message, field.name, validation.scrub_paths(value))
        elif field.type == field.TYPE_MESSAGE:
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                continue  # maps of scalars (versions, bytes by dtype): nothing to scrub
            for item in value if field.is_repeated else (value,):
                _scrubbed(item)
    return message


def _check_spec_size(spec: pb.EvaluationSpec) -> None:
    for name, most in _SPEC_LIST_LIMITS.items():
        if len(getattr(spec, name)) > most:
            raise InvalidArgument(f"the spec has {len(getattr(spec, name))} {name}; at most {most}")
    for attack in spec.attacks:
        if len(attack.epsilons) > MAX_EPSILONS:
            raise InvalidArgument(
                f"attack {attack.attack[:40]!r} has {len(attack.epsilons)} epsilons;"
                f" at most {MAX_EPSILONS}"
            )


def _render(report: pb.Report, fmt: int) -> pb.RenderedDocument:
    if fmt == pb.REPORT_FORMAT_HTML:
        from robustedge.reports import render_html

        return pb.RenderedDocument(
            format=fmt, media_type="text/html", content=render_html(report).encode("utf-8")
        )
    raise InvalidArgument(f"unsupported report format {fmt}")
