"""Compatibility shim for ``onnx.mapping``, which current onnx releases removed.

Intel Neural Compressor 3.7.1's ONNX Runtime quantizer still reads
``onnx.mapping.NP_TYPE_TO_TENSOR_TYPE`` and ``onnx.mapping.TENSOR_TYPE_TO_NP_TYPE``.
Downgrading onnx would bring back old external-data path-traversal CVEs, so instead we
provide those tables, derived from the tables onnx still ships. The shim is installed
only right before INC is imported (:func:`install_onnx_mapping_shim`), never at
package import, so nothing else in the process sees a module onnx does not have.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import onnx
from onnx import helper

SHIM_MODULE_NAME = "onnx.mapping"


def _build_mapping_module() -> types.ModuleType:
    module = types.ModuleType(SHIM_MODULE_NAME, "RobustEdge shim for the removed onnx.mapping")
    tensor_to_np: dict[int, np.dtype] = {}
    tensor_to_storage: dict[int, int] = {}
    for data_type in onnx.TensorProto.DataType.values():
        if data_type == onnx.TensorProto.UNDEFINED:
            continue
        try:
            tensor_to_np[data_type] = helper.tensor_dtype_to_np_dtype(data_type)
            tensor_to_storage[data_type] = helper.tensor_dtype_to_storage_tensor_dtype(data_type)
        except (KeyError, ValueError, TypeError):
            continue  # types without a numpy counterpart (e.g. STRING storage quirks)
    # The old table mapped each numpy dtype to the *first* (canonical) ONNX type; the
    # 8-bit float and 4-bit types share numpy storage dtypes, so keep the first seen.
    np_to_tensor: dict[np.dtype, int] = {}
    for data_type, np_dtype in sorted(tensor_to_np.items()):
        np_to_tensor.setdefault(np.dtype(np_dtype), data_type)
    module.TENSOR_TYPE_TO_NP_TYPE = tensor_to_np  # type: ignore[attr-defined]
    module.NP_TYPE_TO_TENSOR_TYPE = np_to_tensor  # type: ignore[attr-defined]
    module.TENSOR_TYPE_TO_STORAGE_TENSOR_TYPE = tensor_to_storage  # type: ignore[attr-defined]
    return module


def install_onnx_mapping_shim() -> bool:
    """Makes ``import onnx.mapping`` and ``onnx.mapping.X`` work; returns True if installed.

    A no-op when onnx still has its own ``mapping`` module.
    """
    if SHIM_MODULE_NAME in sys.modules or hasattr(onnx, "mapping"):
        if not hasattr(onnx, "mapping"):
            onnx.mapping = sys.modules[SHIM_MODULE_NAME]  # type: ignore[attr-defined]
        return False
    module = _build_mapping_module()
    sys.modules[SHIM_MODULE_NAME] = module
    onnx.mapping = module  # type: ignore[attr-defined]
    return True
