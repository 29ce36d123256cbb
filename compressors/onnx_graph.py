"""Small helpers for reading and editing ONNX graphs with numpy.

The compressors that work directly on the graph (clustering, channel surgery) and the
facts about a variant (sparsity, unique weights, MACs) all need the same things: the
weight tensors of the layers that carry parameters, whether float or quantized, and
a way to replace an initializer in place.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

# Ops whose weight input is a float initializer in a float graph: (op_type, weight input).
FLOAT_WEIGHT_OPS: dict[str, tuple[int, ...]] = {
    "Conv": (1,),
    "ConvTranspose": (1,),
    "Gemm": (1, 0),
    "MatMul": (1, 0),
}
# Quantized ops storing an integer weight: op_type -> (weight index, scale index, zero-point index).
# A scale index of -1 means the op has no weight scale input (integer-only ops).
QUANT_WEIGHT_OPS: dict[str, tuple[int, int, int]] = {
    "QLinearConv": (3, 4, 5),
    "QLinearMatMul": (3, 4, 5),
    "ConvInteger": (1, -1, 3),
    "MatMulInteger": (1, -1, 3),
}
# Ops counted for multiply-accumulates.
MAC_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul", *QUANT_WEIGHT_OPS}


@dataclass
class WeightLayer:
    """One parameter-carrying layer: its node, its stored weight and the float values.

    ``values`` is the weight as the layer computes with it (dequantized for quantized
    weights); ``stored`` is what the file holds (the integer tensor when quantized).
    ``zero_mask`` marks weights that are exactly zero in the computation.
    """

    node_name: str
    node_output: str
    op_type: str
    initializer: str
    stored: np.ndarray
    values: np.ndarray
    quantized: bool

    @property
    def zero_mask(self) -> np.ndarray:
        return self.values == 0

    @property
    def unique_values(self) -> int:
        return int(np.unique(self.stored).size)


def initializers(model: onnx.ModelProto) -> dict[str, onnx.TensorProto]:
    return {init.name: init for init in model.graph.initializer}


def to_array(tensor: onnx.TensorProto) -> np.ndarray:
    return numpy_helper.to_array(tensor)


def replace_initializer(model: onnx.ModelProto, name: str, array: np.ndarray) -> None:
    """Replaces initializer ``name`` with ``array`` (same position in the list)."""
    for index, init in enumerate(model.graph.initializer):
        if init.name == name:
            model.graph.initializer[index].CopyFrom(numpy_helper.from_array(array, name))
            return
    raise KeyError(name)


def producers(model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    """Tensor name -> the node that produces it."""
    return {out: node for node in model.graph.node for out in node.output if out}


def consumers(model: onnx.ModelProto) -> dict[str, list[onnx.NodeProto]]:
    """Tensor name -> the nodes that read it."""
    result: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in model.graph.node:
        for name in node.input:
            if name:
                result[name].append(node)
    return result


def attribute(node: onnx.NodeProto, name: str, default: object = None) -> object:
    for attr in node.attribute:
        if attr.name == name:
            return helper.get_attribute_value(attr)
    return default


def _dequantize(
    q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int
) -> np.ndarray:
    values = q.astype(np.float32)
    if zero_point is not None:
        zp = zero_point.astype(np.float32)
        if zp.ndim == 1 and zp.size > 1:
            shape = [1] * values.ndim
            shape[axis] = zp.size
            zp = zp.reshape(shape)
        values = values - zp
    s = scale.astype(np.float32)
    if s.ndim == 1 and s.size > 1:
        shape = [1] * values.ndim
        shape[axis] = s.size
        s = s.reshape(shape)
    return values * s


def weight_layers(model: onnx.ModelProto) -> list[WeightLayer]:
    """The parameter-carrying layers (Conv/Gemm/MatMul, float or quantized), graph order.

    A float weight is an initializer feeding the layer directly; a QDQ weight is an
    integer initializer behind a DequantizeLinear; a QOperator weight is the integer
    input of QLinearConv/QLinearMatMul/ConvInteger/MatMulInteger. Activations-by-
    activations MatMuls (no constant operand) have no weights and are skipped.
    """
    inits = initializers(model)
    made_by = producers(model)
    layers: list[WeightLayer] = []
    seen: set[str] = set()
    for node in model.graph.node:
        found: WeightLayer | None = None
        if node.op_type in FLOAT_WEIGHT_OPS:
            for index in FLOAT_WEIGHT_OPS[node.op_type]:
                if index >= len(node.input):
                    continue
                name = node.input[index]
                if name in inits:
                    array = to_array(inits[name])
                    if array.ndim >= 2 and np.issubdtype(array.dtype, np.floating):
                        found = WeightLayer(
                            node.name, node.output[0], node.op_type, name, array, array, False
                        )
                        break
                dq = made_by.get(name)
                if dq is not None and dq.op_type == "DequantizeLinear" and dq.input[0] in inits:
                    q = to_array(inits[dq.input[0]])
                    if q.ndim < 2:
                        continue
                    scale = to_array(inits[dq.input[1]]) if dq.input[1] in inits else None
                    zp_name = dq.input[2] if len(dq.input) > 2 else ""
                    zp = to_array(inits[zp_name]) if zp_name in inits else None
                    if scale is None:
                        continue
                    axis = int(attribute(dq, "axis", 1))  # type: ignore[call-overload]
                    values = _dequantize(q, scale, zp, axis)
                    found = WeightLayer(
                        node.name, node.output[0], node.op_type, dq.input[0], q, values, True
                    )
                    break
        elif node.op_type in QUANT_WEIGHT_OPS:
            w_index, s_index, zp_index = QUANT_WEIGHT_OPS[node.op_type]
            name = node.input[w_index] if w_index < len(node.input) else ""
            if name in inits:
                q = to_array(inits[name])
                zp_name = node.input[zp_index] if zp_index < len(node.input) else ""
                zp = to_array(inits[zp_name]) if zp_name in inits else None
                if s_index >= 0 and node.input[s_index] in inits:
                    scale = to_array(inits[node.input[s_index]])
                else:
                    scale = np.ones(1, np.float32)  # integer ops: zero test needs no scale
                # Conv weights are per output channel on axis 0; MatMul weights on axis 1.
                axis = 0 if "Conv" in node.op_type else 1
                values = _dequantize(q, scale, zp, axis)
                found = WeightLayer(node.name, node.output[0], node.op_type, name, q, values, True)
        if found is not None and found.initializer not in seen:
            seen.add(found.initializer)
            layers.append(found)
    return layers


def input_feed_shape(
    model: onnx.ModelProto, input_name: str | None = None
) -> tuple[str, list[int], int]:
    """(name, shape with batch 1, onnx elem type) of the first non-initializer graph input.

    Raises ValueError when a non-batch dimension is symbolic.
    """
    init_names = {init.name for init in model.graph.initializer}
    for value in model.graph.input:
        if value.name in init_names or (input_name and value.name != input_name):
            continue
        dims = []
        for position, dim in enumerate(value.type.tensor_type.shape.dim):
            if dim.HasField("dim_value") and dim.dim_value > 0:
                dims.append(int(dim.dim_value))
            elif position == 0:
                dims.append(1)
            else:
                raise ValueError(f"input {value.name!r} has a symbolic dimension {position}")
        return value.name, dims, value.type.tensor_type.elem_type
    raise ValueError("the model has no graph input")
