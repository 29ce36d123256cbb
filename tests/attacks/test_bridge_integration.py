"""Attacks through the real ONNX-to-torch bridge, on a float and an int8 (QDQ) model.

The int8 model is quantized with onnxruntime's own static quantizer (no INC needed).
Under the bridge's straight-through gradients, PGD breaks the int8 model about as
well as the float one; under exact gradients (rounding has zero derivative) PGD
fails, and the sanity checks must say so: vanishing gradients, and a black-box attack
stronger than the white-box one.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from robustedge.attacks import AttackTarget, get_attack, sanity

bridge = pytest.importorskip("robustedge.bridge")
quantization = pytest.importorskip("onnxruntime.quantization")

N = 120
EPS = 0.1


@pytest.fixture(scope="module")
def int8_model(digits, tmp_path_factory):
    x = np.load(digits.train)["x"][:200].astype(np.float32)

    class Reader(quantization.CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter([{"input": x[i : i + 20]} for i in range(0, len(x), 20)])

        def get_next(self):
            return next(self._batches, None)

    path = tmp_path_factory.mktemp("int8") / "int8.onnx"
    quantization.quantize_static(
        str(digits.model), str(path), Reader(), quant_format=quantization.QuantFormat.QDQ
    )
    return path


def _target(path, gradient):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def predict(x):
        return session.run(None, {"input": np.ascontiguousarray(x, dtype=np.float32)})[0]

    module = bridge.convert(str(path), gradient=gradient).module
    return AttackTarget(predict, module, 10, (1, 8, 8))


def _robust_accuracy(target, attack, x, y, params):
    t = target if attack != "square" else AttackTarget(target.predict, None, 10, (1, 8, 8))
    run = get_attack(attack).generate(
        t, x, y, epsilon=EPS, norm="linf", params=params, input_range=(0.0, 1.0), seed=0
    )
    return float((target.predict(run.x_adv).argmax(1) == y).mean())


def test_bridge_gradients_and_masking_flags(digits, digits_case, int8_model):
    x, y = digits_case.x[:N], digits_case.y[:N]
    float_ste = _target(digits.model, "ste")
    int8_ste, int8_exact = _target(int8_model, "ste"), _target(int8_model, "exact")

    pgd = {"steps": 10}
    acc_float = _robust_accuracy(float_ste, "pgd", x, y, pgd)
    acc_ste = _robust_accuracy(int8_ste, "pgd", x, y, pgd)
    acc_exact = _robust_accuracy(int8_exact, "pgd", x, y, pgd)
    clean = float((int8_exact.predict(x).argmax(1) == y).mean())
    assert acc_ste <= acc_float + 0.05  # STE gradients work on the int8 graph
    assert acc_exact >= clean - 0.05  # exact gradients are masked: PGD achieves ~nothing

    frac_ste = sanity.gradient_nonzero_fraction(int8_ste.module, x, y)
    frac_exact = sanity.gradient_nonzero_fraction(int8_exact.module, x, y)
    assert sanity.check_gradients("int8", frac_ste) == []
    assert [f["code"] for f in sanity.check_gradients("int8", frac_exact)] == [
        sanity.VANISHING_GRADIENTS
    ]

    acc_square = _robust_accuracy(int8_exact, "square", x, y, {"queries": 300})
    rows = [
        {"attack": a, "mode": m, "epsilon": EPS, "norm": "linf", "source_variant": "int8",
         "target_variant": "int8", "robust_accuracy": acc, "n": N}
        for a, m, acc in (("pgd", "white_box", acc_exact), ("square", "black_box", acc_square))
    ]  # fmt: skip
    assert [f["code"] for f in sanity.check_black_box_vs_white_box(rows)] == [
        sanity.BLACK_BOX_STRONGER
    ]
