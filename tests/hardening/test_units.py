"""In-process checks of the hardening building blocks (fast; no server)."""

from __future__ import annotations

import argparse
import hashlib
import threading
import time
from collections.abc import Iterator

import grpc
import pytest

from robustedge.service import limits
from robustedge.service.artifacts import ArtifactStore
from robustedge.service.errors import DataLoss, ResourceExhausted
from robustedge.service.transport import ClientGone, IdleGuardedStream, Slots, UploadIdle
from robustedge.service.validation import sanitize, scrub_paths


def test_limit_flags_override_defaults_in_their_units():
    parser = argparse.ArgumentParser()
    limits.add_arguments(parser)
    transport, validation = limits.from_arguments(
        parser.parse_args(["--max-upload-mb", "3", "--upload-idle-seconds", "1.5",
                           "--max-subgraph-depth", "2"])
    )  # fmt: skip
    assert transport.max_upload_bytes == 3 << 20
    assert transport.upload_idle_seconds == 1.5
    assert validation.max_subgraph_depth == 2
    assert validation.memory_bytes == limits.ValidationLimits().memory_bytes
    with pytest.raises(ValueError, match="positive"):
        limits.from_arguments(parser.parse_args(["--max-concurrent-rpcs", "0"]))


def test_sanitize_removes_paths_and_keeps_one_bounded_line():
    text = "Load model from /srv/data/artifacts/ab/abcdef failed\nTraceback (most recent call)"
    assert sanitize(text) == "Load model from <path> failed"
    assert "C:" not in scrub_paths(r"see C:\build\ort\model.cc for details")
    assert scrub_paths("x.npy and a/b stay") == "x.npy and a/b stay"
    assert len(sanitize("x" * 10_000)) <= 400


def test_slots_refuse_past_the_cap():
    slots = Slots(1, "uploads")
    with slots, pytest.raises(ResourceExhausted), slots:
        pass
    with slots:  # released again
        pass


def test_idle_guarded_stream_times_out_and_maps_cancellation():
    gate = threading.Event()

    def quiet() -> Iterator[int]:
        yield 1
        gate.wait(5)
        yield 2

    stream = IdleGuardedStream(quiet(), idle_seconds=0.3)
    assert next(stream) == 1
    started = time.monotonic()
    with pytest.raises(UploadIdle):
        next(stream)
    assert time.monotonic() - started < 2
    gate.set()

    class Cancelled(grpc.RpcError):
        pass

    def cancelled() -> Iterator[int]:
        raise Cancelled()
        yield 0

    def trickle() -> Iterator[int]:
        while True:
            time.sleep(0.05)
            yield 0

    slow = IdleGuardedStream(trickle(), idle_seconds=0.3, total_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(UploadIdle, match="took longer"):
        for _ in slow:
            pass
    assert time.monotonic() - started < 2

    with pytest.raises(ClientGone):
        next(IdleGuardedStream(cancelled(), idle_seconds=5))
    assert list(IdleGuardedStream(iter([1, 2, 3]), idle_seconds=5)) == [1, 2, 3]


def test_verified_path_detects_changed_and_missing_bytes(tmp_path):
    store = ArtifactStore(tmp_path / "artifacts")
    data = b"model bytes" * 100
    sha, path = store.write_stream([data], expected_size=len(data),
                                   expected_sha256=hashlib.sha256(data).hexdigest(),
                                   max_bytes=1 << 20)  # fmt: skip
    assert store.verified_path(sha) == path
    path.write_bytes(data[:-1] + b"X")
    with pytest.raises(DataLoss, match="corrupt"):
        store.verified_path(sha)
    path.unlink()
    with pytest.raises(DataLoss, match="missing"):
        store.verified_path(sha)


def test_free_space_check_refuses_before_writing(tmp_path):
    store = ArtifactStore(tmp_path / "artifacts", min_free_bytes=1 << 60)
    with pytest.raises(ResourceExhausted, match="disk space"):
        store.write_stream([b"x"], expected_size=1, expected_sha256="0" * 64, max_bytes=10)
    assert store.temp_bytes() == 0
