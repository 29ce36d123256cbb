"""Fast Gradient Sign Method."""

from __future__ import annotations

import numpy as np
import torch

from robustedge.attacks.base import Attack, Need, RunContext
from robustedge.attacks.differentiable import (
    ce_loss,
    eval_mode,
    loss_and_grad,
    module_device,
    project_ball,
    steepest_step,
    to_tensor,
)
from robustedge.attacks.registry import register


@register
class FGSM(Attack):
    """Fast Gradient Sign Method (Goodfellow, Shlens & Szegedy, "Explaining and Harnessing
    Adversarial Examples", ICLR 2015).

    Threat model: white-box (gradients of the cross-entropy through the bridge module),
    untargeted, L-inf. One step: x_adv = clip(x + epsilon * sign(grad_x CE(f(x), y))).
    With norm "l2" it is the fast gradient method (step along the normalized gradient).

    Arguments: ``batch_size`` (256), ``time_budget_s`` (None).
    Valid input range: any [min, max]; x_adv is clipped to it.
    """

    name = "fgsm"
    needs = Need.GRADIENTS
    norms = ("linf", "l2")
    description = "Fast Gradient Sign Method (one gradient-sign step of size epsilon)"

    def _run(self, ctx: RunContext) -> tuple[np.ndarray, int | None]:
        module = ctx.target.module
        assert module is not None
        device = module_device(module)
        out = ctx.x.copy()
        batches = ctx.batches()
        with eval_mode(module):
            for i, sl in enumerate(batches):
                x = to_tensor(ctx.x[sl], device)
                y = to_tensor(ctx.y[sl], device)
                _, _, grad = loss_and_grad(module, x, y, ce_loss)
                step = ctx.epsilon * steepest_step(grad, ctx.norm)
                with torch.no_grad():
                    x_adv = project_ball(x + step, x, ctx.epsilon, ctx.norm, ctx.lo, ctx.hi)
                out[sl] = x_adv.cpu().numpy()
                ctx.report((i + 1) / len(batches))
        return out, None
