"""Rounding with a chosen gradient: the clamped straight-through estimator, or zero.

Every quantizing operator ends in ``saturate(round(v) + zero_point)``. Its true
derivative is zero almost everywhere, which hides the model from gradient attacks
(gradient masking). The clamped straight-through estimator instead treats the rounding
as the identity where the result is representable and as a constant where it
saturates:

    forward:   y = clamp(round_half_even(v) + zp, qmin, qmax)
    backward:  dy/dv = 1 if qmin <= v + zp <= qmax else 0      (gradient="ste")
               dy/dv = 0                                       (gradient="exact")
"""

from __future__ import annotations

from typing import Any

import torch

Tensor = torch.Tensor


class _SaturatingRound(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, value: Tensor, zero_point: Tensor, qmin: float, qmax: float, straight: bool
    ) -> Tensor:
        ctx.straight = straight
        if straight:
            shifted = value + zero_point
            ctx.save_for_backward((shifted >= qmin) & (shifted <= qmax))
        # Round before adding the zero point: round-half-to-even depends on parity.
        return torch.clamp(torch.round(value) + zero_point, qmin, qmax)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None, None, None, None]:
        if not ctx.straight:
            return torch.zeros_like(grad), None, None, None, None
        (inside,) = ctx.saved_tensors
        return grad * inside, None, None, None, None


def saturating_round(
    value: Tensor, zero_point: Tensor | float, qmin: float, qmax: float, gradient: str
) -> Tensor:
    """``clamp(round(value) + zero_point, qmin, qmax)`` with the gradient the mode asks for.

    The result is a floating tensor holding integers: the bridge carries quantized
    tensors as floats so that gradients can flow through them.
    """
    zp = torch.as_tensor(zero_point, dtype=value.dtype)
    return _SaturatingRound.apply(value, zp, float(qmin), float(qmax), gradient == "ste")
