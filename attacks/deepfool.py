"""DeepFool, batched."""

from __future__ import annotations

import numpy as np
import torch

from robustedge.attacks.base import Attack, Need, Param, RunContext
from robustedge.attacks.differentiable import eval_mode, logits_of, module_device, to_tensor
from robustedge.attacks.registry import register


@register
class DeepFool(Attack):
    """DeepFool (Moosavi-Dezfooli, Fawzi & Frossard, "DeepFool: a simple and accurate method
    to fool deep neural networks", CVPR 2016), batched: all samples of a batch step
    together and finished samples drop out, instead of ART's loop over samples.

    Threat model: white-box (logit gradients through the bridge module), untargeted,
    minimal perturbation in L2 (the paper's main attack) or L-inf (its l_p extension,
    q = 1 dual norm). Each step linearizes the classifier around the current point and
    moves to the nearest linearized decision boundary among the ``candidates``
    most likely classes; the accumulated step is scaled by (1 + overshoot).

    Epsilon: the result is projected onto the epsilon-ball in the attack's norm; pass
    epsilon = inf for the unbounded attack of the paper. The
    unprojected result does not depend on epsilon, so an epsilon sweep on one instance
    computes it once and projects it per epsilon.

    Arguments:
        steps (50): maximum linearization steps.
        overshoot (0.02): relative overshoot that pushes just past the boundary.
        candidates (10): classes (by initial score) considered as targets.
        batch_size (256), time_budget_s (None).
    Valid input range: any [min, max]; every iterate is clipped to it. Deterministic.
    """

    name = "deepfool"
    needs = Need.GRADIENTS
    norms = ("l2", "linf")
    allows_unbounded = True
    epsilon_independent = True
    description = "DeepFool (batched minimal-perturbation attack, L2 or L-inf)"
    parameters = (
        Param("steps", int, 50, "maximum linearization steps", low=1),
        Param("overshoot", float, 0.02, "relative overshoot past the boundary", low=0.0),
        Param("candidates", int, 10, "classes considered as targets", low=2),
    )

    def _run(self, ctx: RunContext) -> tuple[np.ndarray, int | None]:
        module = ctx.target.module
        assert module is not None
        device = module_device(module)
        out = ctx.x.copy()
        batches = ctx.batches()
        with eval_mode(module):
            for b, sl in enumerate(batches):
                x, y = to_tensor(ctx.x[sl], device), to_tensor(ctx.y[sl], device)
                out[sl] = self._batch(module, x, y, ctx).cpu().numpy()
                ctx.report((b + 1) / len(batches))
        return out, None

    def _batch(
        self, module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: RunContext
    ) -> torch.Tensor:
        p = ctx.params
        with torch.no_grad():
            logits0 = logits_of(module, x)
        k = min(p["candidates"], logits0.shape[1])
        # Candidate classes: the true label first, then the k-1 highest other scores.
        others = logits0.scatter(1, y[:, None], float("-inf")).topk(k - 1, dim=1).indices
        classes = torch.cat([y[:, None], others], dim=1)
        r_total = torch.zeros_like(x)
        x_adv = x.clone()
        active = logits0.argmax(1) == y  # already misclassified samples need nothing
        dual = 1.0 if ctx.norm == "linf" else 2.0
        for _ in range(p["steps"]):
            idx = active.nonzero().squeeze(1)
            if len(idx) == 0:
                break
            xa = x_adv[idx].detach().requires_grad_(True)
            with torch.enable_grad():
                logits = logits_of(module, xa)
                picked = logits.gather(1, classes[idx])  # [m, k], column 0 = true class
                grads = [
                    torch.autograd.grad(picked[:, j].sum(), xa, retain_graph=j < k - 1)[0]
                    for j in range(k)
                ]
            with torch.no_grad():
                g = torch.stack(grads, dim=1)  # [m, k, *shape]
                w = g[:, 1:] - g[:, :1]  # boundary normals towards each candidate
                f = picked[:, 1:] - picked[:, :1]  # < 0 while the true class wins
                w_flat = w.reshape(len(idx), k - 1, -1)
                w_norm = w_flat.norm(p=dual, dim=2).clamp_min(1e-12)
                dist = f.abs() / w_norm
                best = dist.argmin(dim=1)
                rows = torch.arange(len(idx), device=x.device)
                w_best, f_best = w_flat[rows, best], f[rows, best].abs()
                norm_best = w_norm[rows, best]
                if ctx.norm == "linf":
                    step = ((f_best + 1e-4) / norm_best)[:, None] * w_best.sign()
                else:
                    step = ((f_best + 1e-4) / norm_best.pow(2))[:, None] * w_best
                r_total[idx] += step.reshape(xa.shape)
                x_adv[idx] = (x[idx] + (1 + p["overshoot"]) * r_total[idx]).clamp(ctx.lo, ctx.hi)
                still = logits_of(module, x_adv[idx]).argmax(1) == y[idx]
                active[idx] = still
        return x_adv.detach()
