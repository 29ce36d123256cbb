"""INC 3.7.1 post-training quantization of the digits CNN, scored with onnxruntime."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from robustedge.compressors import CompressionError, build_variant, get_compressor
from robustedge.compressors.onnx_compat import install_onnx_mapping_shim

pytestmark = pytest.mark.slow  # the first INC import alone takes several seconds


def test_onnx_mapping_shim_provides_the_tables_inc_reads():
    install_onnx_mapping_shim()
    import onnx

    mapping = sys.modules["onnx.mapping"]
    assert onnx.mapping is mapping
    assert mapping.NP_TYPE_TO_TENSOR_TYPE[np.dtype("int8")] == onnx.TensorProto.INT8
    assert mapping.NP_TYPE_TO_TENSOR_TYPE[np.dtype("uint8")] == onnx.TensorProto.UINT8
    assert mapping.NP_TYPE_TO_TENSOR_TYPE[np.dtype("float32")] == onnx.TensorProto.FLOAT
    assert mapping.TENSOR_TYPE_TO_NP_TYPE[onnx.TensorProto.INT8] == np.dtype("int8")
    assert install_onnx_mapping_shim() is False  # idempotent


def test_static_qdq_is_small_and_keeps_accuracy(digits_case, ort_helpers, tmp_path):
    base_accuracy = ort_helpers.accuracy(digits_case.model, digits_case.eval_x, digits_case.eval_y)
    built = build_variant(
        digits_case.model,
        [{"compressor": "quantize", "approach": "static", "format": "qdq"}],
        digits_case.data(tmp_path),
    )
    ops = {node.op_type for node in built.model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    float_size = digits_case.model_path.stat().st_size
    assert built.facts["size_bytes"] <= 0.35 * float_size
    accuracy = ort_helpers.accuracy(built.model, digits_case.eval_x, digits_case.eval_y)
    assert accuracy >= base_accuracy - 0.02
    assert built.facts["quantized"] is True
    assert built.facts["max_unique_weights"] <= 256
    assert built.facts["steps"][0]["calibration_samples"] == 100
    assert not list(tmp_path.parent.glob("nc_workspace")), "INC workspace leaked into cwd"


def test_static_qoperator_per_tensor(digits_case, ort_helpers, tmp_path):
    base_accuracy = ort_helpers.accuracy(digits_case.model, digits_case.eval_x, digits_case.eval_y)
    built = build_variant(
        digits_case.model,
        [
            {
                "compressor": "quantize",
                "format": "qoperator",
                "per_channel": False,
                "calibration_samples": 64,
            }
        ],
        digits_case.data(tmp_path),
    )
    ops = {node.op_type for node in built.model.graph.node}
    assert "QLinearConv" in ops
    # Per-tensor: every QLinearConv weight scale is a single number.
    inits = {init.name: init for init in built.model.graph.initializer}
    for node in built.model.graph.node:
        if node.op_type == "QLinearConv":
            assert list(inits[node.input[4]].dims) in ([], [1])
    assert built.facts["steps"][0]["calibration_samples"] == 64
    accuracy = ort_helpers.accuracy(built.model, digits_case.eval_x, digits_case.eval_y)
    assert accuracy >= base_accuracy - 0.02


def test_dynamic_quantization_runs_without_calibration(digits_case, ort_helpers, tmp_path):
    data = digits_case.data(tmp_path)
    data.calib_x, data.calib_y = data.calib_x[:0], data.calib_y[:0]
    built = build_variant(
        digits_case.model, [{"compressor": "quantize", "approach": "dynamic"}], data
    )
    ops = {node.op_type for node in built.model.graph.node}
    assert "DynamicQuantizeLinear" in ops and "ConvInteger" in ops
    assert built.facts["size_bytes"] <= 0.35 * digits_case.model_path.stat().st_size
    accuracy = ort_helpers.accuracy(built.model, digits_case.eval_x, digits_case.eval_y)
    base_accuracy = ort_helpers.accuracy(digits_case.model, digits_case.eval_x, digits_case.eval_y)
    assert accuracy >= base_accuracy - 0.02


def test_static_without_calibration_samples_fails_readably(digits_case, tmp_path):
    data = digits_case.data(tmp_path)
    data.calib_x, data.calib_y = data.calib_x[:0], data.calib_y[:0]
    with pytest.raises(CompressionError, match="calibration samples"):
        build_variant(digits_case.model, [{"compressor": "quantize"}], data)


def test_quantizing_a_quantized_model_fails_readably(digits_case, tmp_path):
    quantize = get_compressor("quantize")
    config = quantize.parse_config({"approach": "dynamic"})
    once = quantize.apply(digits_case.model, config, digits_case.data(tmp_path))
    with pytest.raises(CompressionError, match="already quantized"):
        quantize.apply(once, config, digits_case.data(tmp_path))


def test_accuracy_aware_tuning_meets_its_tolerance(digits_case, ort_helpers, tmp_path):
    data = digits_case.data(tmp_path)
    built = build_variant(
        digits_case.model,
        [
            {
                "compressor": "quantize",
                "accuracy_tolerance": 0.01,
                "tolerance_type": "absolute",
                "max_trials": 5,
            }
        ],
        data,
    )
    held_out_float = ort_helpers.accuracy(digits_case.model, data.calib_x, data.calib_y)
    held_out_int8 = ort_helpers.accuracy(built.model, data.calib_x, data.calib_y)
    assert held_out_int8 >= held_out_float - 0.01
    assert built.facts["quantized"]
