"""Short execution-provider names used in specs and reports, and onnxruntime's names.

Specs say ``cpu`` or ``openvino``; onnxruntime says ``CPUExecutionProvider``. The
mapping is explicit so that a typo in a spec is an error rather than a silent skip,
and so that a provider a runtime offers but this table does not know still gets a
usable short name (derived from the onnxruntime name).
"""

from __future__ import annotations

#: Short name -> onnxruntime provider name, for the providers RobustEdge knows.
ORT_PROVIDER_NAMES: dict[str, str] = {
    "cpu": "CPUExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "dnnl": "DnnlExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "nnapi": "NnapiExecutionProvider",
    "acl": "ACLExecutionProvider",
    "armnn": "ArmNNExecutionProvider",
    "webgpu": "WebGpuExecutionProvider",
    "dml": "DmlExecutionProvider",
    "azure": "AzureExecutionProvider",
}

_SHORT_NAMES = {ort: short for short, ort in ORT_PROVIDER_NAMES.items()}
_SUFFIX = "ExecutionProvider"


def to_ort_name(short: str) -> str:
    """Onnxruntime provider name for a short name (case-insensitive).

    A full onnxruntime name (``...ExecutionProvider``) is accepted as is, so that a
    provider this table does not know can still be requested.
    """
    key = short.strip()
    if key.endswith(_SUFFIX):
        return key
    try:
        return ORT_PROVIDER_NAMES[key.lower()]
    except KeyError:
        known = ", ".join(sorted(ORT_PROVIDER_NAMES))
        raise ValueError(f"unknown execution provider {short!r}; known: {known}") from None


def to_short_name(ort_name: str) -> str:
    """Short name of an onnxruntime provider name (``FooExecutionProvider`` -> ``foo``)."""
    if ort_name in _SHORT_NAMES:
        return _SHORT_NAMES[ort_name]
    return ort_name.removesuffix(_SUFFIX).lower()
