"""Universal adversarial perturbation: one perturbation for the whole evaluation set."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from robustedge.attacks.base import Attack, Need, Param, RunContext, step_size_param
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
    # A tenth of the ball per step: ten consistent steps cross it, noisy ones average out.
    return epsilon / 10


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
    the evaluation set itself: each step takes a minibatch (walking the samples in a
    seeded random order), a steepest-ascent step on the summed cross-entropy of the
    minibatch samples that v does not fool yet (fooled ones no longer pull, like the
    original's "only update on points not yet fooled"), and projects v onto the
    epsilon-ball. After every pass over the set, v is scored on all samples (replica);
    the v that fools the most is kept.

    Arguments:
        steps (100): perturbation updates.
        minibatch (32): samples per update (small batches give many updates on small sets).
        step_size (epsilon / 10): step length per update, in the attack's norm.
        batch_size (256): samples per forward pass when scoring v; time_budget_s (None).
    Valid input range: any [min, max]; x + v is clipped to it (so a clipped sample's
    own perturbation may be smaller than v). Deterministic given seed.
    """

    name = "universal"
    needs = Need.GRADIENTS
    norms = ("linf", "l2")
    description = "Universal adversarial perturbation (one perturbation for the whole set)"
    # One perturbation fitted on every sample: a slice of the set would fit another one.
    sample_separable = False
    parameters = (
        Param("steps", int, 100, "perturbation updates", low=1),
        Param("minibatch", int, 32, "samples per update", low=1),
        step_size_param(_default_step_size),
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
        size, steps = p["minibatch"], p["steps"]
        per_pass = -(-len(x_all) // size)  # minibatches in one pass over the set
        order = torch.randperm(len(x_all), generator=generator).to(device)
        with eval_mode(module):
            for step in range(steps):
                k = step % per_pass
                if k == 0 and step > 0:
                    order = torch.randperm(len(x_all), generator=generator).to(device)
                idx = order[k * size : (k + 1) * size]
                v = self._step(module, x_all[idx], y_all[idx], v, ctx)
                if k == per_pass - 1 or step == steps - 1:
                    fooled = self._count_fooled(module, x_all, y_all, v, ctx)
                    if fooled > best_fooled:
                        best_v, best_fooled = v.clone(), fooled
                    ctx.report((step + 1) / steps)
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
