"""Fixtures for the attack tests: the digits model as an AttackTarget.

The differentiable replica is the example's torch network with the weights read back
from the ONNX initializers (the export names them after the state_dict keys), so the
tests do not depend on the ONNX-to-torch bridge.
"""

from __future__ import annotations

from dataclasses import dataclass

import digits as digits_example  # made importable by tests/conftest.py
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper

from robustedge.attacks import AttackTarget


@dataclass
class DigitsCase:
    target: AttackTarget
    x: np.ndarray
    y: np.ndarray
    input_range: tuple[float, float]
    session: ort.InferenceSession

    def predict_labels(self, x: np.ndarray) -> np.ndarray:
        return self.target.predict(x).argmax(axis=1)


def _replica(model_path) -> torch.nn.Module:
    net = digits_example.make_network()
    weights = {
        init.name: torch.from_numpy(numpy_helper.to_array(init).copy())
        for init in onnx.load(str(model_path)).graph.initializer
    }
    net.load_state_dict(weights)
    return net.eval()


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """One intra-op thread: CI has 2 shared cores, and oversubscribed torch threads spin
    instead of working (a 20x slowdown was measured under load). Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def digits_case(digits) -> DigitsCase:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(digits.model), options, providers=["CPUExecutionProvider"])

    def predict(x: np.ndarray) -> np.ndarray:
        return session.run(None, {"input": np.ascontiguousarray(x, dtype=np.float32)})[0]

    data = np.load(digits.dataset)
    lo, hi = (float(v) for v in data["input_range"])
    target = AttackTarget(
        predict=predict, module=_replica(digits.model), num_classes=10, input_shape=(1, 8, 8)
    )
    return DigitsCase(
        target, data["x"].astype(np.float32), data["y"].astype(np.int64), (lo, hi), session
    )


@pytest.fixture(scope="session")
def replica_agrees(digits_case) -> float:
    """Max |logit difference| between the replica and onnxruntime on the eval set."""
    with torch.no_grad():
        torch_logits = digits_case.target.module(torch.from_numpy(digits_case.x)).numpy()
    return float(np.abs(torch_logits - digits_case.target.predict(digits_case.x)).max())


@pytest.fixture(scope="module")
def art_classifier(digits_case):
    """ART's PyTorchClassifier on the digits replica: the reference implementation."""
    art_classification = pytest.importorskip("art.estimators.classification")
    return art_classification.PyTorchClassifier(
        model=digits_case.target.module,
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=digits_case.target.input_shape,
        nb_classes=digits_case.target.num_classes,
        clip_values=digits_case.input_range,
    )
