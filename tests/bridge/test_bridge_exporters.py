"""Graphs as exporters write them: TorchScript at opsets 7-21, tf2onnx NHWC, dynamo."""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from robustedge.bridge import convert, gradient_nonzero_fraction


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


class SmallNet(nn.Module):
    """Conv/BN/pooling/view/softmax: what a user's CNN export contains."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, groups=2)
        self.fc = nn.Linear(8 * 3 * 3, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv1(x)))
        x = nn.functional.max_pool2d(x, 2, ceil_mode=True)
        x = nn.functional.leaky_relu(self.conv2(x))
        x = nn.functional.avg_pool2d(x, 1)
        x = x.view(x.size(0), -1)  # Shape -> Gather -> Unsqueeze -> Concat -> Reshape
        return torch.softmax(self.fc(x), dim=1)


@pytest.fixture(scope="module")
def small_net() -> SmallNet:
    torch.manual_seed(0)
    net = SmallNet().eval()
    with torch.no_grad():
        net.bn.running_mean.uniform_(-1, 1)
        net.bn.running_var.uniform_(0.5, 2)
    return net


def torchscript_export(net: nn.Module, x: torch.Tensor, opset: int) -> onnx.ModelProto:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (x,),
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "n"}, "y": {0: "n"}},
            do_constant_folding=opset % 2 == 0,  # both folded and unfolded graphs
        )
    return onnx.load_from_string(buffer.getvalue())


@pytest.mark.parametrize("opset", [7, 8, 9, 10, 11, 13, 15, 17, 18, 19, 20, 21])
def test_torchscript_export_at_opset(small_net, opset):
    x = torch.rand(4, 3, 13, 13)
    model = torchscript_export(small_net, x, opset)
    bridged = convert(model)
    assert bridged.pre_softmax
    for batch in (x, torch.rand(1, 3, 13, 13)):
        reference = session(model).run(None, {"x": batch.numpy()})[0]
        np.testing.assert_allclose(bridged.outputs(batch.numpy()), reference, atol=1e-5)
    logits = bridged.module(x)
    np.testing.assert_allclose(
        torch.softmax(logits, 1).detach().numpy(), small_net(x).detach().numpy(), atol=1e-5
    )


def test_tf2onnx_style_nhwc_graph():
    """NHWC input, Transpose into NCHW and back, Reshape, MatMul + Add, Softmax."""
    rng = np.random.default_rng(0)
    init = [
        numpy_helper.from_array(rng.normal(size=(6, 2, 3, 3)).astype(np.float32), "k"),
        numpy_helper.from_array(rng.normal(size=6).astype(np.float32), "kb"),
        numpy_helper.from_array(np.array([-1, 4 * 4 * 6], np.int64), "flat"),
        numpy_helper.from_array(rng.normal(size=(96, 10)).astype(np.float32), "dense"),
        numpy_helper.from_array(rng.normal(size=10).astype(np.float32), "dense_b"),
    ]
    nodes = [
        helper.make_node("Transpose", ["x"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "k", "kb"], ["c"], auto_pad="SAME_UPPER", strides=[2, 2]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Transpose", ["r"], ["nhwc"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["nhwc", "flat"], ["f"]),
        helper.make_node("MatMul", ["f", "dense"], ["m"]),
        helper.make_node("Add", ["m", "dense_b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "tf2onnx",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["unk__0", 8, 8, 2])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["unk__0", 10])],
        init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    bridged = convert(model)
    assert bridged.pre_softmax
    assert set(bridged.weights) == {"k", "kb", "dense"}
    x = rng.random((5, 8, 8, 2), dtype=np.float32)
    np.testing.assert_allclose(bridged.outputs(x), session(model).run(None, {"x": x})[0], atol=1e-5)
    assert gradient_nonzero_fraction(bridged, x, np.arange(5) % 10) > 0.5


def test_dynamo_style_graph_opset18():
    """What torch's dynamo exporter emits: opset 18 ReduceMean with axes input,
    MatMul against a transposed initializer, Reshape to constant shapes, Gelu-free MLP."""
    rng = np.random.default_rng(1)
    init = [
        numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "conv.weight"),
        numpy_helper.from_array(np.array([2, 3], np.int64), "axes"),
        numpy_helper.from_array(rng.normal(size=(4, 6)).astype(np.float32), "fc.weight_t"),
        numpy_helper.from_array(rng.normal(size=6).astype(np.float32), "fc.bias"),
        numpy_helper.from_array(np.array([1], np.int64), "one"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "conv.weight"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["c"], ["s"]),
        helper.make_node("Mul", ["c", "s"], ["silu"]),
        helper.make_node("ReduceMean", ["silu", "axes"], ["pooled"], keepdims=0),
        helper.make_node("MatMul", ["pooled", "fc.weight_t"], ["mm"]),
        helper.make_node("Add", ["mm", "fc.bias"], ["logits"]),
        helper.make_node("LogSoftmax", ["logits"], ["out"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "dynamo",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["s0", 3, 6, 6])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["s0", 6])],
        init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    bridged = convert(model)
    assert bridged.pre_softmax
    x = rng.random((3, 3, 6, 6), dtype=np.float32)
    np.testing.assert_allclose(bridged.outputs(x), session(model).run(None, {"x": x})[0], atol=1e-5)


class DynamoNet(nn.Module):
    """SmallNet's layers plus what the dynamo exporter decomposes differently from
    TorchScript: adaptive pooling, flatten, SiLU and a log-softmax head."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.SiLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, stride=2, groups=2),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.head(self.features(x)), dim=1)


def test_dynamo_export_of_a_cnn():
    """A real ``torch.onnx.export(..., dynamo=True)`` graph (needs onnxscript)."""
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    net = DynamoNet().eval()
    with torch.no_grad():
        net.features[1].running_mean.uniform_(-1, 1)
        net.features[1].running_var.uniform_(0.5, 2)
    x = torch.rand(4, 3, 12, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            net,
            (x,),
            dynamo=True,
            input_names=["x"],
            output_names=["y"],
            dynamic_shapes={"x": {0: torch.export.Dim("n", min=1, max=1024)}},
            verbose=False,
        )
    assert program is not None
    model = program.model_proto
    assert {n.op_type for n in model.graph.node} >= {"Conv", "LogSoftmax"}
    bridged = convert(model)
    assert bridged.pre_softmax
    for batch in (x, torch.rand(1, 3, 12, 12)):
        reference = session(model).run(None, {"x": batch.numpy()})[0]
        np.testing.assert_allclose(bridged.outputs(batch.numpy()), reference, atol=1e-5)
    np.testing.assert_allclose(
        torch.log_softmax(bridged.module(x), 1).detach().numpy(),
        net(x).detach().numpy(),
        atol=1e-5,
    )
    assert gradient_nonzero_fraction(bridged, x.numpy(), np.arange(4) % 5) > 0.5
