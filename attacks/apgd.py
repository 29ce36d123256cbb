"""AutoPGD with cross-entropy (apgd-ce) and Difference-of-Logits-Ratio (apgd-dlr) loss."""

from __future__ import annotations

import math

import numpy as np
import torch

from robustedge.attacks.base import Attack, Need, Param, RunContext
from robustedge.attacks.differentiable import (
    LossFn,
    ce_loss,
    dlr_loss,
    eval_mode,
    loss_and_grad,
    module_device,
    project_ball,
    random_start,
    steepest_step,
    to_tensor,
)
from robustedge.attacks.registry import register


def checkpoints(steps: int) -> list[int]:
    """Iterations at which APGD may halve its step: p_0 = 0, p_1 = 0.22,
    p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06), scaled by ``steps`` (Croce & Hein, 2020)."""
    p = [0.0, 0.22]
    while p[-1] < 1.0:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    points = sorted({math.ceil(q * steps) for q in p if 0 < q < 1.0})
    return [w for w in points if 0 < w < steps]


def apgd_batch(
    module: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss_fn: LossFn,
    epsilon: float,
    norm: str,
    steps: int,
    rho: float,
    lo: float,
    hi: float,
    generator: torch.Generator,
    start: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One APGD run on a batch. Returns (x_adv, fooled) where x_adv is, per sample, the
    first misclassified iterate if any, else the iterate with the highest loss."""
    x_adv = random_start(x, epsilon, norm, lo, hi, generator) if start else x.clone()
    loss, logits, grad = loss_and_grad(module, x_adv, y, loss_fn)
    fooled = logits.argmax(1) != y
    x_best_adv = x_adv.clone()
    x_best, loss_best, grad_best = x_adv.clone(), loss.clone(), grad.clone()
    # Initial step 2 * epsilon (in the attack's norm); halved per sample at checkpoints.
    step = torch.full((len(x),) + (1,) * (x.dim() - 1), 2.0 * epsilon, device=x.device)
    marks = checkpoints(steps)
    last_mark = 0
    improved_since = torch.zeros(len(x), device=x.device)  # successful steps since last mark
    loss_best_at_mark = loss_best.clone()
    halved_at_mark = torch.ones(len(x), dtype=torch.bool, device=x.device)
    x_prev = x_adv.clone()
    loss_prev = loss.clone()
    for k in range(steps):
        # z: a plain projected step; the update mixes it with momentum (alpha = 0.75).
        alpha = 1.0 if k == 0 else 0.75
        z = project_ball(x_adv + step * steepest_step(grad, norm), x, epsilon, norm, lo, hi)
        x_new = project_ball(
            x_adv + alpha * (z - x_adv) + (1 - alpha) * (x_adv - x_prev), x, epsilon, norm, lo, hi
        )
        x_prev, x_adv = x_adv, x_new
        loss, logits, grad = loss_and_grad(module, x_adv, y, loss_fn)
        now_fooled = logits.argmax(1) != y
        newly = now_fooled & ~fooled
        x_best_adv[newly] = x_adv[newly]
        fooled |= now_fooled
        improved_since += (loss > loss_prev).float()
        loss_prev = loss
        better = loss > loss_best
        x_best[better], grad_best[better], loss_best[better] = (
            x_adv[better],
            grad[better],
            loss[better],
        )
        if k + 1 in marks:
            # Halve where too few steps improved the loss (oscillation), or where the step
            # was not halved last time and the best loss did not move since.
            window = k + 1 - last_mark
            oscillating = improved_since <= rho * window
            stalled = ~halved_at_mark & (loss_best_at_mark >= loss_best)
            halve = oscillating | stalled
            halved_at_mark = halve
            loss_best_at_mark = loss_best.clone()
            improved_since.zero_()
            last_mark = k + 1
            if halve.any():
                step[halve] /= 2.0
                # Restart the halved samples from their best point (and its gradient).
                x_adv[halve] = x_best[halve]
                grad[halve] = grad_best[halve]
                x_prev[halve] = x_best[halve]
    out = torch.where(fooled.reshape(-1, *([1] * (x.dim() - 1))), x_best_adv, x_best)
    return out.detach(), fooled


class _APGD(Attack):
    needs = Need.GRADIENTS
    norms = ("linf", "l2")
    loss_fn: LossFn
    parameters = (
        Param("steps", int, 100, "iterations per restart", low=1),
        Param("restarts", int, 1, "attempts per sample (only on samples not yet fooled)", low=1),
        Param(
            "rho",
            float,
            0.75,
            "fraction of improving steps below which the step halves",
            low=0.0,
            high=1.0,
        ),
        Param("random_start", bool, True, "start from a random point of the epsilon-ball"),
    )

    def _run(self, ctx: RunContext) -> tuple[np.ndarray, int | None]:
        module = ctx.target.module
        assert module is not None
        device = module_device(module)
        p = ctx.params
        out = ctx.x.copy()
        batches = ctx.batches()
        units, done = len(batches) * p["restarts"], 0
        with eval_mode(module):
            for sl in batches:
                # Per batch, so that a slice of whole batches draws what the full set does.
                generator = torch.Generator().manual_seed(ctx.batch_seed(sl))
                x, y = to_tensor(ctx.x[sl], device), to_tensor(ctx.y[sl], device)
                best = x.clone()
                fooled = torch.zeros(len(x), dtype=torch.bool, device=device)
                for _ in range(p["restarts"]):
                    active = (~fooled).nonzero().squeeze(1)
                    if len(active):
                        cand, ok = apgd_batch(
                            module,
                            x[active],
                            y[active],
                            loss_fn=self.loss_fn,
                            epsilon=ctx.epsilon,
                            norm=ctx.norm,
                            steps=p["steps"],
                            rho=p["rho"],
                            lo=ctx.lo,
                            hi=ctx.hi,
                            generator=generator,
                            start=p["random_start"],
                        )
                        # Unfooled samples keep the latest attempt's highest-loss point.
                        best[active] = cand
                        fooled[active] = ok
                    done += 1
                    ctx.report(done / units)
                out[sl] = best.cpu().numpy()
        return out, None


_DOC_COMMON = """
    Threat model: white-box (gradients through the bridge module), untargeted, L-inf or
    L2. Step-size-free PGD: starts with step 2 * epsilon, adds momentum (0.75), and
    halves a sample's step at checkpoints (22%, then shrinking intervals of the budget)
    when fewer than rho of its steps improved the loss or its best loss stalled; a
    halved sample restarts from its best point.

    Arguments:
        steps (100): iterations per restart.
        restarts (1): attempts per sample, each only on samples not yet fooled.
        rho (0.75): oscillation threshold for halving the step.
        random_start (True): start from a random point of the epsilon-ball.
        batch_size (256), time_budget_s (None).
    Valid input range: any [min, max]; x_adv is clipped to it. Deterministic given seed.
    Returns per sample the first misclassified iterate, else the highest-loss one.
"""


@register
class APGDCE(_APGD):
    name = "apgd-ce"
    description = "AutoPGD with cross-entropy loss (Croce & Hein 2020)"
    loss_fn = staticmethod(ce_loss)
    __doc__ = (
        """AutoPGD with cross-entropy loss (Croce & Hein, "Reliable evaluation of adversarial
    robustness with an ensemble of diverse parameter-free attacks", ICML 2020).
"""
        + _DOC_COMMON
    )


@register
class APGDDLR(_APGD):
    name = "apgd-dlr"
    description = "AutoPGD with the Difference-of-Logits-Ratio loss (Croce & Hein 2020)"
    loss_fn = staticmethod(dlr_loss)
    __doc__ = (
        """AutoPGD with the Difference-of-Logits-Ratio loss (Croce & Hein, "Reliable evaluation
    of adversarial robustness with an ensemble of diverse parameter-free attacks", ICML 2020).
    DLR = -(z_y - max_{i!=y} z_i) / (z_pi1 - z_pi3): invariant to logit scale, so it keeps a
    gradient where cross-entropy saturates (over-confident or temperature-scaled models).
"""
        + _DOC_COMMON
    )
