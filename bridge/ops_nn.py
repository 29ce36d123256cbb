"""Neural-network operators: convolution, dense layers, pooling, normalization, softmax.

``Conv``, ``Gemm`` and ``MatMul`` whose weight is an ONNX initializer are *parametric*:
the converter builds a real ``nn.Conv{1,2,3}d`` / ``nn.Linear`` owning the weight (so
INC's pruner recognises the layer and ``write_back`` can map it to the initializer),
and the handler receives that layer. Without a constant weight, the same handlers run
the functional form on the tensors flowing through the graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robustedge.bridge.errors import BridgeError
from robustedge.bridge.node import NodeInfo
from robustedge.bridge.registry import register

Tensor = torch.Tensor


# --- Padding ---------------------------------------------------------------------


def explicit_pads(
    node: NodeInfo,
    spatial: list[int],
    kernel: list[int],
    strides: list[int],
    dilations: list[int],
) -> list[int]:
    """ONNX ``[begin..., end...]`` pads after resolving ``auto_pad`` for this input size."""
    n = len(kernel)
    auto_pad = node.attr("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = [], []
        for size, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
            out = -(-size // s)
            total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
            small, large = total // 2, total - total // 2
            begins.append(small if auto_pad == "SAME_UPPER" else large)
            ends.append(large if auto_pad == "SAME_UPPER" else small)
        return begins + ends
    if auto_pad == "VALID":
        return [0] * (2 * n)
    pads = node.attr("pads")
    return list(pads) if pads else [0] * (2 * n)


def _symmetric(pads: list[int]) -> bool:
    n = len(pads) // 2
    return pads[:n] == pads[n:]


def torch_pad_order(pads: list[int]) -> list[int]:
    # ONNX spatial pads [b1, b2, ..., e1, e2, ...] -> F.pad's [bN, eN, ..., b1, e1].
    n = len(pads) // 2
    order: list[int] = []
    for i in reversed(range(n)):
        order += [pads[i], pads[i + n]]
    return order


def conv_geometry(node: NodeInfo, kernel: list[int]) -> tuple[list[int], list[int]]:
    n = len(kernel)
    strides = list(node.attr("strides") or [1] * n)
    dilations = list(node.attr("dilations") or [1] * n)
    return strides, dilations


# --- Conv --------------------------------------------------------------------------

# Typed loosely: the classes' stubs want fixed-length tuples per dimensionality.
_CONV_CLASSES: dict[int, Any] = {
    1: nn.Conv1d,
    2: nn.Conv2d,
    3: nn.Conv3d,
}
_CONV_FUNCTIONS: dict[int, Any] = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


@dataclass
class LayerBinding:
    """Which node inputs a torch layer absorbed, and how each maps back to ONNX.

    ``params`` maps the node input index to (parameter attribute on the layer,
    layout), where layout is "same" or "transpose" (the torch parameter is the
    transposed 2-D initializer) or "reshape" (same values, different shape).
    """

    layer: nn.Module
    params: dict[int, tuple[str, str]]


def make_conv_layer(node: NodeInfo, weight: np.ndarray, bias: np.ndarray | None) -> LayerBinding:
    """An ``nn.ConvNd`` holding a Conv node's initializer weight (and bias)."""
    kernel = list(weight.shape[2:])
    if len(kernel) not in _CONV_CLASSES:
        raise BridgeError(f"Conv {node.name!r}: {len(kernel)}-D kernels are not supported")
    strides, dilations = conv_geometry(node, kernel)
    group = node.attr("group", 1)
    pads = node.attr("pads")
    # Symmetric explicit pads go into the layer itself (one fused op, as a hand-written
    # model would do); anything else is padded by the handler before the call.
    in_layer = node.attr("auto_pad", "NOTSET") == "NOTSET" and (not pads or _symmetric(list(pads)))
    padding = list(pads[: len(kernel)]) if in_layer and pads else [0] * len(kernel)
    node.attrs["_padding_in_layer"] = in_layer
    layer = _CONV_CLASSES[len(kernel)](
        in_channels=weight.shape[1] * group,
        out_channels=weight.shape[0],
        kernel_size=tuple(kernel),
        stride=tuple(strides),
        padding=tuple(padding),
        dilation=tuple(dilations),
        groups=group,
        bias=bias is not None,
    )
    params = {1: ("weight", "same")}
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)))
        if bias is not None:
            assert layer.bias is not None
            layer.bias.copy_(torch.from_numpy(np.ascontiguousarray(bias)))
            params[2] = ("bias", "same")
    return LayerBinding(layer, params)


