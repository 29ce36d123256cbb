"""Rewrites QDQ node groups into the integer operators onnxruntime actually runs.

onnxruntime does not execute a QDQ graph as written: its graph optimizer replaces
``DequantizeLinear -> Conv -> QuantizeLinear`` (and the MatMul and Gemm equivalents)
with ``QLinearConv`` / ``QLinearMatMul`` / ``QGemm`` kernels, which accumulate in int32
and requantize once. Simulating the QDQ graph in float instead rounds at different
points, so outputs land one quantization step away here and there. To reproduce what
the shipped runtime computes, the bridge applies the same fusions before converting:

- ``DQ(x), DQ(w)[, DQ(bias int32)] -> Conv [-> Relu] -> Q``  =>  ``QLinearConv``
  (a Relu is absorbed only when the output zero point is the type minimum, where
  quantization already clamps at zero, as onnxruntime's ReluQuantFusion requires);
- ``DQ(a), DQ(b) -> MatMul -> Q``  =>  ``QLinearMatMul``;
- ``DQ(a), DQ(b)[, DQ(c int32)] -> Gemm -> Q``  =>  com.microsoft ``QGemm``.

Only groups whose weights, scales and zero points are initializers, whose activation
quantization is per tensor and whose activations are uint8/uint8 or int8/int8 are
fused; everything else is left as written (and simulated in float). The rewrite works
on a copy; the caller's model is not modified.
"""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import onnx
from onnx import helper, numpy_helper

logger = logging.getLogger(__name__)

_INTEGER_TYPES = {onnx.TensorProto.INT8, onnx.TensorProto.UINT8}


class _Graph:
    def __init__(self, graph: onnx.GraphProto) -> None:
        self.graph = graph
        self.initializers = {init.name: init for init in graph.initializer}
        self.producer = {out: node for node in graph.node for out in node.output if out}
        self.consumers: Counter[str] = Counter(name for node in graph.node for name in node.input)
        self.outputs = {value.name for value in graph.output}

    def constant(self, name: str) -> np.ndarray | None:
        init = self.initializers.get(name)
        return numpy_helper.to_array(init) if init is not None else None

    def dequantize(self, name: str) -> onnx.NodeProto | None:
        """The DequantizeLinear producing ``name``, when its parameters are constants."""
        node = self.producer.get(name)
        if node is None or node.op_type != "DequantizeLinear" or node.domain not in ("", "ai.onnx"):
            return None
        if len(node.input) < 3 or not all(i in self.initializers for i in node.input[1:3]):
            return None
        return node

    def sole_consumer(self, name: str) -> onnx.NodeProto | None:
        if self.consumers[name] != 1 or name in self.outputs:
            return None
        return next((node for node in self.graph.node if name in node.input), None)

    def zero_point_type(self, node: onnx.NodeProto) -> int:
        return self.initializers[node.input[2]].data_type

    def per_tensor(self, node: onnx.NodeProto) -> bool:
        scale = self.constant(node.input[1])
        return scale is not None and scale.size == 1


def _quantize_after(g: _Graph, name: str) -> tuple[onnx.NodeProto | None, onnx.NodeProto | None]:
    """(QuantizeLinear consuming ``name`` possibly through a Relu, the Relu or None)."""
    consumer = g.sole_consumer(name)
    relu = None
    if consumer is not None and consumer.op_type == "Relu":
        relu, consumer = consumer, g.sole_consumer(consumer.output[0])
    if consumer is None or consumer.op_type != "QuantizeLinear" or len(consumer.input) < 3:
        return None, None
    if not all(i in g.initializers for i in consumer.input[1:3]) or not g.per_tensor(consumer):
        return None, None
    if relu is not None:
        zero = g.constant(consumer.input[2])
        if zero is None or int(zero.reshape(-1)[0]) != np.iinfo(zero.dtype).min:
            return None, None
    return consumer, relu


def _activation_pair_ok(g: _Graph, dq_x: onnx.NodeProto, q_y: onnx.NodeProto) -> bool:
    x_type, y_type = g.zero_point_type(dq_x), g.zero_point_type(q_y)
    return g.per_tensor(dq_x) and x_type == y_type and x_type in _INTEGER_TYPES


