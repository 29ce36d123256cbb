"""The projected steepest-ascent loop shared by BIM and PGD (L-inf and L2)."""

from __future__ import annotations

import numpy as np
import torch

from robustedge.attacks.base import RunContext
from robustedge.attacks.differentiable import (
    LossFn,
    ce_loss,
    eval_mode,
    logits_of,
    loss_and_grad,
    margin,
    module_device,
    project_ball,
    random_start,
    steepest_step,
    to_tensor,
)


def projected_ascent(
    module: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    x_start: torch.Tensor,
    *,
    epsilon: float,
    norm: str,
    steps: int,
    step_size: float,
    lo: float,
    hi: float,
    loss_fn: LossFn = ce_loss,
    keep_best: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``steps`` steps of x <- Proj(x + step_size * steepest_direction(grad loss)).

    Returns (x_adv, margin of x_adv). With ``keep_best`` x_adv is, per sample, the
    iterate (start and final point included) with the lowest margin; else the last one.
    """
    x_adv = x_start
    best = x_start.detach().clone()
    best_margin = torch.full((len(x),), float("inf"), device=x.device)
    for _ in range(steps):
        _, logits, grad = loss_and_grad(module, x_adv, y, loss_fn)
        if keep_best:
            # The logits that gave this step's gradient are the exact forward pass of the
            # current iterate, so tracking the best one costs no extra model evaluation.
            m = margin(logits, y)
            better = m < best_margin
            best[better] = x_adv.detach()[better]
            best_margin[better] = m[better]
        x_adv = project_ball(
            x_adv + step_size * steepest_step(grad, norm), x, epsilon, norm, lo, hi
        ).detach()
    with torch.no_grad():
        m = margin(logits_of(module, x_adv), y)
    if not keep_best:
        return x_adv, m
    better = m < best_margin
    best[better] = x_adv[better]
    best_margin[better] = m[better]
    return best, best_margin


def run_restarts(
    ctx: RunContext,
    *,
    steps: int,
    step_size: float,
    restarts: int,
    start: bool,
    keep_best: bool = True,
) -> np.ndarray:
    """Runs ``restarts`` projected-ascent attempts per batch, each only on samples the
    replica still classifies correctly, and keeps per sample the point with the lowest
    margin (first success wins): with ``keep_best`` the lowest-margin iterate of each
    attempt, else its last iterate (Madry et al.'s and ART's protocol). Deterministic
    given ctx.seed and the batch size; each batch draws its random starts from its own
    generator (ctx.batch_seed), so a sample slice gives the same points as the whole."""
    module = ctx.target.module
    assert module is not None  # checked by Attack.check_target
    device = module_device(module)
    x_adv_all = ctx.x.copy()
    batches = ctx.batches()
    units = len(batches) * restarts
    done = 0
    with eval_mode(module):
        for sl in batches:
            generator = torch.Generator().manual_seed(ctx.batch_seed(sl))
            x = to_tensor(ctx.x[sl], device)
            y = to_tensor(ctx.y[sl], device)
            best = x.clone()
            best_margin = torch.full((len(x),), float("inf"), device=device)
            for _ in range(restarts):
                active = (best_margin >= 0).nonzero().squeeze(1)
                if len(active):
                    xa, ya = x[active], y[active]
                    x0 = (
                        random_start(xa, ctx.epsilon, ctx.norm, ctx.lo, ctx.hi, generator)
                        if start
                        else xa
                    )
                    cand, m = projected_ascent(
                        module,
                        xa,
                        ya,
                        x0,
                        epsilon=ctx.epsilon,
                        norm=ctx.norm,
                        steps=steps,
                        step_size=step_size,
                        lo=ctx.lo,
                        hi=ctx.hi,
                        keep_best=keep_best,
                    )
                    better = m < best_margin[active]
                    best[active[better]] = cand[better]
                    best_margin[active[better]] = m[better]
                done += 1
                ctx.report(done / units)
            x_adv_all[sl] = best.cpu().numpy()
    return x_adv_all
