"""Load: 32 concurrent clients uploading and watching jobs; memory during a 500 MB upload.

The load test's only acceptable errors are RESOURCE_EXHAUSTED answers past the
configured caps (16 uploads at once here), which the clients answer like good
clients do: back off and retry. Clients share eight request ids (four clients per id), so the
server also has to keep submission idempotent under concurrency: eight jobs, each
watched by four clients to the end.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TypeVar

import grpc
import psutil
import pytest
from builders import chunks_for, npz_bytes, tiny_dataset_arrays, tiny_model
from scoreboard import BOARD
from server_process import start_server

from robustedge.client import messages as pb
from robustedge.v1 import evaluation_pb2_grpc as pb_grpc

T = TypeVar("T")
CLIENTS = 32
JOBS = 8
TERMINAL = (pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED)
SPEC = pb.EvaluationSpec(
    samples=10,
    attacks=[pb.AttackSpec(attack="fgsm", epsilons=[0.1])],
    latency=pb.LatencySpec(disabled=True),
)


@pytest.mark.slow
def test_32_concurrent_clients(tmp_path):
    server = start_server(
        tmp_path / "data",
        extra_args=[
            "--max-concurrent-jobs",
            "2",
            "--max-concurrent-rpcs",
            "48",
            "--max-concurrent-uploads",
            "16",
        ],
    )
    model_bytes = tiny_model(seed=20).SerializeToString()
    datasets = [npz_bytes(**tiny_dataset_arrays(seed=20 + i % JOBS)) for i in range(JOBS)]
    outcomes: Counter[str] = Counter()
    errors: list[str] = []
    finals: dict[str, int] = {}
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS)

    def note(what: str, error: grpc.RpcError | None = None) -> None:
        with lock:
            outcomes[what] += 1
            if error is not None and error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                errors.append(f"{what}: {error.code().name} {error.details()}")

    def patiently(call: Callable[[], T], rng: random.Random) -> T:
        """What a well-behaved client does with RESOURCE_EXHAUSTED: back off, retry."""
        for attempt in range(40):
            try:
                return call()
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or attempt == 39:
                    raise
                note("resource_exhausted (retried)")
                time.sleep(rng.uniform(0.1, 0.5) * min(attempt + 1, 4))
        raise AssertionError("unreachable")

    def client(index: int) -> None:
        rng = random.Random(index)
        with grpc.insecure_channel(server.address) as channel:
            stub = pb_grpc.EvaluationServiceStub(channel)
            start.wait(30)
            try:
                model = patiently(
                    lambda: stub.UploadModel(chunks_for(model_bytes), timeout=120), rng
                )
                dataset = patiently(
                    lambda: stub.UploadDataset(chunks_for(datasets[index % JOBS]), timeout=120),
                    rng,
                )
                note("uploads ok")
                job = patiently(
                    lambda: stub.SubmitEvaluation(
                        pb.SubmitEvaluationRequest(
                            model_id=model.id,
                            dataset_id=dataset.id,
                            spec=SPEC,
                            request_id=f"load-{index % JOBS}",
                        ),
                        timeout=60,
                    ),
                    rng,
                )
                note("submits ok")
                last = None
                for event in stub.WatchJob(pb.WatchJobRequest(job_id=job.id), timeout=170):
                    last = event
                note("watched to the end")
                with lock:
                    finals[job.id] = last.state if last is not None else 0
            except grpc.RpcError as error:
                note(f"{error.code().name.lower()}", error)

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(200)
    seconds = time.monotonic() - started
    alive = server.process.poll() is None
    if not alive:
        BOARD.server_crashes += 1
    try:
        BOARD.load.update(
            clients=CLIENTS,
            seconds=round(seconds, 1),
            uploads_ok=outcomes["uploads ok"],
            watched_to_end=outcomes["watched to the end"],
            jobs=len(finals),
            jobs_succeeded=sum(s == pb.JOB_STATE_SUCCEEDED for s in finals.values()),
            resource_exhausted_retried=outcomes["resource_exhausted (retried)"],
            other_errors=len(errors),
        )
        assert alive
        assert errors == [], errors[:5]
        assert outcomes["watched to the end"] == CLIENTS
        assert len(finals) == JOBS  # idempotent: four clients per request id, one job each
        assert all(s == pb.JOB_STATE_SUCCEEDED for s in finals.values()), finals
    finally:
        assert server.stop() == 0


def _generated(total: int, block: bytes) -> Iterator[bytes]:
    """``total`` bytes that start like a zip but are not one, generated block by block."""
    sent = 0
    index = 0
    while sent < total:
        size = min(len(block), total - sent)
        head = b"PK\x03\x04" if index == 0 else index.to_bytes(8, "little")
        yield (head + block[len(head) :])[:size]
        sent += size
        index += 1


@pytest.mark.slow
def test_server_memory_stays_flat_during_a_large_upload(tmp_path):
    megabytes = int(os.environ.get("ROBUSTEDGE_LARGE_UPLOAD_MB", "500"))
    total = megabytes << 20
    server = start_server(tmp_path / "data", extra_args=["--max-upload-mb", str(megabytes + 1)])
    block = os.urandom(1 << 20)
    digest = hashlib.sha256()
    for piece in _generated(total, block):
        digest.update(piece)
    process = psutil.Process(server.process.pid)
    peak = 0
    sampling = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not sampling.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.02)

    def chunks() -> Iterator[pb.UploadChunk]:
        header = pb.UploadHeader(filename="big.npz", size_bytes=total, sha256=digest.hexdigest())
        yield pb.UploadChunk(header=header)
        for piece in _generated(total, block):
            yield pb.UploadChunk(data=piece)

    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = pb_grpc.EvaluationServiceStub(channel)
            # Warm up: the first upload loads what every upload needs (threads, modules),
            # and GetCapabilities returns once the server's start-up warm-up (torch and the
            # registries, imported in the background) is done, so neither counts as growth.
            stub.GetCapabilities(pb.GetCapabilitiesRequest(), timeout=120)
            small = npz_bytes(**tiny_dataset_arrays())
            stub.UploadDataset(chunks_for(small), timeout=60)
            baseline = process.memory_info().rss
            sampler = threading.Thread(target=sample)
            sampler.start()
            started = time.monotonic()
            try:
                stub.UploadDataset(chunks(), timeout=300)
                code, details = grpc.StatusCode.OK, ""
            except grpc.RpcError as error:
                code, details = error.code(), error.details() or ""
            seconds = time.monotonic() - started
            sampling.set()
            sampler.join()
        growth = (peak - baseline) / (1 << 20)
        temp_left = sum(
            p.stat().st_size for p in (tmp_path / "data" / "artifacts").rglob("*") if p.is_file()
        )
        BOARD.load.update(
            large_upload_mb=megabytes,
            large_upload_seconds=round(seconds, 1),
            rss_growth_mb=round(growth, 1),
        )
        BOARD.temp_bytes_left[f"refused {megabytes} MB upload"] = temp_left - len(small)
        BOARD.record(
            "load",
            f"{megabytes} MB upload refused by validation",
            grpc.StatusCode.INVALID_ARGUMENT,
            code,
            details,
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a valid .npz" in details  # refused by the sandboxed validator
        assert growth < 64, f"server RSS grew by {growth:.1f} MB"
        assert temp_left == len(small)  # only the small valid dataset is stored
    finally:
        assert server.stop() == 0
