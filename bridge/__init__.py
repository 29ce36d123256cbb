"""RobustEdge bridge: ONNX classifiers as differentiable torch modules.

``convert(model, gradient="ste" | "exact")`` turns an ONNX graph into a
``BridgedModel`` whose ``module`` (a ``torch.nn.Module`` in eval mode) returns logits
``[N, C]`` for any batch size, with:

Forward semantics
    Float operators compute what onnxruntime computes (within float rounding).
    Quantized operators -- ``QuantizeLinear``/``DequantizeLinear`` (per-tensor and
    per-channel on any axis, int8/uint8), the QOperator family (``QLinearConv``,
    ``QLinearMatMul``, ``QLinearAdd``, ``QLinearMul``, ``QGemm``, ...) in the default
    and ``com.microsoft`` domains, ``DynamicQuantizeLinear``, ``ConvInteger`` and
    ``MatMulInteger`` -- reproduce onnxruntime's integer arithmetic: integer
    accumulation (carried exactly in float32 or float64 tensors holding integers),
    requantization by a float32 multiplier, round half to even, saturation to the
    integer range. QDQ graphs are first rewritten the way onnxruntime's optimizer
    rewrites them (``DQ -> Conv/MatMul/Gemm -> Q`` groups become ``QLinearConv``,
    ``QLinearMatMul``, ``QGemm``; ``convert(..., fuse_qdq=False)`` keeps the float
    simulation of the graph as written), so their outputs match onnxruntime's too.

Gradient semantics (the ``gradient`` switch)
    ``"ste"`` (default): the clamped straight-through estimator. Every rounding step
    passes the incoming gradient through unchanged where its pre-rounding value lies
    inside the representable integer range ``[qmin, qmax]`` and stops it (zero) where
    the value saturates. Everything linear around the rounding (scales, zero points,
    integer convolutions and matrix products) is differentiated exactly, so e.g.
    ``QuantizeLinear`` has gradient ``1/scale`` inside its range.
    ``"exact"``: the true derivative of rounding, which is zero almost everywhere:
    every quantizing operator returns a zero gradient. Quantized models then show
    (near-)zero input gradients -- the gradient masking a report should expose,
    next to the STE numbers.
    Float operators are differentiated exactly by autograd under both settings.

Logits
    When the first graph output is produced by ``Softmax``/``LogSoftmax`` over the
    class axis, ``module`` returns the tensor fed to it and ``pre_softmax`` is True;
    ``BridgedModel.outputs`` still returns what onnxruntime returns.

Weights
    ``Conv``, ``Gemm`` and ``MatMul`` nodes whose weight is an initializer become
    ``nn.Conv{1,2,3}d``/``nn.Linear`` layers (``BridgedModel.weights`` maps initializer
    names to parameter names), so INC's pruner can work on them and ``write_back``
    stores edited weights into a copy of the original ``ModelProto``.

Unsupported operators raise ``UnsupportedOpsError`` naming all of them at once.
"""

from robustedge.bridge.converter import BridgedModel, convert, find_unsupported
from robustedge.bridge.errors import BridgeError, UnsupportedOpsError
from robustedge.bridge.fidelity import (
    Fidelity,
    FidelityGate,
    gradient_nonzero_fraction,
    input_gradient,
    measure_fidelity,
)
from robustedge.bridge.write_back import write_back

__all__ = [
    "BridgeError",
    "BridgedModel",
    "Fidelity",
    "FidelityGate",
    "UnsupportedOpsError",
    "convert",
    "find_unsupported",
    "gradient_nonzero_fraction",
    "input_gradient",
    "measure_fidelity",
    "write_back",
]
