"""Transport limits: malformed streams, oversized messages, idle and cancelled uploads,
deadlines, concurrency caps, malformed ids and specs. After every fault the upload's
temp file must be gone (the battery's "temp bytes left after faults")."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator

import grpc
from builders import (
    chunks_for,
    npz_bytes,
    temp_bytes,
    tiny_dataset_arrays,
    tiny_model,
    upload,
)
from scoreboard import BOARD

from robustedge.client import messages as pb

INVALID = grpc.StatusCode.INVALID_ARGUMENT
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
DATA = bytes(range(256)) * 8192  # 2 MiB of non-model bytes


def _wait_no_temp(hardened, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if temp_bytes(hardened.data_dir) == 0:
            return 0
        time.sleep(0.05)
    return temp_bytes(hardened.data_dir)


def _stalling(
    data: bytes, stall: threading.Event, sent: threading.Event
) -> Iterator[pb.UploadChunk]:
    """Sends the header and one chunk, then waits (a client gone quiet or cancelled)."""
    stream = chunks_for(data)
    yield next(stream)
    yield next(stream)
    sent.set()
    stall.wait(30)


def test_malformed_streams(stub, expect):
    good_sha = hashlib.sha256(DATA).hexdigest()
    header = pb.UploadChunk(header=pb.UploadHeader(size_bytes=len(DATA), sha256=good_sha))
    cases = [
        ("no header", iter([pb.UploadChunk(data=DATA)]), INVALID),
        ("empty stream", iter([]), INVALID),
        ("two headers", iter([header, header, pb.UploadChunk(data=DATA)]), INVALID),
        ("wrong sha256", chunks_for(DATA, sha256="0" * 64), INVALID),
        ("sha256 not hex", chunks_for(DATA, sha256="xyz"), INVALID),
        ("fewer bytes than announced", chunks_for(DATA, size=len(DATA) + 10), INVALID),
        ("more bytes than announced", chunks_for(DATA, size=len(DATA) - 10), INVALID),
        ("negative size", chunks_for(DATA, size=-5), INVALID),
        ("size over the upload limit", chunks_for(DATA, size=300 << 20), EXHAUSTED),
        ("5 MiB message", chunks_for(DATA * 3, chunk=5 << 20), EXHAUSTED),
    ]
    for case, chunks, code in cases:
        expect("transport", case, lambda c=chunks: upload(stub, "model", c), code)


def test_idle_upload_is_abandoned_and_its_temp_file_removed(stub, expect, hardened):
    stall, sent = threading.Event(), threading.Event()
    started = time.monotonic()
    try:
        expect(
            "transport",
            "idle client (2 s limit)",
            lambda: upload(stub, "model", _stalling(DATA, stall, sent)),
            grpc.StatusCode.DEADLINE_EXCEEDED,
        )
    finally:
        stall.set()
    assert time.monotonic() - started < 15
    BOARD.temp_bytes_left["idle upload"] = left = _wait_no_temp(hardened)
    assert left == 0


def test_cancel_mid_upload_removes_the_temp_file(stub, hardened):
    stall, sent = threading.Event(), threading.Event()
    future = stub.UploadModel.future(_stalling(DATA, stall, sent), timeout=60)
    assert sent.wait(10)
    deadline = time.monotonic() + 10
    while temp_bytes(hardened.data_dir) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)  # the server has started writing the temp file
    assert temp_bytes(hardened.data_dir) > 0
    future.cancel()
    stall.set()
    BOARD.temp_bytes_left["cancelled upload"] = left = _wait_no_temp(hardened)
    assert left == 0


def test_client_deadline_mid_upload(stub, expect, hardened):
    stall, sent = threading.Event(), threading.Event()
    try:
        expect(
            "transport",
            "client deadline passes mid-upload",
            lambda: stub.UploadModel(_stalling(DATA, stall, sent), timeout=1.0),
            grpc.StatusCode.DEADLINE_EXCEEDED,
        )
    finally:
        stall.set()
    BOARD.temp_bytes_left["deadline upload"] = left = _wait_no_temp(hardened)
    assert left == 0


def test_concurrent_upload_cap(stub, expect, hardened):
    """The hardened server takes 4 uploads at once; the fifth is RESOURCE_EXHAUSTED."""
    stall = threading.Event()
    sent = [threading.Event() for _ in range(4)]
    futures = [stub.UploadModel.future(_stalling(DATA, stall, s), timeout=30) for s in sent]
    try:
        assert all(s.wait(10) for s in sent)
        time.sleep(0.3)  # all four are being received by the server
        expect(
            "transport",
            "fifth concurrent upload",
            lambda: upload(stub, "model", chunks_for(DATA)),
            EXHAUSTED,
        )
    finally:
        stall.set()
        for future in futures:
            future.cancel()
    assert _wait_no_temp(hardened) == 0


def test_malformed_ids_and_oversized_specs(stub, expect):
    model = upload(stub, "model", chunks_for(tiny_model(seed=4).SerializeToString()))
    # A valid pair, so that only the field under test is wrong.
    dataset = upload(stub, "dataset", chunks_for(npz_bytes(**tiny_dataset_arrays(seed=4))))
    huge = "j" * (2 << 20)
    spec = pb.EvaluationSpec(samples=10, latency=pb.LatencySpec(disabled=True))
    many = pb.EvaluationSpec()
    many.attacks.extend(pb.AttackSpec(attack="fgsm", epsilons=[0.1]) for _ in range(500))
    eps = pb.EvaluationSpec(attacks=[pb.AttackSpec(attack="fgsm", epsilons=[0.01] * 5000)])
    submit = stub.SubmitEvaluation
    cases = [
        ("2 MiB job id", lambda: stub.GetJob(pb.GetJobRequest(job_id=huge), timeout=10), INVALID),
        (
            "job id with a path",
            lambda: stub.GetJob(pb.GetJobRequest(job_id="../../etc/passwd"), timeout=10),
            INVALID,
        ),
        (
            "empty job id",
            lambda: stub.WatchJob(pb.WatchJobRequest(job_id=""), timeout=10).next(),
            INVALID,
        ),
        (
            "unknown job id",
            lambda: stub.CancelJob(pb.CancelJobRequest(job_id="f" * 32), timeout=10),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            "unknown report",
            lambda: stub.GetReport(pb.GetReportRequest(job_id="abc"), timeout=10),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            "model id with NUL",
            lambda: submit(
                pb.SubmitEvaluationRequest(model_id="a\0b", dataset_id=dataset.id, spec=spec),
                timeout=10,
            ),
            INVALID,
        ),
        (
            "unknown model id",
            lambda: submit(
                pb.SubmitEvaluationRequest(model_id="0" * 64, dataset_id=dataset.id, spec=spec),
                timeout=10,
            ),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            "dataset id used as model id",
            lambda: submit(
                pb.SubmitEvaluationRequest(model_id=dataset.id, dataset_id=dataset.id, spec=spec),
                timeout=10,
            ),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            "1 KiB request id",
            lambda: submit(
                pb.SubmitEvaluationRequest(
                    model_id=model.id, dataset_id=dataset.id, spec=spec, request_id="r" * 1024
                ),
                timeout=10,
            ),
            INVALID,
        ),
        (
            "500 attacks",
            lambda: submit(
                pb.SubmitEvaluationRequest(model_id=model.id, dataset_id=dataset.id, spec=many),
                timeout=10,
            ),
            INVALID,
        ),
        (
            "5000 epsilons",
            lambda: submit(
                pb.SubmitEvaluationRequest(model_id=model.id, dataset_id=dataset.id, spec=eps),
                timeout=10,
            ),
            INVALID,
        ),
        (
            "negative list limit",
            lambda: stub.ListJobs(pb.ListJobsRequest(limit=-1), timeout=10),
            INVALID,
        ),
    ]
    for case, call, code in cases:
        expect("ids and specs", case, call, code)


def test_pending_job_cap(stub, expect):
    """The hardened server accepts 2 queued-or-running jobs per principal."""
    model = upload(stub, "model", chunks_for(tiny_model(seed=5).SerializeToString()))
    dataset = upload(stub, "dataset", chunks_for(npz_bytes(**tiny_dataset_arrays(seed=5))))
    # Seconds of PGD per job: both are still pending at the third submit, however fast
    # the machine (a pre-started worker begins the first one at once).
    spec = pb.EvaluationSpec(
        samples=10,
        attacks=[pb.AttackSpec(attack="pgd", epsilons=[0.1, 0.2, 0.3], params={"steps": 3000})],
        latency=pb.LatencySpec(disabled=True),
    )
    jobs = []
    try:
        for i in range(2):
            request = pb.SubmitEvaluationRequest(
                model_id=model.id, dataset_id=dataset.id, spec=spec, request_id=f"cap-{i}"
            )
            jobs.append(stub.SubmitEvaluation(request, timeout=30))
        third = pb.SubmitEvaluationRequest(model_id=model.id, dataset_id=dataset.id, spec=spec)
        expect(
            "transport",
            "third pending job",
            lambda: stub.SubmitEvaluation(third, timeout=30),
            EXHAUSTED,
        )
        again = pb.SubmitEvaluationRequest(
            model_id=model.id, dataset_id=dataset.id, spec=spec, request_id="cap-0"
        )
        same = expect(
            "transport",
            "repeated request_id past the cap",
            lambda: stub.SubmitEvaluation(again, timeout=30),
            grpc.StatusCode.OK,
        )
        assert same.id == jobs[0].id
    finally:
        for job in jobs:
            stub.CancelJob(pb.CancelJobRequest(job_id=job.id), timeout=30)


def test_server_still_serves(stub):
    assert stub.GetCapabilities(pb.GetCapabilitiesRequest(), timeout=30).attacks
