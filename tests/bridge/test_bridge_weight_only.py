"""Weight-only quantized graphs (com.microsoft MatMulNBits) against onnxruntime.

The packed graphs come from the packers users run: onnxruntime's MatMulNBitsQuantizer
and INC's weight-only quantization through robustedge.compressors. Random packed bytes
of every bit width are covered by the single-operator checks (bridge/op_checks.py).
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from robustedge.bridge import convert

K, HIDDEN, CLASSES = 64, 32, 10


@pytest.fixture(scope="module")
def float_mlp() -> onnx.ModelProto:
    """x [N, 64] -> MatMul 64x32 -> Relu -> MatMul 32x10 (+ bias): two weight-only targets,
    with 2 and 1 blocks of 32 per column (one block: packed zero points padded per row)."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.3, (K, HIDDEN)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.normal(0, 0.3, (HIDDEN, CLASSES)).astype(np.float32), "w2"),
        numpy_helper.from_array(rng.normal(0, 0.1, CLASSES).astype(np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("MatMul", ["r", "w2"], ["z"]),
        helper.make_node("Add", ["z", "b2"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", K])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _check_against_onnxruntime(model: onnx.ModelProto) -> None:
    assert sum(n.op_type == "MatMulNBits" for n in model.graph.node) == 2
    session = _session(model)
    x = np.random.default_rng(1).uniform(-1, 1, (64, K)).astype(np.float32)
    bridged = convert(model)
    reference = session.run(None, {"x": x})[0]
    np.testing.assert_allclose(bridged.outputs(x), reference, rtol=1e-5, atol=1e-5)
    # The gradient is exact: compare it with the Jacobian onnxruntime itself implies.
    # The first layer is linear, so feeding it the identity reads its dequantized weight.
    first = copy.deepcopy(model)
    first.graph.output[0].CopyFrom(helper.make_tensor_value_info("h", TensorProto.FLOAT, None))
    w1 = _session(first).run(None, {"x": np.eye(K, dtype=np.float32)})[0]  # [K, HIDDEN]
    xt = torch.from_numpy(x[:8]).requires_grad_(True)
    (grad,) = torch.autograd.grad(bridged.module.run({"x": xt}, ["h"])[0].sum(), xt)
    np.testing.assert_allclose(grad.numpy(), np.tile(w1.sum(1), (8, 1)), rtol=1e-5, atol=1e-5)
    assert bridged.gradient == "ste"  # nothing rounds: "exact" conversion changes nothing
    logits = convert(model, gradient="exact").module(xt)
    (exact_grad,) = torch.autograd.grad(logits[:, 0].sum(), xt)
    assert float(exact_grad.abs().sum()) > 0


@pytest.mark.parametrize("symmetric", [True, False], ids=["symmetric", "asymmetric"])
def test_onnxruntime_weight_only_quantizer(float_mlp, symmetric):
    nbits = pytest.importorskip("onnxruntime.quantization.matmul_nbits_quantizer")
    logging.getLogger().setLevel(logging.ERROR)
    quantizer = nbits.MatMulNBitsQuantizer(
        copy.deepcopy(float_mlp), block_size=32, is_symmetric=symmetric
    )
    quantizer.process()
    model = quantizer.model.model
    zero_points = [n for n in model.graph.node if n.op_type == "MatMulNBits" and len(n.input) > 3]
    assert bool(zero_points) == (not symmetric)  # asymmetric weights carry zero points
    _check_against_onnxruntime(model)


@pytest.mark.slow  # INC's import takes several seconds
def test_inc_weight_only_through_compressors(float_mlp, tmp_path):
    quantize = pytest.importorskip("robustedge.compressors.quantize")
    base = pytest.importorskip("robustedge.compressors.base")
    pytest.importorskip("neural_compressor")
    x = np.random.default_rng(2).uniform(-1, 1, (32, K)).astype(np.float32)
    y = np.zeros(32, dtype=np.int64)
    compressor = quantize.QuantizeCompressor()
    # group_size 16: an even number of blocks per column. INC packs zero points as one
    # flat nibble stream, which onnxruntime rejects when a column has an odd block count.
    config = compressor.parse_config(
        {"approach": "weight_only", "weight_bits": 4, "group_size": 16, "weight_scheme": "asym"}
    )
    data = base.CompressionData(x, y, x, y, "x", 0, tmp_path)
    _check_against_onnxruntime(compressor.apply(copy.deepcopy(float_mlp), config, data))


def test_accuracy_level_4_is_announced(float_mlp, caplog):
    nbits = pytest.importorskip("onnxruntime.quantization.matmul_nbits_quantizer")
    quantizer = nbits.MatMulNBitsQuantizer(
        copy.deepcopy(float_mlp), block_size=32, accuracy_level=4
    )
    quantizer.process()
    with caplog.at_level(logging.WARNING, logger="robustedge.bridge"):
        convert(quantizer.model.model)
    assert "accuracy_level=4" in caplog.text
