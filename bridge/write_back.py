"""Writing a bridged module's (pruned, fine-tuned, clustered) weights into the ONNX model.

The uploaded graph stays exactly as it was: only the initializers named in
``BridgedModel.weights`` get new values, in their original shape and element type.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from robustedge.bridge.converter import BridgedModel
from robustedge.bridge.errors import BridgeError


def write_back(model: onnx.ModelProto, bridged: BridgedModel) -> onnx.ModelProto:
    """A copy of ``model`` whose weight initializers hold the module's current values."""
    result = onnx.ModelProto()
    result.CopyFrom(model)
    by_name = {init.name: init for init in result.graph.initializer}
    for init_name, param_name in bridged.weights.items():
        target = by_name.get(init_name)
        if target is None:
            raise BridgeError(f"initializer {init_name!r} is not in the model")
        param = bridged.module.get_parameter(param_name)
        value = param.detach().cpu().numpy()
        if bridged.layouts.get(init_name) == "transpose":
            value = value.T
        dims = tuple(target.dims)
        if int(np.prod(dims)) != value.size:
            raise BridgeError(
                f"parameter {param_name} has {value.size} values, initializer {init_name!r} "
                f"has shape {dims}"
            )
        dtype = helper.tensor_dtype_to_np_dtype(target.data_type)
        value = np.ascontiguousarray(value.reshape(dims)).astype(dtype)
        replacement = numpy_helper.from_array(value, name=init_name)
        if target.doc_string:
            replacement.doc_string = target.doc_string
        target.CopyFrom(replacement)
    return result