@register("Conv", parametric=True)
def conv(node: NodeInfo, xs: list[Tensor | None], layer: nn.Module | None) -> Tensor:
    x = xs[0]
    assert x is not None
    weight = layer.weight if layer is not None else xs[1]
    assert isinstance(weight, Tensor)
    kernel = list(weight.shape[2:])
    strides, dilations = conv_geometry(node, kernel)
    if layer is not None and node.attrs.get("_padding_in_layer"):
        return layer(x)
    pads = explicit_pads(node, list(x.shape[2:]), kernel, strides, dilations)
    if any(pads):
        x = F.pad(x, torch_pad_order(pads))
    if layer is not None:
        return layer(x)
    bias = xs[2] if len(xs) > 2 else None
    return _CONV_FUNCTIONS[len(kernel)](
        x, weight, bias, tuple(strides), 0, tuple(dilations), node.attr("group", 1)
    )


@register("ConvTranspose")
def conv_transpose(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    x, weight = xs[0], xs[1]
    assert x is not None and weight is not None
    bias = xs[2] if len(xs) > 2 else None
    kernel = list(node.attr("kernel_shape") or weight.shape[2:])
    n = len(kernel)
    strides, dilations = conv_geometry(node, kernel)
    group = node.attr("group", 1)
    output_padding = list(node.attr("output_padding") or [0] * n)
    pads = list(node.attr("pads") or [0] * (2 * n))
    output_shape = node.attr("output_shape")
    auto_pad = node.attr("auto_pad", "NOTSET")
    if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        spatial = list(x.shape[2:])
        if output_shape is None:
            output_shape = [size * s for size, s in zip(spatial, strides, strict=True)]
        target = list(output_shape)[-n:]
        pads = [0] * (2 * n)
        for i in range(n):
            total = (
                strides[i] * (spatial[i] - 1)
                + output_padding[i]
                + (kernel[i] - 1) * dilations[i]
                + 1
                - target[i]
            )
            total = max(total, 0)
            if auto_pad == "SAME_LOWER":
                pads[i], pads[i + n] = total - total // 2, total // 2
            else:
                pads[i], pads[i + n] = total // 2, total - total // 2
    functional = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[n]
    # Run with no padding, then crop: handles asymmetric pads exactly.
    y = functional(
        x, weight, bias, tuple(strides), 0, tuple(output_padding), group, tuple(dilations)
    )
    index: list[Any] = [slice(None), slice(None)]
    for i in range(n):
        index.append(slice(pads[i], y.shape[2 + i] - pads[i + n]))
    return y[tuple(index)]


# --- Gemm / MatMul -------------------------------------------------------------------


def make_gemm_layer(node: NodeInfo, weight: np.ndarray, bias: np.ndarray | None) -> LayerBinding:
    """An ``nn.Linear`` holding a Gemm node's constant B (and C when it is a [N] bias)."""
    trans_b = bool(node.attr("transB", 0))
    matrix = weight if trans_b else weight.T  # nn.Linear stores [out, in]
    out_features = matrix.shape[0]
    usable_bias = bias is not None and bias.size == out_features and bias.ndim <= 2
    layer = nn.Linear(matrix.shape[1], out_features, bias=usable_bias)
    params = {1: ("weight", "same" if trans_b else "transpose")}
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(matrix)))
        if usable_bias:
            assert bias is not None and layer.bias is not None
            layer.bias.copy_(torch.from_numpy(bias.reshape(-1)))
            params[2] = ("bias", "same" if bias.ndim == 1 else "reshape")
    return LayerBinding(layer, params)


def make_matmul_layer(node: NodeInfo, weight: np.ndarray, bias: np.ndarray | None) -> LayerBinding:
    """An ``nn.Linear`` (no bias) holding a MatMul node's constant 2-D right operand."""
    layer = nn.Linear(weight.shape[0], weight.shape[1], bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight.T)))
    return LayerBinding(layer, {1: ("weight", "transpose")})


