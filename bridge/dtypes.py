"""ONNX element types as torch dtypes."""

from __future__ import annotations

import onnx
import torch

from robustedge.bridge.errors import BridgeError

ONNX_TO_TORCH: dict[int, torch.dtype] = {
    onnx.TensorProto.FLOAT: torch.float32,
    onnx.TensorProto.DOUBLE: torch.float64,
    onnx.TensorProto.FLOAT16: torch.float16,
    onnx.TensorProto.BFLOAT16: torch.bfloat16,
    onnx.TensorProto.INT8: torch.int8,
    onnx.TensorProto.UINT8: torch.uint8,
    onnx.TensorProto.INT16: torch.int16,
    onnx.TensorProto.UINT16: torch.uint16,
    onnx.TensorProto.INT32: torch.int32,
    onnx.TensorProto.UINT32: torch.uint32,
    onnx.TensorProto.INT64: torch.int64,
    onnx.TensorProto.UINT64: torch.uint64,
    onnx.TensorProto.BOOL: torch.bool,
}


def torch_dtype(elem_type: int) -> torch.dtype:
    """The torch dtype for an ONNX ``TensorProto`` element type."""
    try:
        return ONNX_TO_TORCH[elem_type]
    except KeyError:
        name = onnx.TensorProto.DataType.Name(elem_type)
        raise BridgeError(f"ONNX element type {name} has no torch equivalent") from None
