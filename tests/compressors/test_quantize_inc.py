"""INC 3.7.1 post-training quantization of the digits CNN, scored with onnxruntime."""

from __future__ import annotations

import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

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
    # Judged on the held-out samples calibration did not use (the first 100 calibrate).
    judge_x, judge_y = data.calib_x[100:], data.calib_y[100:]
    held_out_float = ort_helpers.accuracy(digits_case.model, judge_x, judge_y)
    held_out_int8 = ort_helpers.accuracy(built.model, judge_x, judge_y)
    assert held_out_int8 >= held_out_float - 0.01
    assert built.facts["quantized"]


def _mlp() -> onnx.ModelProto:
    """A MatMul-only classifier (64 -> 256 -> 10) for weight-only quantization."""
    rng = np.random.default_rng(0)
    w1 = rng.normal(0, 0.1, (64, 256)).astype(np.float32)
    w2 = rng.normal(0, 0.1, (256, 10)).astype(np.float32)
    nodes = [
        helper.make_node("Flatten", ["input"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w1"], ["hidden"]),
        helper.make_node("Relu", ["hidden"], ["active"]),
        helper.make_node("MatMul", ["active", "w2"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize(("bits", "algorithm"), [(4, "rtn"), (8, "rtn"), (4, "gptq")])
def test_weight_only_matmul(bits, algorithm, digits_case, ort_helpers, tmp_path):
    model = _mlp()
    built = build_variant(
        model,
        [
            {
                "compressor": "quantize",
                "approach": "weight_only",
                "weight_bits": bits,
                "algorithm": algorithm,
            }
        ],
        digits_case.data(tmp_path),
    )
    ops = [n.op_type for n in built.model.graph.node]
    x = digits_case.eval_x[:64]
    reference = ort_helpers.run(model, x)
    error = np.abs(ort_helpers.run(built.model, x) - reference).max() / np.abs(reference).max()
    assert error > 0
    if bits == 4:  # packed 4-bit weights: onnxruntime's MatMulNBits
        assert ops.count("MatMulNBits") == 2
        assert error < 0.25, error
        assert built.facts["size_bytes"] < 0.25 * len(model.SerializeToString())
    else:  # INC simulates 8 bits: float MatMul with weights on the 8-bit grid
        assert ops.count("MatMul") == 2
        assert error < 0.02, error
        for init in built.model.graph.initializer:
            weight = numpy_helper.to_array(init)
            if weight.ndim == 2:  # one 8-bit grid per group of 32 inputs per column
                groups = weight.T.reshape(weight.shape[1], -1, 32)
                steps = np.abs(np.diff(np.sort(groups, axis=2), axis=2))
                assert all(np.unique(g).size <= 256 for g in groups.reshape(-1, 32))
                assert steps.max() > 0


def test_weight_only_on_a_cnn_without_matmul_fails_readably(digits_case, tmp_path):
    with pytest.raises(CompressionError, match="no MatMul"):
        build_variant(
            digits_case.model,
            [{"compressor": "quantize", "approach": "weight_only"}],
            digits_case.data(tmp_path),
        )


def test_inc_failure_reason_reaches_the_error(digits_case, tmp_path):
    data = digits_case.data(tmp_path)
    data.calib_x = np.zeros((20, 1, 4, 4), np.float32)  # wrong image size for the model
    with pytest.raises(CompressionError, match=r"returned no model: .*Got invalid dimensions"):
        build_variant(digits_case.model, [{"compressor": "quantize"}], data)


def test_a_model_inc_cannot_quantize_fails_readably(digits_case, tmp_path):
    # Only elementwise ops: nothing for INC to quantize; INC returns the float graph.
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input"], ["flat"], axis=1),
            helper.make_node("Softmax", ["flat"], ["logits"], axis=1),
        ],
        "nothing_to_quantize",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 64])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with pytest.raises(CompressionError, match="changed no operator"):
        build_variant(model, [{"compressor": "quantize"}], digits_case.data(tmp_path))
