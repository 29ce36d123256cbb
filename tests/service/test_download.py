"""Adversarial examples kept as downloadable files (spec keep_adversarial)."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from robustedge.client import NotFoundError, RobustEdgeError
from robustedge.client import messages as pb

SPEC = {
    "samples": 40,
    "keep_adversarial": True,
    "attacks": [{"attack": "fgsm", "epsilons": [0.05, 0.2]}],
    "latency": {"disabled": True},
}


@pytest.fixture(scope="module")
def finished(server, digits):
    from robustedge.client import Client

    with Client(server.address) as client:
        model, dataset = client.upload_model(digits.model), client.upload_dataset(digits.dataset)
        job = client.submit(model, dataset, spec=SPEC)
        return client.report(job).report


def test_every_attack_and_epsilon_is_listed(finished):
    names = sorted(f.name for f in finished.files)
    assert names == [
        "adversarial/fgsm-a0-base-eps0.05.npz",
        "adversarial/fgsm-a0-base-eps0.2.npz",
    ]
    assert all(f.size_bytes > 0 and len(f.sha256) == 64 for f in finished.files)


def test_downloaded_examples_reproduce_the_reported_accuracy(client, finished, tmp_path):
    row = next(a for a in finished.attacks if a.epsilon == pytest.approx(0.2))
    path = client.download(finished.job_id, "adversarial/fgsm-a0-base-eps0.2.npz", tmp_path / "a")
    with np.load(path) as kept:
        x, y, predicted = kept["x"], kept["y"], kept["predicted"]
    assert x.shape == (40, 1, 8, 8) and x.dtype == np.float32
    assert (predicted == y).mean() == pytest.approx(row.robust_accuracy)
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_names_outside_the_listed_files_are_not_found(client, finished, tmp_path):
    with pytest.raises(RobustEdgeError, match="kept no file"):
        client.download(finished.job_id, "../robustedge.sqlite", tmp_path / "x")
    request = pb.DownloadJobFileRequest(job_id=finished.job_id, name="../../robustedge.sqlite")
    with pytest.raises(grpc.RpcError) as info:
        list(client._stub.DownloadJobFile(request))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(NotFoundError):
        client.download("no-such-job", "x", tmp_path / "y")