def _int32_bias(g: _Graph, name: str) -> onnx.NodeProto | None:
    dq = g.dequantize(name)
    if dq is None or dq.input[0] not in g.initializers:
        return None
    if g.initializers[dq.input[0]].data_type != onnx.TensorProto.INT32:
        return None
    return dq


def fuse_qdq(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """A copy of ``model`` with fusable QDQ groups replaced, and how many were fused.

    A model without DequantizeLinear nodes is returned as it is (no copy).
    """
    if not any(node.op_type == "DequantizeLinear" for node in model.graph.node):
        return model, 0
    result = onnx.ModelProto()
    result.CopyFrom(model)
    g = _Graph(result.graph)
    replaced: dict[int, onnx.NodeProto] = {}  # id of the op node -> fused node
    removed: set[int] = set()
    for node in list(result.graph.node):
        if node.domain not in ("", "ai.onnx") or node.op_type not in ("Conv", "MatMul", "Gemm"):
            continue
        fused = _fuse_one(g, node)
        if fused is None:
            continue
        new_node, dropped = fused
        replaced[id(node)] = new_node
        removed.update(id(n) for n in dropped)
    if not replaced:
        return result, 0
    nodes = []
    for node in result.graph.node:
        if id(node) in removed:
            continue
        nodes.append(replaced.get(id(node), node))
    del result.graph.node[:]
    result.graph.node.extend(nodes)
    if any(n.domain == "com.microsoft" for n in nodes) and not any(
        o.domain == "com.microsoft" for o in result.opset_import
    ):
        result.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    logger.info("fused %d QDQ groups into integer operators", len(replaced))
    return result, len(replaced)


def _fuse_one(
    g: _Graph, node: onnx.NodeProto
) -> tuple[onnx.NodeProto, list[onnx.NodeProto]] | None:
    if len(node.input) < 2:
        return None
    dq_x, dq_w = g.dequantize(node.input[0]), g.dequantize(node.input[1])
    if dq_x is None or dq_w is None or dq_w.input[0] not in g.initializers:
        return None
    q_y, relu = _quantize_after(g, node.output[0])
    if q_y is None or not _activation_pair_ok(g, dq_x, q_y):
        return None
    if g.zero_point_type(dq_w) not in _INTEGER_TYPES:
        return None
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    w_axis = next((helper.get_attribute_value(a) for a in dq_w.attribute if a.name == "axis"), 1)
    bias_dq = _int32_bias(g, node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if len(node.input) > 2 and node.input[2] and bias_dq is None:
        return None  # float bias: onnxruntime does not fuse this group either
    x_params = [dq_x.input[0], dq_x.input[1], dq_x.input[2]]
    w_params = [dq_w.input[0], dq_w.input[1], dq_w.input[2]]
    y_params = [q_y.input[1], q_y.input[2]]
    out = q_y.output
    dropped = [q_y] + ([relu] if relu is not None else [])
    name = f"{node.name or node.op_type}_fused"
    if node.op_type == "Conv":
        if not g.per_tensor(dq_w) and w_axis != 0:
            return None
        inputs = x_params + w_params + y_params + ([bias_dq.input[0]] if bias_dq else [])
        return helper.make_node("QLinearConv", inputs, out, name=name, **attrs), dropped
    if node.op_type == "MatMul":
        weight = g.constant(dq_w.input[0])
        if weight is None or weight.ndim != 2 or (not g.per_tensor(dq_w) and w_axis not in (1, -1)):
            return None
        inputs = x_params + w_params + y_params
        return helper.make_node("QLinearMatMul", inputs, out, name=name), dropped
    # Gemm
    if attrs.get("beta", 1.0) != 1.0 or attrs.get("transA", 0):
        return None
    trans_b = attrs.get("transB", 0)
    if not g.per_tensor(dq_w) and w_axis not in ((0,) if trans_b else (1, -1)):
        return None
    bias_inputs = [bias_dq.input[0]] if bias_dq else [""]
    inputs = x_params + w_params + bias_inputs + y_params
    gemm_attrs = {"alpha": attrs.get("alpha", 1.0), "transA": 0, "transB": trans_b}
    fused = helper.make_node("QGemm", inputs, out, name=name, domain="com.microsoft", **gemm_attrs)
    return fused, dropped
