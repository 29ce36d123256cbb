"""Round trip: convert, edit the torch weights, write back, onnxruntime agrees."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper

from robustedge.bridge import convert, write_back


def run_onnx(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


def test_digits_round_trip_after_pruning(digits):
    model = onnx.load(digits.model)
    x = np.load(digits.dataset)["x"][:50]
    bridged = convert(model)
    before = run_onnx(model, {"input": x})
    with torch.no_grad():
        for _, param_name in bridged.weights.items():
            param = bridged.module.get_parameter(param_name)
            # Zero the smaller half (magnitude pruning) and perturb the rest.
            threshold = param.abs().flatten().median()
            param.mul_((param.abs() > threshold).float() * 1.1)
    edited = write_back(model, bridged)
    expected = bridged.module(torch.from_numpy(x)).detach().numpy()
    after = run_onnx(edited, {"input": x})
    np.testing.assert_allclose(after, expected, atol=1e-4)
    assert np.abs(after - before).max() > 1e-2  # the edit really changed the model
    # Nothing but the initializer values changed.
    assert [n.SerializeToString() for n in edited.graph.node] == [
        n.SerializeToString() for n in model.graph.node
    ]
    assert [(i.name, list(i.dims), i.data_type) for i in edited.graph.initializer] == [
        (i.name, list(i.dims), i.data_type) for i in model.graph.initializer
    ]
    assert edited.graph.input == model.graph.input and edited.opset_import == model.opset_import
    # The original is untouched.
    np.testing.assert_array_equal(run_onnx(model, {"input": x}), before)


def test_round_trip_transposed_gemm_and_matmul():
    rng = np.random.default_rng(0)
    gemm_b = rng.normal(size=(4, 5)).astype(np.float32)  # [K, N], transB=0
    matmul_b = rng.normal(size=(5, 3)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["x", "GB", "GC"], ["h"], alpha=0.5, beta=2.0),
            helper.make_node("MatMul", ["h", "MB"], ["y"]),
        ],
        "lin",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [
            numpy_helper.from_array(gemm_b, "GB"),
            numpy_helper.from_array(rng.normal(size=(1, 5)).astype(np.float32), "GC"),
            numpy_helper.from_array(matmul_b, "MB"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    bridged = convert(model)
    assert set(bridged.weights) == {"GB", "GC", "MB"}
    assert bridged.layouts["GB"] == "transpose" and bridged.layouts["GC"] == "reshape"
    x = rng.normal(size=(6, 4)).astype(np.float32)
    np.testing.assert_allclose(bridged.outputs(x), run_onnx(model, {"x": x}), atol=1e-5)
    with torch.no_grad():
        for param in bridged.module.parameters():
            param.add_(torch.linspace(-1, 1, param.numel()).reshape(param.shape))
    edited = write_back(model, bridged)
    np.testing.assert_allclose(
        run_onnx(edited, {"x": x}), bridged.module(torch.from_numpy(x)).detach().numpy(), atol=1e-5
    )


def test_weight_behind_identity_is_owned_and_written_back():
    # TorchScript exports sometimes route a parameter through Identity.
    rng = np.random.default_rng(1)
    weight = rng.normal(size=(4, 2, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Identity", ["conv.weight"], ["onnx::Conv_7"]),
            helper.make_node("Conv", ["x", "onnx::Conv_7"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Flatten", ["c"], ["y"]),
        ],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 100])],
        [numpy_helper.from_array(weight, "conv.weight")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    bridged = convert(model)
    assert bridged.weights == {"conv.weight": next(iter(bridged.weights.values()))}
    assert isinstance(
        bridged.module.get_parameter(bridged.weights["conv.weight"]), torch.nn.Parameter
    )
    x = rng.normal(size=(3, 2, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(bridged.outputs(x), run_onnx(model, {"x": x}), atol=1e-5)
    with torch.no_grad():
        bridged.module.get_parameter(bridged.weights["conv.weight"]).mul_(-0.5)
    edited = write_back(model, bridged)
    np.testing.assert_allclose(
        run_onnx(edited, {"x": x}), bridged.module(torch.from_numpy(x)).detach().numpy(), atol=1e-5
    )