@register("Gemm", parametric=True)
def gemm(node: NodeInfo, xs: list[Tensor | None], layer: nn.Module | None) -> Tensor:
    a = xs[0]
    assert a is not None
    if node.attr("transA", 0):
        a = a.transpose(0, 1)
    alpha, beta = node.attr("alpha", 1.0), node.attr("beta", 1.0)
    c = xs[2] if len(xs) > 2 else None
    if layer is not None:
        if alpha == 1.0 and (beta == 1.0 or layer.bias is None):
            y = layer(a)
        else:
            weight, bias = cast(Tensor, layer.weight), cast(Tensor | None, layer.bias)
            y = F.linear(a, weight) * alpha
            if bias is not None:
                y = y + beta * bias
    else:
        b = xs[1]
        assert b is not None
        if node.attr("transB", 0):
            b = b.transpose(0, 1)
        y = torch.matmul(a, b)
        if alpha != 1.0:
            y = y * alpha
    if c is not None:
        y = y + (c if beta == 1.0 else beta * c)
    return y


@register("MatMul", parametric=True)
def matmul(node: NodeInfo, xs: list[Tensor | None], layer: nn.Module | None) -> Tensor:
    a = xs[0]
    assert a is not None
    if layer is not None:
        return layer(a)
    b = xs[1]
    assert b is not None
    return torch.matmul(a, b)


# --- Pooling -------------------------------------------------------------------------

_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _pool_geometry(node: NodeInfo, x: Tensor) -> tuple[list[int], list[int], list[int], list[int]]:
    kernel = list(node.attr("kernel_shape"))
    n = len(kernel)
    strides = list(node.attr("strides") or [1] * n)
    dilations = list(node.attr("dilations") or [1] * n)
    pads = explicit_pads(node, list(x.shape[2:]), kernel, strides, dilations)
    return kernel, strides, dilations, pads


