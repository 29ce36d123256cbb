"""Request building shared by the sync and asyncio clients (no I/O on the channel here).

Both clients send exactly the same messages; only how they wait differs. Keeping
the messages in one place means a new field or rule reaches both at once.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import grpc

from robustedge.client._errors import RobustEdgeError, SpecError
from robustedge.client._spec import load_spec_file, spec_from_dict
from robustedge.v1 import evaluation_pb2 as pb

DEFAULT_ADDRESS = "127.0.0.1:50051"
ADDRESS_ENV = "ROBUSTEDGE_SERVER"
TOKEN_ENV = "ROBUSTEDGE_TOKEN"
CHUNK_BYTES = 1 << 20
TERMINAL = (pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED)
# Status codes worth another try: a server at its limits or restarting. Every RPC of
# the service is safe to repeat (uploads are content-addressed, submissions carry a
# request id).
RETRYABLE = (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE)
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 64 * CHUNK_BYTES)]

JobRef: TypeAlias = pb.Job | str
ArtifactRef: TypeAlias = pb.Artifact | str
SpecLike: TypeAlias = pb.EvaluationSpec | dict[str, Any] | str | os.PathLike[str] | None


def job_id(job: JobRef) -> str:
    return job.id if isinstance(job, pb.Job) else job


def artifact_id(artifact: ArtifactRef) -> str:
    return artifact.id if isinstance(artifact, pb.Artifact) else artifact


def state_name(state: int) -> str:
    """``JOB_STATE_SUCCEEDED`` -> ``succeeded``."""
    return pb.JobState.Name(state).removeprefix("JOB_STATE_").lower()


def address_and_metadata(
    address: str | None, token: str | None
) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The server address and call metadata from arguments or the environment."""
    resolved = address or os.environ.get(ADDRESS_ENV) or DEFAULT_ADDRESS
    token = token if token is not None else os.environ.get(TOKEN_ENV)
    return resolved, ((("authorization", f"Bearer {token}"),) if token else ())


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with jitter, capped at 5 s (attempt 0 -> ~0.25 s)."""
    import random

    return min(0.25 * 2**attempt, 5.0) * (0.5 + random.random())


@dataclass(frozen=True)
class UploadPlan:
    """A file to upload: its header (size and sha256 computed up front) and its chunks."""

    path: Path
    header: pb.UploadHeader

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> UploadPlan:
        path = Path(path)
        try:
            size = path.stat().st_size
            digest = hashlib.sha256()
            with open(path, "rb") as source:
                for block in iter(lambda: source.read(CHUNK_BYTES), b""):
                    digest.update(block)
        except OSError as exc:
            raise RobustEdgeError(f"cannot read {path}: {exc.strerror}") from exc
        header = pb.UploadHeader(filename=path.name, size_bytes=size, sha256=digest.hexdigest())
        return cls(path, header)

    def chunks(self) -> Iterator[pb.UploadChunk]:
        """The upload stream: the header, then the file in 1 MiB pieces (a fresh one per call)."""
        yield pb.UploadChunk(header=self.header)
        with open(self.path, "rb") as source:
            for block in iter(lambda: source.read(CHUNK_BYTES), b""):
                yield pb.UploadChunk(data=block)

    def timeout(self, minimum: float) -> float:
        """A deadline that grows with the file (5 MB/s is a slow link)."""
        return max(minimum, self.header.size_bytes / 5e6)


def submit_request(
    model: ArtifactRef,
    dataset: ArtifactRef,
    *,
    preset: str | None,
    spec: SpecLike,
    gates: Sequence[str],
    request_id: str | None,
) -> pb.SubmitEvaluationRequest:
    """The SubmitEvaluation request; a preset named in a spec file is used unless
    ``preset`` is given, and a request id is generated when omitted."""
    spec_preset, message = resolve_spec(spec)
    message.gates.extend(gates)
    return pb.SubmitEvaluationRequest(
        model_id=artifact_id(model),
        dataset_id=artifact_id(dataset),
        preset=preset or spec_preset,
        spec=message,
        request_id=request_id or uuid.uuid4().hex,
    )


def report_request(job: JobRef, html: bool) -> pb.GetReportRequest:
    request = pb.GetReportRequest(job_id=job_id(job))
    if html:
        request.formats.append(pb.REPORT_FORMAT_HTML)
    return request


def resolve_spec(spec: SpecLike) -> tuple[str, pb.EvaluationSpec]:
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


def kept_file(report: pb.Report, name: str) -> pb.JobFile:
    """The report's entry for a kept file, or a RobustEdgeError naming the job."""
    for kept in report.files:
        if kept.name == name:
            return kept
    raise RobustEdgeError(f"job {report.job_id} kept no file {name!r}")
