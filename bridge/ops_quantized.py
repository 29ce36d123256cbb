"""Quantized operators: QDQ, QOperator (default and com.microsoft domains), dynamic.

Representation: a quantized tensor (int8/uint8/int32 in ONNX) flows through the bridge
as a floating tensor holding the same integers, so that autograd can carry gradients
through it. Integer accumulations (convolutions, matrix products) run on those floats;
they are exact as long as every partial sum stays below 2**24 in float32, and each
handler switches to float64 when a bound on the accumulator says it might not.

Forward arithmetic follows onnxruntime's CPU kernels: ``QuantizeLinear`` divides by the
scale; requantizing operators multiply the int32 accumulator by the float32 multiplier
``x_scale * w_scale / y_scale``; rounding is half-to-even; results saturate to the
output type. Element-wise QLinear operators (Add, Mul, LeakyRelu, Sigmoid, Concat,
pools) dequantize, compute in float32 and requantize; onnxruntime's vectorised kernels
use fixed-point or lookup-table variants of the same formula, which can differ by one
quantization step on ties.

Backward: every rounding goes through ``ste.saturating_round`` (clamped STE, or zero
with ``gradient="exact"``); the linear parts around it are differentiated exactly.
Scales and zero points computed at run time (DynamicQuantizeLinear) are treated as
constants, as in quantization-aware training.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F

from robustedge.bridge.errors import BridgeError
from robustedge.bridge.node import NodeInfo
from robustedge.bridge.ops_nn import average_pool, conv_geometry, explicit_pads, torch_pad_order
from robustedge.bridge.registry import DEFAULT_DOMAIN, MICROSOFT_DOMAIN, register
from robustedge.bridge.ste import saturating_round

Tensor = torch.Tensor
logger = logging.getLogger(__name__)
# Operators onnxruntime knows in both domains; the element-wise QLinear family, QGemm
# and the fused dynamic-quantization kernels exist only in com.microsoft.
BOTH_DOMAINS = (DEFAULT_DOMAIN, MICROSOFT_DOMAIN)
MICROSOFT_ONLY = (MICROSOFT_DOMAIN,)

_RANGES: dict[torch.dtype, tuple[int, int]] = {
    torch.int8: (-128, 127),
    torch.uint8: (0, 255),
    torch.int16: (-32768, 32767),
    torch.uint16: (0, 65535),
    torch.int32: (-(2**31), 2**31 - 1),
}
# ONNX TensorProto element types for QuantizeLinear's `output_dtype` (opset 21).
_OUTPUT_DTYPES = {2: torch.uint8, 3: torch.int8, 4: torch.uint16, 5: torch.int16}
_EXACT_FLOAT32 = 2**24  # integers up to this magnitude are exact in float32


def _range(zero_point: Tensor | None, default: torch.dtype = torch.uint8) -> tuple[int, int]:
    """Integer range of a quantized tensor, read from its zero point's type.

    A zero point computed at run time is a float holding an integer; the only operator
    producing one (DynamicQuantizeLinear) is uint8.
    """
    if zero_point is None or zero_point.is_floating_point():
        return _RANGES[default]
    try:
        return _RANGES[zero_point.dtype]
    except KeyError:
        raise BridgeError(f"quantized type {zero_point.dtype} is not supported") from None


def _float(t: Tensor | None, dtype: torch.dtype = torch.float32) -> Tensor:
    if t is None:
        return torch.zeros((), dtype=dtype)
    return t.to(dtype) if t.dtype != dtype else t


def _along(param: Tensor, rank: int, axis: int) -> Tensor:
    """A scale or zero point broadcastable against a rank-``rank`` tensor on ``axis``."""
    if param.numel() == 1:
        return param.reshape(())
    axis = axis + rank if axis < 0 else axis
    shape = [1] * rank
    shape[axis] = param.numel()
    return param.reshape(shape)


def _accumulator_dtype(weight_abs_sum: float, input_span: int) -> torch.dtype:
    # Bound on any partial sum: sum |w - zw| * max |x - zx|.
    return torch.float32 if weight_abs_sum * input_span < _EXACT_FLOAT32 else torch.float64


# --- QuantizeLinear / DequantizeLinear ----------------------------------------------------


@register("QuantizeLinear", domains=BOTH_DOMAINS, since=1, gradient="ste")
def quantize_linear(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    x, scale = xs[0], xs[1]
    assert x is not None and scale is not None
    zero_point = xs[2] if len(xs) > 2 else None
    if node.attr("block_size", 0):
        raise BridgeError(f"QuantizeLinear {node.name!r}: blocked quantization is not supported")
    default = _OUTPUT_DTYPES.get(node.attr("output_dtype", 0), torch.uint8)
    qmin, qmax = _range(zero_point, default)
    axis = node.attr("axis", 1)
    x = _float(x)
    scale_b = _along(_float(scale), x.dim(), axis)
    zp_b = _along(_float(zero_point), x.dim(), axis)
    return saturating_round(x / scale_b, zp_b, qmin, qmax, node.gradient)


@register("DequantizeLinear", domains=BOTH_DOMAINS, since=1)
def dequantize_linear(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    # Linear in its input: differentiated exactly (d/dx = scale).
    x, scale = xs[0], xs[1]
    assert x is not None and scale is not None
    zero_point = xs[2] if len(xs) > 2 else None
    if node.attr("block_size", 0):
        raise BridgeError(f"DequantizeLinear {node.name!r}: blocked quantization is not supported")
    axis = node.attr("axis", 1)
    rank = x.dim()
    values = _float(x) - _along(_float(zero_point), rank, axis)
    return values * _along(_float(scale), rank, axis)


@register("DynamicQuantizeLinear", since=11, gradient="ste")
def dynamic_quantize_linear(node: NodeInfo, xs: list[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    x = _float(xs[0])
    with torch.no_grad():
        low = torch.clamp(x.min(), max=0.0)
        high = torch.clamp(x.max(), min=0.0)
        scale = (high - low) / 255.0
        if float(scale) == 0.0:
            zero_point = torch.zeros((), dtype=x.dtype)
        else:
            zero_point = torch.clamp(torch.round(0.0 - low / scale), 0.0, 255.0)
    if float(scale) == 0.0:
        return torch.zeros_like(x) + x * 0.0, scale, zero_point
    return saturating_round(x / scale, zero_point, 0, 255, node.gradient), scale, zero_point


# --- Integer convolution and matrix products -------------------------------------------------


def _integer_conv(
    node: NodeInfo, x: Tensor, weight: Tensor, x_zp: Tensor | None, w_zp: Tensor | None, x_span: int
) -> Tensor:
    """conv(x - x_zp, w - w_zp) computed exactly; padding is by the zero point."""
    channels_last = bool(node.attr("channels_last", 0))
    if channels_last:
        x = x.movedim(-1, 1)
    w = _float(weight) - _along(_float(w_zp), weight.dim(), 0)
    dtype = _accumulator_dtype(float(w.abs().flatten(1).sum(1).max()) if w.numel() else 0.0, x_span)
    centred = _float(x, dtype) - _float(x_zp, dtype)
    w = w.to(dtype)
    kernel = list(weight.shape[2:])
    strides, dilations = conv_geometry(node, kernel)
    pads = explicit_pads(node, list(centred.shape[2:]), kernel, strides, dilations)
    if any(pads):
        centred = F.pad(centred, torch_pad_order(pads))
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[len(kernel)]
    out = conv(centred, w, None, tuple(strides), 0, tuple(dilations), node.attr("group", 1))
    return out


def _span(zero_point: Tensor | None) -> int:
    qmin, qmax = _range(zero_point)
    return qmax - qmin


def _requantize(node: NodeInfo, acc: Tensor, multiplier: Tensor, y_zp: Tensor | None) -> Tensor:
    qmin, qmax = _range(y_zp)
    value = acc.to(torch.float32) * multiplier
    return saturating_round(value, _float(y_zp), qmin, qmax, node.gradient)


@register("QLinearConv", domains=BOTH_DOMAINS, since=1, gradient="ste")
def qlinear_conv(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp = xs[:8]
    bias = xs[8] if len(xs) > 8 else None
    assert x is not None and w is not None and x_scale is not None
    assert w_scale is not None and y_scale is not None
    acc = _integer_conv(node, x, w, x_zp, w_zp, _span(x_zp))
    rank = acc.dim()
    if bias is not None:
        acc = acc + _along(_float(bias, acc.dtype), rank, 1)
    # float32, in onnxruntime's order: x_scale * w_scale / y_scale.
    multiplier = _float(x_scale) * _float(w_scale) / _float(y_scale)
    y = _requantize(node, acc, _along(multiplier, rank, 1), y_zp)
    return y.movedim(1, -1) if node.attr("channels_last", 0) else y


@register("ConvInteger", since=10, gradient="exact")
def conv_integer(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    x, w = xs[0], xs[1]
    assert x is not None and w is not None
    x_zp = xs[2] if len(xs) > 2 else None
    w_zp = xs[3] if len(xs) > 3 else None
    return _integer_conv(node, x, w, x_zp, w_zp, _span(x_zp))


def _integer_matmul(a: Tensor, b: Tensor, a_zp: Tensor | None, b_zp: Tensor | None) -> Tensor:
    """(a - a_zp) @ (b - b_zp) computed exactly; b_zp may be per column."""
    b_centred = _float(b) - (
        _float(b_zp) if b_zp is None or b_zp.numel() == 1 else _float(b_zp).reshape(-1)
    )
    bound = float(b_centred.abs().sum(-2).max()) if b_centred.numel() else 0.0
    dtype = _accumulator_dtype(bound, _span(a_zp))
    a_zero = _float(a_zp, dtype)
    if a_zero.numel() > 1:  # per-row zero point of A
        a_zero = a_zero.reshape(-1, 1)
    return torch.matmul(_float(a, dtype) - a_zero, b_centred.to(dtype))


@register("MatMulInteger", since=10, gradient="exact")
def matmul_integer(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    a, b = xs[0], xs[1]
    assert a is not None and b is not None
    a_zp = xs[2] if len(xs) > 2 else None
    b_zp = xs[3] if len(xs) > 3 else None
    return _integer_matmul(a, b, a_zp, b_zp)


@register("QLinearMatMul", since=10, gradient="ste")
def qlinear_matmul(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp = xs[:8]
    assert a is not None and b is not None and a_scale is not None
    assert b_scale is not None and y_scale is not None
    acc = _integer_matmul(a, b, a_zp, b_zp)
    multiplier = _float(a_scale) * _float(b_scale).reshape(-1) / _float(y_scale)
    if multiplier.numel() == 1:
        multiplier = multiplier.reshape(())
    return _requantize(node, acc, multiplier, y_zp)


@register("QGemm", domains=MICROSOFT_ONLY, since=1, gradient="ste")
def qgemm(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    """com.microsoft QGemm: int8 Gemm with int32 bias C; float output without y_scale."""
    a, a_scale, a_zp, b, b_scale, b_zp = xs[:6]
    c = xs[6] if len(xs) > 6 else None
    y_scale = xs[7] if len(xs) > 7 else None
    y_zp = xs[8] if len(xs) > 8 else None
    assert a is not None and b is not None and a_scale is not None and b_scale is not None
    if node.attr("transA", 0):
        a = a.transpose(0, 1)
    if node.attr("transB", 0):
        b = b.transpose(0, 1)
        if b_zp is not None and b_zp.numel() > 1:
            b_zp = b_zp.reshape(-1)
    acc = _integer_matmul(a, b, a_zp, b_zp)
    if c is not None:
        acc = acc + _float(c, acc.dtype)
    scale = node.attr("alpha", 1.0) * _float(a_scale) * _float(b_scale).reshape(-1)
    if scale.numel() == 1:
        scale = scale.reshape(())
    if y_scale is None:
        return acc.to(torch.float32) * scale
    return _requantize(node, acc, scale / _float(y_scale), y_zp)


# --- Element-wise QLinear operators (dequantize, compute, requantize) -----------------------


def _dequantize(x: Tensor, scale: Tensor | None, zero_point: Tensor | None) -> Tensor:
    return (_float(x) - _float(zero_point)) * _float(scale)


def _quantize(
    node: NodeInfo, value: Tensor, scale: Tensor | None, zero_point: Tensor | None
) -> Tensor:
    qmin, qmax = _range(zero_point)
    return saturating_round(value / _float(scale), _float(zero_point), qmin, qmax, node.gradient)


@register("QLinearAdd", domains=MICROSOFT_ONLY, since=1, gradient="ste")
def qlinear_add(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    a, a_s, a_zp, b, b_s, b_zp, c_s, c_zp = xs[:8]
    assert a is not None and b is not None
    return _quantize(node, _dequantize(a, a_s, a_zp) + _dequantize(b, b_s, b_zp), c_s, c_zp)


@register("QLinearMul", domains=MICROSOFT_ONLY, since=1, gradient="ste")
def qlinear_mul(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    a, a_s, a_zp, b, b_s, b_zp, c_s, c_zp = xs[:8]
    assert a is not None and b is not None
    return _quantize(node, _dequantize(a, a_s, a_zp) * _dequantize(b, b_s, b_zp), c_s, c_zp)


def _unary_qlinear(node: NodeInfo, xs: list[Tensor | None], fn: Any) -> Tensor:
    x, x_s, x_zp, y_s, y_zp = xs[:5]
    assert x is not None
    return _quantize(node, fn(_dequantize(x, x_s, x_zp)), y_s, y_zp)


@register("QLinearLeakyRelu", domains=MICROSOFT_ONLY, since=1, gradient="ste")
def qlinear_leaky_relu(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    alpha = node.attr("alpha", 0.01)
    return _unary_qlinear(node, xs, lambda v: F.leaky_relu(v, alpha))


@register("QLinearSigmoid", domains=MICROSOFT_ONLY, since=1, gradient="ste")
def qlinear_sigmoid(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    return _unary_qlinear(node, xs, torch.sigmoid)


@register("QLinearSoftmax", domains=MICROSOFT_ONLY, since=1, gradient="ste")
def qlinear_softmax(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    axis = node.attr("axis", -1)
    return _unary_qlinear(node, xs, lambda v: F.softmax(v, dim=axis))


@register("QLinearGlobalAveragePool", domains=MICROSOFT_ONLY, since=1, gradient="ste")
def qlinear_global_average_pool(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    x, x_s, x_zp, y_s, y_zp = xs[:5]
    assert x is not None
    channels_last = bool(node.attr("channels_last", 0))
    spatial = tuple(range(1, x.dim() - 1)) if channels_last else tuple(range(2, x.dim()))
    # The integer sum is exact; onnxruntime scales it by x_scale / (y_scale * size).
    centred = _float(x) - _float(x_zp)
    size = 1
    for d in spatial:
        size *= x.shape[d]
    total = centred.sum(dim=spatial, keepdim=True)
    qmin, qmax = _range(y_zp)
    multiplier = _float(x_s) / (_float(y_s) * size)
    return saturating_round(total * multiplier, _float(y_zp), qmin, qmax, node.gradient)


@register("QLinearAveragePool", domains=MICROSOFT_ONLY, since=1, gradient="ste")
def qlinear_average_pool(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    x, x_s, x_zp, y_s, y_zp = xs[:5]
    assert x is not None
    channels_last = bool(node.attr("channels_last", 0))
    value = _dequantize(x, x_s, x_zp)
    if channels_last:
        value = value.movedim(-1, 1)
    pooled = average_pool(node, [value])
    if channels_last:
        pooled = pooled.movedim(1, -1)
    return _quantize(node, pooled, y_s, y_zp)


@register("QLinearConcat", domains=MICROSOFT_ONLY, since=1, gradient="ste")
def qlinear_concat(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    y_s, y_zp = xs[0], xs[1]
    parts = []
    for i in range(2, len(xs), 3):
        x, x_s, x_zp = xs[i], xs[i + 1], xs[i + 2]
        assert x is not None
        parts.append(_quantize(node, _dequantize(x, x_s, x_zp), y_s, y_zp))
    return torch.cat(parts, dim=node.attr("axis"))


@register("MatMulIntegerToFloat", domains=MICROSOFT_ONLY, since=1)
def matmul_integer_to_float(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    """(A - a_zp)(B - b_zp) * a_scale * b_scale + bias, float output (no rounding)."""
    a, b, a_scale, b_scale = xs[:4]
    assert a is not None and b is not None and a_scale is not None and b_scale is not None
    a_zp = xs[4] if len(xs) > 4 else None
    b_zp = xs[5] if len(xs) > 5 else None
    bias = xs[6] if len(xs) > 6 else None
    acc = _integer_matmul(a, b, a_zp, b_zp)
    y = acc.to(torch.float32) * (_float(a_scale) * _float(b_scale).reshape(-1))
    return y + _float(bias) if bias is not None else y


@register("DynamicQuantizeMatMul", domains=MICROSOFT_ONLY, since=1, gradient="ste")
def dynamic_quantize_matmul(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    """A quantized to uint8 at run time, times int8 B, rescaled to float (plus bias)."""
    a, b, b_scale = xs[:3]
    assert a is not None and b is not None and b_scale is not None
    b_zp = xs[3] if len(xs) > 3 else None
    bias = xs[4] if len(xs) > 4 else None
    a_q, a_scale, a_zp = dynamic_quantize_linear(node, [a])
    return matmul_integer_to_float(node, [a_q, b, a_scale, b_scale, a_zp, b_zp, bias])


# --- Weight-only quantization (com.microsoft MatMulNBits) ------------------------------------


def _unpack_bits(packed: Tensor, bits: int) -> Tensor:
    """uint8 ``[..., B]`` -> integers ``[..., B * 8 // bits]``, lowest bits first (the
    order onnxruntime's packer writes: element 2i in the low nibble of byte i for 4 bits)."""
    per_byte = 8 // bits
    shifts = torch.arange(per_byte, dtype=torch.int32, device=packed.device) * bits
    values = (packed.to(torch.int32)[..., None] >> shifts) & ((1 << bits) - 1)
    return values.reshape(*packed.shape[:-1], packed.shape[-1] * per_byte)


def dequantize_nbits(
    node: NodeInfo,
    b: Tensor,
    scales: Tensor,
    zero_points: Tensor | None = None,
    g_idx: Tensor | None = None,
) -> Tensor:
    """MatMulNBits' float weight ``[K, N]``: ``(q - zero_point) * scale`` per block.

    ``b`` is uint8 ``[N, blocks, block_size * bits / 8]``; ``scales`` has ``N * blocks``
    entries; ``zero_points`` is packed like ``b`` (each row padded to whole bytes) or a
    float tensor shaped like ``scales``; without it the zero point is ``2**(bits - 1)``.
    ``g_idx`` (act-order GPTQ) is accepted only when it is the default order.
    """
    k, n = int(node.attr("K")), int(node.attr("N"))
    bits, block_size = int(node.attr("bits", 4)), int(node.attr("block_size"))
    if bits not in (2, 4, 8) or b.dtype != torch.uint8:
        raise BridgeError(
            f"MatMulNBits {node.name!r}: only uint8-packed 2-, 4- and 8-bit weights are "
            f"supported (got bits={bits}, B of type {b.dtype})"
        )
    blocks = -(-k // block_size)
    q = _unpack_bits(b.reshape(n, blocks, -1), bits).reshape(n, -1)[:, :k].to(torch.float32)
    scale = _float(scales).reshape(n, blocks)
    if zero_points is None:
        zero = torch.full_like(scale, float(2 ** (bits - 1)))
    elif zero_points.is_floating_point():
        zero = _float(zero_points).reshape(n, blocks)
    else:
        zero = _unpack_bits(zero_points.reshape(n, -1), bits)[:, :blocks].to(torch.float32)
    block_of = torch.arange(k, device=b.device) // block_size
    if (
        g_idx is not None
        and g_idx.numel()
        and not torch.equal(g_idx.reshape(-1).to(torch.int64), block_of)
    ):
        # onnxruntime's CPU kernel does not compute (q - zero) * scale with the block
        # g_idx names (measured: outputs unrelated to that formula); refuse, not guess.
        raise BridgeError(f"MatMulNBits {node.name!r}: a reordering g_idx is not supported")
    weight = (q - zero[:, block_of]) * scale[:, block_of]  # float32, as onnxruntime's kernel
    return weight.transpose(0, 1).contiguous()


def _prepare_matmul_nbits(
    node: NodeInfo, inputs: list[str], constants: dict[str, Tensor]
) -> list[str]:
    """Dequantizes constant packed weights once, at conversion time: the node then runs
    as a float MatMul with a constant weight, whose input gradient is exact."""
    if node.attr("accuracy_level", 0) == 4:
        logger.warning(
            "MatMulNBits %r has accuracy_level=4: onnxruntime quantizes its input to int8, "
            "the bridge keeps it float (outputs differ slightly)",
            node.name,
        )
    quantized = [name for name in inputs[1:5] if name]
    if not all(name in constants for name in quantized):
        return inputs  # weights computed at run time: dequantized on every call
    args = [constants[name] if name else None for name in inputs[1:5]]
    args += [None] * (4 - len(args))
    with torch.no_grad():
        weight = dequantize_nbits(node, *args)  # type: ignore[arg-type]
    name = f"{node.name}::dequantized_weight"
    while name in constants:
        name += "_"
    constants[name] = weight
    return [inputs[0], name, "", "", "", *inputs[5:6]]


@register("MatMulNBits", domains=MICROSOFT_ONLY, since=1, prepare=_prepare_matmul_nbits)
def matmul_nbits(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    """com.microsoft MatMulNBits: A ``[..., K]`` times a blockwise-quantized constant
    weight (INC / onnxruntime weight-only quantization), plus an optional bias ``[N]``.

    Float in, float out: the weight is dequantized and A stays float, as in onnxruntime's
    kernel for ``accuracy_level`` 0-3 (matches within float rounding), so autograd is
    exact. ``accuracy_level=4`` makes onnxruntime quantize A to int8 per block at run
    time; the bridge keeps A float there (outputs differ by about 0.5% of their range,
    and the converter logs a warning).
    """
    a, b = xs[0], xs[1]
    assert a is not None and b is not None
    if b.is_floating_point():  # dequantized by _prepare_matmul_nbits
        weight = b
    else:
        scales = xs[2]
        assert scales is not None
        weight = dequantize_nbits(
            node, b, scales, xs[3] if len(xs) > 3 else None, xs[4] if len(xs) > 4 else None
        )
    y = torch.matmul(a, weight.to(a.dtype))
    bias = xs[5] if len(xs) > 5 else None
    return y + bias.to(y.dtype) if bias is not None else y
