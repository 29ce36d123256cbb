"""Universal adversarial perturbation: one perturbation for the whole evaluation set."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from robustedge.attacks.base import Attack, Need, Param, RunContext
from robustedge.attacks.differentiable import (
    ce_loss,
    eval_mode,
    logits_of,
    module_device,
    steepest_step,
    to_tensor,
)
from robustedge.attacks.registry import register


def _default_step_size(resolved: Mapping[str, Any], epsilon: float, norm: str) -> float:
    # About four batches' worth of steps cross the ball: fast, yet fine enough to settle.
    return epsilon / 4


@register
class Universal(Attack):
    """Universal adversarial perturbation (Moosavi-Dezfooli, Fawzi, Fawzi & Frossard,
    "Universal adversarial perturbations", CVPR 2017), computed with the stochastic
    projected-gradient formulation of Shafahi, Najibi, Xu, Dickerson, Davis & Goldstein
    ("Universal Adversarial Training", AAAI 2020) instead of the original's per-sample
    DeepFool loop.

    Threat model: white-box (gradients through the bridge module), untargeted, L-inf or
    L2, and *universal*: a single perturbation v with ||v|| <= epsilon is added to every
    sample (x_adv = clip(x + v)), as in the studies behind RobustEdge. It is fitted on
    the evaluation set itself: each epoch walks the samples in a seeded random order in
    batches and takes a steepest-ascent step of the summed cross-entropy of the samples
    the current v does not fool yet (fooled ones no longer pull, like the original's
    "only update on points not yet fooled"), then projects v onto the epsilon-ball. The
    v that fools the most samples (on the replica) over all epochs is kept.

    Arguments:
        epochs (10): passes over the evaluation set.
        step_size (epsilon / 4): step length per batch, in the attack's norm.
        batch_size (256), time_budget_s (None).
    Valid input range: any [min, max]; x + v is clipped to it (so a clipped sample's
    own perturbation may be smaller than v). Deterministic given seed.
    """

    name = "universal"
    needs = Need.GRADIENTS
    norms = ("linf", "l2")
    description = "Universal adversarial perturbation (one perturbation for the whole set)"
    parameters = (
        Param("epochs", int, 10, "passes over the evaluation set", low=1),
        Param(
            "step_size",
            float,
            _default_step_size,
            "step length (input units)",
            low=0.0,
            low_exclusive=True,
        ),
    )

    def _run(self, ctx: RunContext) -> tuple[np.ndarray, int | None]:
        module = ctx.target.module
        assert module is not None
        device = module_device(module)
        generator = torch.Generator().manual_seed(ctx.seed)
        p = ctx.params
        x_all, y_all = to_tensor(ctx.x, device), to_tensor(ctx.y, device)
        v = torch.zeros((1, *ctx.x.shape[1:]), device=device)
        best_v, best_fooled = v.clone(), -1
        size = p["batch_size"]
        with eval_mode(module):
            for epoch in range(p["epochs"]):
                order = torch.randperm(len(x_all), generator=generator).to(device)
                for start in range(0, len(order), size):
                    idx = order[start : start + size]
                    v = self._step(module, x_all[idx], y_all[idx], v, ctx)
                fooled = self._count_fooled(module, x_all, y_all, v, ctx)
                if fooled > best_fooled:
                    best_v, best_fooled = v.clone(), fooled
                ctx.report((epoch + 1) / p["epochs"])
        return (x_all + best_v).clamp(ctx.lo, ctx.hi).cpu().numpy(), None

    def _step(
        self,
        module: torch.nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        v: torch.Tensor,
        ctx: RunContext,
    ) -> torch.Tensor:
        v = v.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = logits_of(module, (x + v).clamp(ctx.lo, ctx.hi))
            still_correct = (logits.argmax(1) == y).float()
            loss = (ce_loss(logits, y) * still_correct).sum()
            (grad,) = torch.autograd.grad(loss, v)
        with torch.no_grad():
            if not bool(grad.any()):
                return v.detach()
            v = v + ctx.params["step_size"] * steepest_step(grad, ctx.norm)
            if ctx.norm == "linf":
                v = v.clamp(-ctx.epsilon, ctx.epsilon)
            else:
                v = v * (ctx.epsilon / v.norm().clamp_min(1e-12)).clamp(max=1.0)
        return v.detach()

    def _count_fooled(
        self,
        module: torch.nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        v: torch.Tensor,
        ctx: RunContext,
    ) -> int:
        with torch.no_grad():
            size = ctx.params["batch_size"]
            fooled = 0
            for start in range(0, len(x), size):
                xb = (x[start : start + size] + v).clamp(ctx.lo, ctx.hi)
                fooled += int((logits_of(module, xb).argmax(1) != y[start : start + size]).sum())
        return fooled
