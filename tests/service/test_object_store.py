"""The S3-compatible artifact store against a real S3 endpoint (moto's server, over HTTP).

What the Ray executor relies on: job files go up and come down intact, a node fetches
only what its cache lacks, a unit uploads exactly the files it wrote (not those of
another unit running beside it on the node), a failed unit uploads nothing, and a
bad configuration is refused with a message that says what to fix.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from s3_server import S3Server, s3_server

pytest.importorskip("boto3", reason="the artifact store needs boto3: pip install 'robustedge[s3]'")

from robustedge.service.__main__ import main as server_main
from robustedge.service.object_store import (
    DATASET_INPUT,
    MODEL_INPUT,
    JobFiles,
    ObjectStoreError,
    ObjectStoreLocation,
    unit_directory,
)

BUCKET = "robustedge-unit"
JOB = "0123abcd"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        server.client().create_bucket(Bucket=BUCKET)
        yield server


@pytest.fixture
def files(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> JobFiles:
    """A fresh prefix per test, through a client configured only by the environment."""
    for name, value in s3.environment.items():
        monkeypatch.setenv(name, value)
    return JobFiles(ObjectStoreLocation(BUCKET, f"t/{request.node.name}"))


def keys(s3: S3Server, files: JobFiles) -> dict[str, int]:
    prefix = files.location.job_prefix(JOB)
    return {k[len(prefix) :]: size for k, size in s3.keys(BUCKET, prefix).items()}


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://b", "b", ""),
        ("s3://b/", "b", ""),
        ("s3://b/team/robustedge/", "b", "team/robustedge"),
    ],
)
def test_location_parses_bucket_and_prefix(url: str, bucket: str, prefix: str) -> None:
    location = ObjectStoreLocation.parse(url)
    assert (location.bucket, location.prefix) == (bucket, prefix)
    assert location.job_prefix("j1") == "/".join(p for p in (prefix, "jobs", "j1") if p) + "/"


@pytest.mark.parametrize("url", ["bucket/prefix", "gs://b/p", "s3://", "s3:///p"])
def test_location_refuses_what_is_not_an_s3_url(url: str) -> None:
    with pytest.raises(ObjectStoreError, match=r"s3://BUCKET|names no bucket"):
        ObjectStoreLocation.parse(url)


def test_inputs_go_up_once_and_come_down_intact(
    s3: S3Server, files: JobFiles, tmp_path: Path
) -> None:
    model, dataset = tmp_path / "m.onnx", tmp_path / "d.npz"
    model.write_bytes(b"model-bytes" * 100)
    dataset.write_bytes(b"dataset" * 50)
    files.upload_inputs(JOB, model, dataset)
    assert keys(s3, files) == {MODEL_INPUT: 1100, DATASET_INPUT: 350}

    cache = tmp_path / "cache"
    assert files.fetch_missing(JOB, cache) == [DATASET_INPUT, MODEL_INPUT]
    assert (cache / MODEL_INPUT).read_bytes() == model.read_bytes()
    # Present at the right size: not fetched again; a truncated copy is replaced.
    assert files.fetch_missing(JOB, cache) == []
    (cache / DATASET_INPUT).write_bytes(b"dat")
    assert files.fetch_missing(JOB, cache) == [DATASET_INPUT]
    assert (cache / DATASET_INPUT).read_bytes() == dataset.read_bytes()
    assert not list(cache.rglob("*.part"))


def test_a_unit_uploads_what_it_wrote_and_nothing_of_its_neighbours(
    s3: S3Server, files: JobFiles, tmp_path: Path
) -> None:
    root = tmp_path / "node-cache"
    files.upload(JOB, "eval.npz", _write(tmp_path / "eval.npz", b"eval"))
    files.upload(JOB, "logs/old.log", _write(tmp_path / "old.log", b"for people only"))
    first_wrote, second_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    second_uploaded: list[str] = []

    def second_unit() -> None:  # runs beside the first one, on the same node cache
        try:
            first_wrote.wait(10)
            with unit_directory(files, JOB, root) as unit:
                assert (unit.path / "eval.npz").read_bytes() == b"eval"
                _write(unit.path / "adversarial" / "b.npy", b"second")
            second_uploaded.extend(unit.uploaded)
            second_done.set()
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)
            second_done.set()

    neighbour = threading.Thread(target=second_unit)
    neighbour.start()
    with unit_directory(files, JOB, root) as first:
        assert not (first.path / "logs").exists(), "logs are not fetched to run units"
        _write(first.path / "variants" / "a.onnx", b"first")
        first_wrote.set()
        assert second_done.wait(10)
        uploaded_meanwhile = set(keys(s3, files))
    neighbour.join()
    assert not errors, errors
    # Each unit uploaded its own file only, though both wrote into the same node cache.
    assert (first.uploaded, second_uploaded) == (["variants/a.onnx"], ["adversarial/b.npy"])
    assert uploaded_meanwhile == {"eval.npz", "logs/old.log", "adversarial/b.npy"}
    assert set(keys(s3, files)) == uploaded_meanwhile | {"variants/a.onnx"}
    # Both outputs are in the node's cache for its next units; no private dir is left.
    assert (root / JOB / "variants" / "a.onnx").read_bytes() == b"first"
    assert (root / JOB / "adversarial" / "b.npy").read_bytes() == b"second"
    assert not list((root / ".units").iterdir())


def test_a_rewritten_file_is_uploaded_and_a_failed_unit_uploads_nothing(
    s3: S3Server, files: JobFiles, tmp_path: Path
) -> None:
    root = tmp_path / "node-cache"
    files.upload(JOB, "search/cache.json", _write(tmp_path / "c.json", b"{}"))
    with unit_directory(files, JOB, root) as unit:
        (unit.path / "search" / "cache.json").write_bytes(b'{"candidates": 3}')
        _write(unit.path / "search" / "new.json", b"[]")
    assert unit.uploaded == ["search/cache.json", "search/new.json"]
    assert keys(s3, files)["search/cache.json"] == len(b'{"candidates": 3}')

    with pytest.raises(RuntimeError, match="unit broke"), unit_directory(files, JOB, root) as unit:
        _write(unit.path / "variants" / "half.onnx", b"partial")
        raise RuntimeError("unit broke")
    assert "variants/half.onnx" not in keys(s3, files)
    assert not (root / JOB / "variants" / "half.onnx").exists()


def test_idle_jobs_and_orphaned_unit_dirs_leave_the_node_cache(
    s3: S3Server, files: JobFiles, tmp_path: Path
) -> None:
    root = tmp_path / "node-cache"
    old_job, orphan = root / "old-job", root / ".units" / "old-job-1234"
    for folder in (old_job, orphan):
        _write(folder / "eval.npz", b"x")
        os.utime(folder, (1, 1))  # last touched in 1970
    recent = _write(root / "recent-job" / "eval.npz", b"x").parent
    with unit_directory(files, JOB, root):
        pass
    assert not old_job.exists() and not orphan.exists()
    assert recent.exists() and (root / JOB).exists()


def test_a_missing_bucket_is_named_at_start_up(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3.environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ObjectStoreError, match="s3://no-such-bucket/p: NoSuchBucket"):
        JobFiles(ObjectStoreLocation.parse("s3://no-such-bucket/p")).check()


def test_without_boto3_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # makes `import boto3` fail
    with pytest.raises(ObjectStoreError, match=r"pip install 'robustedge\[s3\]'"):
        JobFiles(ObjectStoreLocation("b"))


def test_the_server_refuses_an_artifact_store_without_ray(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    code = server_main(["--data-dir", str(tmp_path), "--artifact-store", "s3://b/p"])
    assert code == 2
    assert "--artifact-store is for --executor ray" in caplog.text


def _write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path
