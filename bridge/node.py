"""What an operator implementation sees of an ONNX node: its attributes and context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper


@dataclass
class NodeInfo:
    """Static facts about one node, resolved once at conversion time.

    ``gradient`` is the model-wide switch ("ste" or "exact") that quantized operators
    consult for their backward pass; ``opset`` is the version of the node's domain
    the model imports (operators changed semantics across opsets).
    """

    op_type: str
    domain: str
    name: str
    opset: int
    gradient: str
    attrs: dict[str, Any] = field(default_factory=dict)

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)


def attribute_values(node: onnx.NodeProto) -> dict[str, Any]:
    """Attributes as plain Python values (strings decoded, tensors as numpy arrays)."""
    values: dict[str, Any] = {}
    for attribute in node.attribute:
        if attribute.type == onnx.AttributeProto.GRAPH:
            values[attribute.name] = attribute.g
            continue
        value = onnx.helper.get_attribute_value(attribute)
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        elif isinstance(value, onnx.TensorProto):
            value = numpy_helper.to_array(value)
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [item.decode("utf-8") for item in value]
        values[attribute.name] = value
    return values


def tensor_proto_to_numpy(tensor: onnx.TensorProto) -> np.ndarray:
    """An initializer's value; bfloat16/float8 are widened to float32 by onnx."""
    return np.array(numpy_helper.to_array(tensor))
