"""Bad input gets a clear message and the right status code; the server keeps serving."""

from __future__ import annotations

import hashlib

import grpc
import numpy as np
import pytest

from robustedge.client import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    ServiceError,
)
from robustedge.client import messages as pb
from robustedge.v1 import evaluation_pb2_grpc as pb_grpc

FORBIDDEN_IN_DETAILS = ("Traceback", "/work/", "/tmp/", "site-packages", '.py"', 'File "')


def _assert_clean(error: ServiceError) -> None:
    text = str(error)
    for marker in FORBIDDEN_IN_DETAILS:
        assert marker not in text, f"{marker!r} leaked in {text!r}"


def _expect(exc_type, call, *args, match: str, **kwargs):
    with pytest.raises(exc_type, match=match) as info:
        call(*args, **kwargs)
    _assert_clean(info.value)
    return info.value


@pytest.fixture
def uploaded(client, digits):
    return client.upload_model(digits.model), client.upload_dataset(digits.dataset)


def test_not_an_onnx_file(client, tmp_path):
    junk = tmp_path / "model.onnx"
    junk.write_bytes(b"this is not a model at all" * 10)
    _expect(InvalidArgumentError, client.upload_model, junk, match="not an ONNX model")


def test_pickle_posing_as_onnx_is_refused_unopened(client, tmp_path):
    import pickle

    fake = tmp_path / "model.onnx"
    fake.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    _expect(InvalidArgumentError, client.upload_model, fake, match="pickle")


def test_truncated_model(client, digits, tmp_path):
    data = digits.model.read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) // 2])
    _expect(InvalidArgumentError, client.upload_model, cut, match="ONNX")


def test_dataset_without_labels(client, tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, x=np.zeros((4, 1, 8, 8), np.float32))
    _expect(InvalidArgumentError, client.upload_dataset, path, match="'y'")


def test_dataset_that_is_not_npz(client, tmp_path):
    path = tmp_path / "data.npz"
    path.write_bytes(b"\x00" * 100)
    _expect(InvalidArgumentError, client.upload_dataset, path, match="npz")


def test_dataset_with_nan(client, tmp_path):
    path = tmp_path / "data.npz"
    x = np.zeros((4, 1, 8, 8), np.float32)
    x[0, 0, 0, 0] = np.nan
    np.savez(path, x=x, y=np.zeros(4, np.int64))
    _expect(InvalidArgumentError, client.upload_dataset, path, match="NaN")


def test_dataset_shape_that_does_not_fit_the_model(client, uploaded, tmp_path):
    path = tmp_path / "wrong.npz"
    np.savez(path, x=np.zeros((4, 1, 6, 6), np.float32), y=np.zeros(4, np.int64))
    dataset = client.upload_dataset(path)
    _expect(InvalidArgumentError, client.submit, uploaded[0], dataset, match="shape")


def test_labels_outside_the_model_classes(client, uploaded, tmp_path):
    path = tmp_path / "labels.npz"
    np.savez(path, x=np.zeros((4, 1, 8, 8), np.float32), y=np.array([0, 1, 2, 12]))
    dataset = client.upload_dataset(path)
    _expect(InvalidArgumentError, client.submit, uploaded[0], dataset, match="classes")


def test_unknown_ids(client, uploaded):
    _expect(NotFoundError, client.job, "no-such-job", match="unknown job")
    _expect(NotFoundError, client.report, "no-such-job", match="unknown job")
    _expect(NotFoundError, client.submit, "0" * 64, uploaded[1], match="unknown model")
    _expect(NotFoundError, client.submit, uploaded[0], "nope", match="unknown dataset")


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"attacks": [{"attack": "nosuch", "epsilons": [0.1]}]}, "nosuch"),
        ({"attacks": [{"attack": "pgd", "epsilons": []}]}, "epsilons"),
        ({"attacks": [{"attack": "pgd", "epsilons": [5.0]}]}, "epsilons"),
        ({"attacks": [{"attack": "pgd", "epsilons": [0.1], "steps": -3}]}, "steps"),
        ({"attacks": [{"attack": "fgsm", "epsilons": [0.1]}], "gates": ["robust_accuracy >="]},
         "gates"),
        ({"variants": [{"name": "base", "steps": [{"compressor": "quantize"}]}]}, "base"),
        ({"variants": [{"name": "v", "steps": [{"compressor": "prune", "sparsity": 1.5}]}]},
         "sparsity"),
        ({"variants": [{"name": "v", "steps": [{"compressor": "nosuch"}]}]}, "nosuch"),
        ({"preset": "nosuch"}, "preset"),
        ({"latency": {"providers": ["gpu9000"]}}, "provider"),
    ],
)  # fmt: skip
def test_invalid_specs_name_the_problem(client, uploaded, spec, match):
    _expect(InvalidArgumentError, client.submit, *uploaded, spec=spec, match=match)


def test_upload_with_wrong_sha256(server, digits):
    data = digits.model.read_bytes()
    header = pb.UploadHeader(filename="m.onnx", size_bytes=len(data), sha256="0" * 64)
    chunks = [pb.UploadChunk(header=header), pb.UploadChunk(data=data)]
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.EvaluationServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.UploadModel(iter(chunks))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "sha256 mismatch" in info.value.details()
    leftovers = list((server.data_dir / "artifacts" / "tmp").iterdir())
    assert leftovers == []


def test_upload_with_wrong_size_or_no_header(server, digits):
    data = digits.model.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.EvaluationServiceStub(channel)
        header = pb.UploadHeader(filename="m.onnx", size_bytes=len(data) - 1, sha256=sha)
        with pytest.raises(grpc.RpcError) as info:
            stub.UploadModel(iter([pb.UploadChunk(header=header), pb.UploadChunk(data=data)]))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as info:
            stub.UploadModel(iter([pb.UploadChunk(data=data)]))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "header" in info.value.details()


def test_report_of_a_running_job_is_a_failed_precondition(client, uploaded):
    spec = {"samples": 300, "attacks": [{"attack": "pgd", "epsilons": [0.1, 0.2], "steps": 40}]}
    job = client.submit(*uploaded, spec=spec)
    try:
        with pytest.raises(FailedPreconditionError):
            client._call(client._stub.GetReport, pb.GetReportRequest(job_id=job.id))
    finally:
        client.cancel(job)


def test_server_keeps_serving_after_bad_input(client):
    assert client.capabilities().attacks
