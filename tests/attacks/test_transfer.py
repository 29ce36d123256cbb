"""Transfer threat model: examples crafted on a source model, scored on another target.

The target here is a second digits CNN trained with another seed and exported to ONNX
(standing in for a compressed variant). Examples transferred from the source must be
weaker on it than a white-box attack on the target itself, at every epsilon.
"""

from __future__ import annotations

import digits as digits_example
import numpy as np
import onnxruntime as ort
import pytest

from robustedge.attacks import AttackTarget, get_attack


@pytest.fixture(scope="module")
def other_target(digits, tmp_path_factory) -> AttackTarget:
    x_train, y_train, x_eval, _ = digits_example.load_split(0)
    net = digits_example.train(x_train, y_train, seed=1, epochs=8)
    path = tmp_path_factory.mktemp("other") / "other.onnx"
    digits_example.export_onnx(net, path, x_eval)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def predict(x: np.ndarray) -> np.ndarray:
        return session.run(None, {"input": np.ascontiguousarray(x, dtype=np.float32)})[0]

    return AttackTarget(predict, net, 10, (1, 8, 8))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_transfer_is_weaker_than_white_box(digits_case, other_target):
    x, y = digits_case.x[:200], digits_case.y[:200]
    pgd = get_attack("pgd")
    kwargs = dict(norm="linf", params={"steps": 10}, input_range=digits_case.input_range, seed=0)
    transfer_curve, white_curve = [], []
    for eps in (0.05, 0.1, 0.2):
        crafted_on_source = pgd.generate(digits_case.target, x, y, epsilon=eps, **kwargs)
        on_target = pgd.generate(other_target, x, y, epsilon=eps, **kwargs)
        transfer = float((other_target.predict(crafted_on_source.x_adv).argmax(1) == y).mean())
        white = float((other_target.predict(on_target.x_adv).argmax(1) == y).mean())
        transfer_curve.append(transfer)
        white_curve.append(white)
        assert white <= transfer, (eps, white, transfer)
    clean = float((other_target.predict(x).argmax(1) == y).mean())
    assert transfer_curve[-1] < clean, "transferred examples should still hurt somewhat"
    assert transfer_curve == sorted(transfer_curve, reverse=True)
    assert white_curve == sorted(white_curve, reverse=True)
