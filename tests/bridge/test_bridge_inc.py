"""Digits models quantized by Intel Neural Compressor (through robustedge.compressors)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from quantized_models import output_step

from robustedge.bridge import convert, gradient_nonzero_fraction, measure_fidelity

pytestmark = pytest.mark.slow  # INC's import and calibration take several seconds


@pytest.mark.parametrize(
    "params",
    [
        {"approach": "static", "format": "qdq", "per_channel": True},
        {"approach": "static", "format": "qoperator", "per_channel": True},
        {"approach": "dynamic"},
    ],
    ids=["qdq_channel", "qoperator_channel", "dynamic"],
)
def test_inc_quantized_digits(digits, tmp_path, params):
    quantize = pytest.importorskip("robustedge.compressors.quantize")
    base = pytest.importorskip("robustedge.compressors.base")
    pytest.importorskip("neural_compressor")
    train = np.load(digits.train)
    data = np.load(digits.dataset)
    compressor = quantize.QuantizeCompressor()
    compression_data = base.CompressionData(
        calib_x=train["x"][:100],
        calib_y=train["y"][:100],
        train_x=train["x"],
        train_y=train["y"],
        input_name="input",
        seed=0,
        work_dir=tmp_path,
    )
    model = compressor.apply(
        onnx.load(digits.model), compressor.parse_config(params), compression_data
    )
    path = tmp_path / "int8.onnx"
    onnx.save(model, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    bridged = convert(model)
    fidelity = measure_fidelity(bridged, session, data["x"])
    assert fidelity.top1_agreement >= 0.99
    step = output_step(path)
    assert fidelity.max_abs_diff <= (step * 1.0001 if step else 1e-4)
    x, y = data["x"][:128], data["y"][:128]
    assert gradient_nonzero_fraction(bridged, x, y) > 0.5
    assert gradient_nonzero_fraction(convert(model, gradient="exact"), x, y) < 1e-3
