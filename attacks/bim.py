"""Basic Iterative Method."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from robustedge.attacks.base import Attack, Need, Param, RunContext, step_size_param
from robustedge.attacks.iterative import run_restarts
from robustedge.attacks.registry import register


def _default_step_size(resolved: Mapping[str, Any], epsilon: float, norm: str) -> float:
    # Kurakin et al. step 1/255 for min(eps + 4, 1.25 eps) iterations (eps in 1/255 units):
    # the total travel is about 1.25 epsilon, which this default keeps for any step count.
    return 1.25 * epsilon / resolved["steps"]


@register
class BIM(Attack):
    """Basic Iterative Method, a.k.a. I-FGSM (Kurakin, Goodfellow & Bengio, "Adversarial
    Examples in the Physical World", ICLR 2017 workshop).

    Threat model: white-box (cross-entropy gradients through the bridge module),
    untargeted, L-inf. Iterated FGSM steps from the clean input (no random start), each
    clipped to the epsilon-ball and the input range.

    Arguments:
        steps (10): iterations.
        step_size (1.25 * epsilon / steps): per-step L-inf change in input units.
        batch_size (256), time_budget_s (None).
    Returns per sample the lowest-margin iterate of the trajectory (see PGD).
    Valid input range: any [min, max]; x_adv is clipped to it. Deterministic.
    """

    name = "bim"
    needs = Need.GRADIENTS
    norms = ("linf",)
    description = "Basic Iterative Method (iterated FGSM from the clean input)"
    parameters = (
        Param("steps", int, 10, "iterations", low=1),
        step_size_param(_default_step_size),
    )

    def _run(self, ctx: RunContext) -> tuple[np.ndarray, int | None]:
        p = ctx.params
        return run_restarts(
            ctx, steps=p["steps"], step_size=p["step_size"], restarts=1, start=False
        ), None