def _fits_torch_padding(pads: list[int], kernel: list[int]) -> bool:
    # torch pools accept only symmetric padding of at most half the kernel.
    n = len(kernel)
    return _symmetric(pads) and all(pads[i] <= kernel[i] // 2 for i in range(n))


@register("MaxPool")
def max_pool(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    x = xs[0]
    kernel, strides, dilations, pads = _pool_geometry(node, x)
    n = len(kernel)
    ceil_mode = bool(node.attr("ceil_mode", 0))
    padding: list[int] = pads[:n]
    if not _fits_torch_padding(pads, kernel):
        x = F.pad(x, torch_pad_order(pads), value=-math.inf)
        padding = [0] * n
    return _MAX_POOL[n](x, kernel, strides, padding, dilations, ceil_mode=ceil_mode)


@register("AveragePool")
def average_pool(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    x = xs[0]
    kernel, strides, dilations, pads = _pool_geometry(node, x)
    if any(d != 1 for d in dilations):
        raise BridgeError(f"AveragePool {node.name!r}: dilations are not supported")
    n = len(kernel)
    ceil_mode = bool(node.attr("ceil_mode", 0))
    include_pad = bool(node.attr("count_include_pad", 0))
    if _fits_torch_padding(pads, kernel):
        return _AVG_POOL[n](x, kernel, strides, pads[:n], ceil_mode, include_pad)
    padded = F.pad(x, torch_pad_order(pads))
    total = _AVG_POOL[n](padded, kernel, strides, 0, ceil_mode, True)
    if include_pad:
        return total
    ones = F.pad(torch.ones_like(x[:1, :1]), torch_pad_order(pads))
    coverage = _AVG_POOL[n](ones, kernel, strides, 0, ceil_mode, True)
    return total / coverage


@register("GlobalAveragePool")
def global_average_pool(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    x = xs[0]
    return x.mean(dim=tuple(range(2, x.dim())), keepdim=True)


@register("GlobalMaxPool")
def global_max_pool(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    x = xs[0]
    return x.amax(dim=tuple(range(2, x.dim())), keepdim=True)


# --- Normalization --------------------------------------------------------------------


@register("BatchNormalization")
def batch_normalization(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    # Inference semantics: running statistics, as onnxruntime evaluates the graph.
    x, scale, bias, mean, var = xs[:5]
    return F.batch_norm(x, mean, var, scale, bias, False, 0.0, node.attr("epsilon", 1e-5))


@register("InstanceNormalization")
def instance_normalization(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    x, scale, bias = xs
    return F.instance_norm(x, weight=scale, bias=bias, eps=node.attr("epsilon", 1e-5))


@register("LayerNormalization", since=17)
def layer_normalization(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    x, scale = xs[0], xs[1]
    assert x is not None and scale is not None
    bias = xs[2] if len(xs) > 2 else None
    axis = node.attr("axis", -1)
    axis = axis + x.dim() if axis < 0 else axis
    dims = tuple(range(axis, x.dim()))
    mean = x.mean(dim=dims, keepdim=True)
    var = (x - mean).square().mean(dim=dims, keepdim=True)
    y = (x - mean) / torch.sqrt(var + node.attr("epsilon", 1e-5)) * scale
    return y + bias if bias is not None else y


@register("LRN")
def lrn(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    # ONNX sums squares over channels [c - floor((size-1)/2), c + ceil((size-1)/2)];
    # F.local_response_norm centres the window differently for even sizes.
    x = xs[0]
    size = node.attr("size")
    alpha, beta, bias = node.attr("alpha", 1e-4), node.attr("beta", 0.75), node.attr("bias", 1.0)
    squares = x.square().unsqueeze(1)  # [N, 1, C, ...]
    front, back = (size - 1) // 2, size - 1 - (size - 1) // 2
    pad = [0, 0] * (x.dim() - 2) + [front, back]
    squares = F.pad(squares, pad)
    window = [size] + [1] * (x.dim() - 2)
    pool = F.avg_pool3d if x.dim() == 4 else F.avg_pool2d if x.dim() == 3 else None
    if pool is None:
        raise BridgeError(f"LRN {node.name!r}: rank {x.dim()} inputs are not supported")
    summed = pool(squares, window, stride=1).squeeze(1) * size
    return x / (bias + alpha / size * summed).pow(beta)


def _softmax_like(node: NodeInfo, x: Tensor, log: bool) -> Tensor:
    fn = F.log_softmax if log else F.softmax
    if node.opset >= 13:
        return fn(x, dim=node.attr("axis", -1))
    # Before opset 13 the input is coerced to 2-D at `axis` and normalized per row.
    axis = node.attr("axis", 1)
    axis = axis + x.dim() if axis < 0 else axis
    rows = int(np.prod(x.shape[:axis])) if axis else 1
    return fn(x.reshape(rows, -1), dim=1).reshape(x.shape)


@register("Softmax")
def softmax(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    return _softmax_like(node, xs[0], log=False)


@register("LogSoftmax")
def log_softmax(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    return _softmax_like(node, xs[0], log=True)


# --- Resampling ------------------------------------------------------------------------


def _interpolate(node: NodeInfo, x: Tensor, sizes: list[int]) -> Tensor:
    mode = node.attr("mode", "nearest")
    spatial = x.dim() - 2
    if mode == "nearest":
        transform = node.attr(
            "coordinate_transformation_mode", "asymmetric" if node.opset < 11 else "half_pixel"
        )
        rounding = node.attr("nearest_mode", "round_prefer_floor")
        if transform == "asymmetric" and (node.opset < 11 or rounding == "floor"):
            return F.interpolate(x, size=sizes[2:], mode="nearest")
        raise BridgeError(
            f"Resize {node.name!r}: nearest mode with {transform}/{rounding} is not supported"
        )
    if mode in ("linear", "bilinear"):
        torch_mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[spatial]
        transform = node.attr(
            "coordinate_transformation_mode", "asymmetric" if node.opset < 11 else "half_pixel"
        )
        if transform == "align_corners":
            return F.interpolate(x, size=sizes[2:], mode=torch_mode, align_corners=True)
        if transform in ("half_pixel", "pytorch_half_pixel"):
            return F.interpolate(x, size=sizes[2:], mode=torch_mode, align_corners=False)
        raise BridgeError(f"Resize {node.name!r}: linear mode with {transform} is not supported")
    raise BridgeError(f"Resize {node.name!r}: mode {mode!r} is not supported")


def _sizes_from_scales(x: Tensor, scales: list[float]) -> list[int]:
    return [math.floor(d * s) for d, s in zip(x.shape, scales, strict=True)]


@register("Upsample", since=7)
def upsample_v7(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    return _interpolate(node, xs[0], _sizes_from_scales(xs[0], list(node.attr("scales"))))


@register("Upsample", since=9)
def upsample_v9(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    return _interpolate(node, xs[0], _sizes_from_scales(xs[0], xs[1].tolist()))


@register("Resize", since=10)
def resize(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    x = xs[0]
    assert x is not None
    if node.opset < 11:
        scales_input = xs[1]
        sizes_input = None
    else:
        scales_input = xs[2] if len(xs) > 2 else None
        sizes_input = xs[3] if len(xs) > 3 else None
    if sizes_input is not None and sizes_input.numel():
        sizes = [int(v) for v in sizes_input.tolist()]
    elif scales_input is not None and scales_input.numel():
        sizes = _sizes_from_scales(x, scales_input.tolist())
    else:
        raise BridgeError(f"Resize {node.name!r}: neither scales nor sizes given")
    return _interpolate(node, x, sizes)
