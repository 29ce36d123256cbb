"""Float conversion: the digits CNN and tiny graphs against onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from robustedge.bridge import (
    BridgeError,
    UnsupportedOpsError,
    convert,
    gradient_nonzero_fraction,
    measure_fidelity,
)


def session(model: onnx.ModelProto | str) -> ort.InferenceSession:
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(source, providers=["CPUExecutionProvider"])


def tiny_classifier(final: str | None, opset: int = 17) -> onnx.ModelProto:
    """x[N,4] -> Gemm(W[3,4], transB) -> optional Softmax/LogSoftmax."""
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(size=(3, 4)).astype(np.float32), "W")
    bias = numpy_helper.from_array(rng.normal(size=(3,)).astype(np.float32), "B")
    nodes = [helper.make_node("Gemm", ["x", "W", "B"], ["z"], transB=1)]
    out = "z"
    if final:
        nodes.append(helper.make_node(final, ["z"], ["prob"], axis=1))
        out = "prob"
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", 3])],
        [weight, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def test_digits_matches_onnxruntime(digits):
    data = np.load(digits.dataset)
    bridged = convert(digits.model)
    fidelity = measure_fidelity(bridged, session(digits.model), data["x"], batch_size=100)
    assert fidelity.n == len(data["x"])
    assert fidelity.max_abs_diff <= 1e-4
    assert fidelity.top1_agreement == 1.0
    assert not bridged.pre_softmax
    assert bridged.output_name == "logits" and bridged.input_name == "input"


def test_digits_dynamic_batch_and_logits_shape(digits):
    data = np.load(digits.dataset)
    bridged = convert(onnx.load(digits.model))
    sess = session(digits.model)
    for n in (1, 7, 64):
        x = data["x"][:n]
        logits = bridged.module(torch.from_numpy(x))
        assert logits.shape == (n, 10)
        np.testing.assert_allclose(
            logits.detach().numpy(), sess.run(None, {"input": x})[0], atol=1e-4
        )


def test_digits_weights_are_real_layer_parameters(digits):
    bridged = convert(digits.model)
    module = bridged.module
    layers = {type(m) for m in module.modules()}
    assert torch.nn.Conv2d in layers and torch.nn.Linear in layers
    parameters = dict(module.named_parameters())
    initializers = {init.name for init in onnx.load(digits.model).graph.initializer}
    # Every Conv/Gemm weight and bias of the digits CNN (3 Conv + 2 Gemm) is mapped.
    assert len(bridged.weights) == 10
    for init_name, param_name in bridged.weights.items():
        assert init_name in initializers
        assert isinstance(parameters[param_name], torch.nn.Parameter)


def test_digits_input_gradients_are_nonzero(digits):
    data = np.load(digits.dataset)
    bridged = convert(digits.model)
    fraction = gradient_nonzero_fraction(bridged, data["x"][:64], data["y"][:64])
    assert fraction > 0.5


@pytest.mark.parametrize("final", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("opset", [11, 13])
def test_softmax_output_is_stripped_for_logits(final, opset):
    model = tiny_classifier(final, opset)
    bridged = convert(model)
    assert bridged.pre_softmax
    x = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    reference = session(model).run(None, {"x": x})[0]
    np.testing.assert_allclose(bridged.outputs(x), reference, atol=1e-5)
    logits = bridged.module(torch.from_numpy(x)).detach().numpy()
    raw = session(tiny_classifier(None, opset)).run(None, {"x": x})[0]
    np.testing.assert_allclose(logits, raw, atol=1e-5)


def test_unsupported_ops_are_all_named():
    graph = helper.make_graph(
        [
            helper.make_node("Relu", ["x"], ["a"]),
            helper.make_node("NonMaxSuppression", ["a", "a"], ["b"]),
            helper.make_node("FancyOp", ["a"], ["c"], domain="com.example"),
            helper.make_node("NonMaxSuppression", ["c", "c"], ["d"]),
        ],
        "bad",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("d", TensorProto.INT64, None)],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]
    )
    with pytest.raises(UnsupportedOpsError) as caught:
        convert(model)
    assert caught.value.ops == ["ai.onnx::NonMaxSuppression", "com.example::FancyOp"]
    assert "ai.onnx::NonMaxSuppression" in str(caught.value)
    assert "com.example::FancyOp" in str(caught.value)
    assert isinstance(caught.value, BridgeError)


def test_initializers_listed_as_inputs_are_constants():
    # Old model-zoo graphs declare every initializer as a graph input too.
    model = tiny_classifier("Softmax", opset=9)
    model.graph.input.extend(
        [
            helper.make_tensor_value_info("W", TensorProto.FLOAT, [3, 4]),
            helper.make_tensor_value_info("B", TensorProto.FLOAT, [3]),
        ]
    )
    bridged = convert(model)
    assert bridged.input_name == "x"
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(bridged.outputs(x), session(model).run(None, {"x": x})[0], atol=1e-6)


def test_exact_gradient_switch_validated():
    with pytest.raises(ValueError):
        convert(tiny_classifier(None), gradient="rounded")  # type: ignore[arg-type]


def test_unsupported_attribute_fails_at_conversion():
    # AveragePool with dilations (opset 19) is registered but not implemented: the
    # zero-batch smoke run at conversion reports it instead of a later attack.
    graph = helper.make_graph(
        [helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], dilations=[2, 2])],
        "dilated",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    with pytest.raises(BridgeError, match="dilations are not supported"):
        convert(model)
