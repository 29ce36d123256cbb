"""Tiny float CNN graphs built in code for the channel-surgery and pruning tests."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class GraphBuilder:
    """Builds small float CNN graphs with seeded random weights."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def _name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def const(self, array: np.ndarray, prefix: str = "w") -> str:
        name = self._name(prefix)
        self.inits.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        out = self._name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out + "_node", **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, k: int = 3, group: int = 1) -> str:
        weight = self.const(self.rng.normal(0, 0.5, (cout, cin // group, k, k)))
        bias = self.const(self.rng.normal(0, 0.1, cout), "b")
        pad = k // 2
        return self.node("Conv", [x, weight, bias], pads=[pad] * 4, group=group)

    def batchnorm(self, x: str, channels: int) -> str:
        scale = self.const(self.rng.uniform(0.5, 1.5, channels), "bn")
        shift = self.const(self.rng.normal(0, 0.1, channels), "bn")
        mean = self.const(self.rng.normal(0, 0.1, channels), "bn")
        var = self.const(self.rng.uniform(0.5, 1.5, channels), "bn")
        return self.node("BatchNormalization", [x, scale, shift, mean, var])

    def gemm(self, x: str, features: int, outputs: int) -> str:
        weight = self.const(self.rng.normal(0, 0.2, (outputs, features)))
        bias = self.const(self.rng.normal(0, 0.1, outputs), "b")
        return self.node("Gemm", [x, weight, bias], transB=1)

    def model(self, output: str, rank: int = 2, shape=(1, 3, 8, 8)) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            "tiny",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", *shape[1:]])],
            [
                helper.make_tensor_value_info(
                    output, TensorProto.FLOAT, [f"d{i}" for i in range(rank)]
                )
            ],
            self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def chain_relu_maxpool_flatten_gemm() -> onnx.ModelProto:
    g = GraphBuilder(1)
    x = g.node("Relu", [g.conv("input", 3, 8)])
    x = g.node("MaxPool", [g.node("Relu", [g.conv(x, 8, 12)])], kernel_shape=[2, 2], strides=[2, 2])
    x = g.node("Flatten", [g.node("Relu", [g.conv(x, 12, 6)])], axis=1)
    return g.model(g.gemm(x, 6 * 16, 5))


def residual_with_batchnorm() -> onnx.ModelProto:
    g = GraphBuilder(2)
    a = g.node("Relu", [g.conv("input", 3, 8)])
    b = g.batchnorm(g.conv(g.node("Relu", [g.batchnorm(g.conv(a, 8, 8), 8)]), 8, 8), 8)
    summed = g.node("Relu", [g.node("Add", [a, b])])
    pooled = g.node("GlobalAveragePool", [g.conv(summed, 8, 10)])
    flat = g.node("Flatten", [g.node("Relu", [pooled])], axis=1)
    return g.model(g.gemm(flat, 10, 4))


def depthwise_and_reshape() -> onnx.ModelProto:
    g = GraphBuilder(3)
    x = g.node("Relu", [g.conv("input", 3, 8)])
    x = g.node("Relu", [g.conv(x, 8, 8, group=8)])  # depthwise: channels pass through
    x = g.node("Relu", [g.conv(x, 8, 6, k=1)])
    shape = g.const(np.array([-1, 6 * 64]), "shape")
    g.inits[-1] = numpy_helper.from_array(np.array([-1, 6 * 64], dtype=np.int64), shape)
    flat = g.node("Reshape", [x, shape])
    weight = g.const(g.rng.normal(0, 0.2, (6 * 64, 3)))
    return g.model(g.node("MatMul", [flat, weight]))


def concat_only() -> onnx.ModelProto:
    g = GraphBuilder(4)
    a = g.conv("input", 3, 4)
    b = g.conv("input", 3, 4)
    return g.model(g.node("Concat", [a, b], axis=1), rank=4)
