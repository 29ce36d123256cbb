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
) -> torch.Tensor:
    """``steps`` steps of x <- Proj(x + step_size * steepest_direction(grad loss)); last iterate."""
    x_adv = x_start
    for _ in range(steps):
        _, _, grad = loss_and_grad(module, x_adv, y, loss_fn)
        x_adv = project_ball(
            x_adv + step_size * steepest_step(grad, norm), x, epsilon, norm, lo, hi
        )
    return x_adv.detach()


def run_restarts(
    ctx: RunContext, *, steps: int, step_size: float, restarts: int, start: bool
) -> np.ndarray:
    """Runs ``restarts`` projected-ascent attempts per batch, each only on samples the
    replica still classifies correctly, and keeps per sample the attempt with the lowest
    margin (first success wins). Deterministic given ctx.seed and the batch size; each
    batch draws its random starts from its own generator (ctx.batch_seed)."""
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
                    cand = projected_ascent(
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
                    )
                    with torch.no_grad():
                        m = margin(logits_of(module, cand), ya)
                    better = m < best_margin[active]
                    best[active[better]] = cand[better]
                    best_margin[active[better]] = m[better]
                done += 1
                ctx.report(done / units)
            x_adv_all[sl] = best.cpu().numpy()
    return x_adv_all
