"""Element-wise and activation operators (numpy-style broadcasting, as in ONNX).

All of them are differentiable by autograd exactly; comparisons and logical operators
return booleans and carry no gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from robustedge.bridge.node import NodeInfo
from robustedge.bridge.registry import register

Tensor = torch.Tensor


def _unary(op_type: str, fn: Callable[[Tensor], Tensor], gradient: str = "exact") -> None:
    def handler(node: NodeInfo, xs: list[Tensor]) -> Tensor:
        return fn(xs[0])

    handler.__name__ = f"onnx_{op_type.lower()}"
    register(op_type, gradient=gradient)(handler)


def _binary(op_type: str, fn: Callable[[Tensor, Tensor], Tensor], gradient: str = "exact") -> None:
    def handler(node: NodeInfo, xs: list[Tensor]) -> Tensor:
        return fn(xs[0], xs[1])

    handler.__name__ = f"onnx_{op_type.lower()}"
    register(op_type, gradient=gradient)(handler)


def _divide(a: Tensor, b: Tensor) -> Tensor:
    # ONNX integer division truncates toward zero (C semantics), torch's `/` would
    # promote to float.
    if a.is_floating_point() or b.is_floating_point():
        return a / b
    return torch.div(a, b, rounding_mode="trunc")


def _power(a: Tensor, b: Tensor) -> Tensor:
    # The result has the base's type in ONNX (Pow(float, int64) is float).
    result = torch.pow(a, b)
    return result.to(a.dtype) if result.dtype != a.dtype else result


_ARITHMETIC: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "Add": torch.add,
    "Sub": torch.sub,
    "Mul": torch.mul,
    "Div": _divide,
    "Pow": _power,
}
for _name, _fn in _ARITHMETIC.items():
    _binary(_name, _fn)

_COMPARISONS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "Equal": torch.eq,
    "Greater": torch.gt,
    "Less": torch.lt,
    "GreaterOrEqual": torch.ge,
    "LessOrEqual": torch.le,
    "And": torch.logical_and,
    "Or": torch.logical_or,
    "Xor": torch.logical_xor,
}
for _name, _fn in _COMPARISONS.items():
    _binary(_name, _fn, gradient="none")

_SMOOTH: dict[str, Callable[[Tensor], Tensor]] = {
    "Neg": torch.neg,
    "Abs": torch.abs,
    "Sqrt": torch.sqrt,
    "Exp": torch.exp,
    "Log": torch.log,
    "Reciprocal": torch.reciprocal,
    "Relu": torch.relu,
    "Sigmoid": torch.sigmoid,
    "Tanh": torch.tanh,
    "Softsign": F.softsign,
    "Erf": torch.erf,
    "Sin": torch.sin,
    "Cos": torch.cos,
    "Identity": lambda x: x,
}
for _name, _unary_fn in _SMOOTH.items():
    _unary(_name, _unary_fn)

_STEPS: dict[str, Callable[[Tensor], Tensor]] = {
    "Floor": torch.floor,
    "Ceil": torch.ceil,
    "Sign": torch.sign,
    "Not": torch.logical_not,
    "IsNaN": torch.isnan,
}
for _name, _unary_fn in _STEPS.items():
    _unary(_name, _unary_fn, gradient="none")


@register("Round", gradient="none")
def onnx_round(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    return torch.round(xs[0])  # half to even, as ONNX specifies


@register("LeakyRelu")
def leaky_relu(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    return F.leaky_relu(xs[0], node.attr("alpha", 0.01))


@register("PRelu", since=1)
def prelu_legacy(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    # Before opset 7 (no numpy broadcasting) a 1-D slope applies per channel (axis 1).
    x, slope = xs
    if slope.dim() == 1 and x.dim() > 2 and slope.numel() == x.shape[1]:
        slope = slope.reshape([1, -1] + [1] * (x.dim() - 2))
    return torch.where(x < 0, x * slope, x)


@register("PRelu", since=7)
def prelu(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    # ONNX PRelu broadcasts the slope unidirectionally (unlike F.prelu's channel rule).
    x, slope = xs
    return torch.where(x < 0, x * slope, x)


@register("Elu")
def elu(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    return F.elu(xs[0], node.attr("alpha", 1.0))


@register("Celu")
def celu(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    return F.celu(xs[0], node.attr("alpha", 1.0))


@register("Selu")
def selu(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    alpha = node.attr("alpha", 1.67326319217681884765625)
    gamma = node.attr("gamma", 1.05070102214813232421875)
    x = xs[0]
    return gamma * torch.where(x > 0, x, alpha * (torch.exp(x) - 1))


@register("ThresholdedRelu")
def thresholded_relu(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    x = xs[0]
    return torch.where(x > node.attr("alpha", 1.0), x, torch.zeros_like(x))


@register("HardSigmoid")
def hard_sigmoid(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    alpha, beta = node.attr("alpha", 0.2), node.attr("beta", 0.5)
    return torch.clamp(alpha * xs[0] + beta, 0.0, 1.0)


@register("HardSwish")
def hard_swish(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    return F.hardswish(xs[0])


@register("Softplus")
def softplus(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    # log(1 + exp(x)) without the threshold shortcut torch applies above 20.
    return F.softplus(xs[0], beta=1.0, threshold=1e4)


@register("Mish")
def mish(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    return F.mish(xs[0])


@register("Gelu", since=20)
def gelu(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    return F.gelu(xs[0], approximate=node.attr("approximate", "none"))


@register("Clip", since=6)
def clip_attributes(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    # Opsets 6-10 carry the bounds as attributes.
    low = node.attr("min", -math.inf)
    high = node.attr("max", math.inf)
    return torch.clamp(xs[0], low, high)


@register("Clip", since=11)
def clip_inputs(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    x = xs[0]
    assert x is not None
    low = xs[1] if len(xs) > 1 else None
    high = xs[2] if len(xs) > 2 else None
    if low is not None:
        x = torch.maximum(x, low.to(x.dtype))
    if high is not None:
        x = torch.minimum(x, high.to(x.dtype))
    return x


def _variadic(
    op_type: str, combine: Callable[[Tensor, Tensor], Tensor], mean: bool = False
) -> None:
    def handler(node: NodeInfo, xs: list[Tensor]) -> Tensor:
        result = xs[0]
        for other in xs[1:]:
            result = combine(result, other)
        return result / len(xs) if mean else result

    handler.__name__ = f"onnx_{op_type.lower()}"
    register(op_type)(handler)


_variadic("Sum", torch.add)
_variadic("Max", torch.maximum)
_variadic("Min", torch.minimum)
_variadic("Mean", torch.add, mean=True)


@register("Where")
def where(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    return torch.where(xs[0].bool(), xs[1], xs[2])
