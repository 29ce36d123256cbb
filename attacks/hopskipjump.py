"""HopSkipJump, decision-based black box against onnxruntime (through IBM ART)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from robustedge.attacks.base import Attack, AttackConfigError, Need, Param, RunContext
from robustedge.attacks.registry import register

log = logging.getLogger(__name__)


class _DecisionOracle:
    """Wraps ``target.predict`` so the attack sees only decisions (one-hot labels) and
    every single-sample evaluation is counted."""

    def __init__(self, ctx: RunContext) -> None:
        self._predict = ctx.target.predict
        self._classes = ctx.target.num_classes
        self.queries = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        self.queries += len(x)
        labels = np.asarray(self._predict(x)).argmax(axis=1)
        return np.eye(self._classes, dtype=np.float32)[labels]


@register
class HopSkipJump(Attack):
    """HopSkipJump (Chen, Jordan & Wainwright, "HopSkipJumpAttack: a query-efficient
    decision-based attack", IEEE S&P 2020), run by IBM ART's implementation.

    Threat model: decision-based black box. Sees only the top-1 label of
    ``target.predict`` (onnxruntime), never scores and never the torch module. Untargeted;
    starts from a random misclassified point, then alternates a binary search to the
    decision boundary, a Monte-Carlo estimate of the boundary's normal and a geometric
    step-size search, shrinking the perturbation in L2 or L-inf.

    Epsilon: HopSkipJump minimizes the perturbation without a budget; the result is
    projected onto the epsilon-ball, so a sample counts as broken only if the attack
    found an adversarial example within epsilon. The
    unprojected result does not depend on epsilon, so an epsilon sweep on one instance
    computes it once and projects it per epsilon.

    Arguments:
        max_iter (20): boundary iterations per sample.
        max_eval (1000): most queries for one gradient estimate.
        init_eval (100): queries for the first gradient estimate.
        init_size (100): random draws tried to find a misclassified starting point.
        batch_size (256), time_budget_s (None).
    Valid input range: any [min, max] (ART clips to it). Deterministic given seed: ART
    draws from numpy's global generator, which is seeded for the run and restored after.
    ``AttackRun.queries`` is the total number of single-sample model evaluations. ART
    attacks one sample at a time; progress is reported per batch.
    """

    name = "hopskipjump"
    needs = Need.DECISIONS
    counts_queries = True
    epsilon_independent = True
    allows_unbounded = True
    norms = ("l2", "linf")
    description = "HopSkipJump (decision-based black box, onnxruntime labels only; via ART)"
    parameters = (
        Param("max_iter", int, 20, "boundary iterations per sample", low=0),
        Param("max_eval", int, 1000, "queries per gradient estimate (max)", low=1),
        Param("init_eval", int, 100, "queries for the first gradient estimate", low=1),
        Param("init_size", int, 100, "random draws for the starting point", low=1),
    )

    def _check_params(self, params: dict[str, Any], epsilon: float, norm: str) -> None:
        if params["init_eval"] > params["max_eval"]:
            raise AttackConfigError("init_eval", "must not exceed max_eval")

    def _run(self, ctx: RunContext) -> tuple[np.ndarray, int | None]:
        from art.attacks.evasion import HopSkipJump as ArtHopSkipJump
        from art.estimators.classification import BlackBoxClassifier

        p = ctx.params
        oracle = _DecisionOracle(ctx)
        classifier = BlackBoxClassifier(
            oracle,
            input_shape=tuple(ctx.target.input_shape),
            nb_classes=ctx.target.num_classes,
            clip_values=(ctx.lo, ctx.hi),
        )
        attack = ArtHopSkipJump(
            classifier,
            batch_size=p["batch_size"],
            targeted=False,
            norm=np.inf if ctx.norm == "linf" else 2,
            max_iter=p["max_iter"],
            max_eval=p["max_eval"],
            init_eval=p["init_eval"],
            init_size=p["init_size"],
            verbose=False,
        )
        out = ctx.x.copy()
        batches = ctx.batches()
        rng = np.random.default_rng(ctx.seed)
        state = np.random.get_state()
        np.random.seed(ctx.seed % 2**32)
        try:
            for b, sl in enumerate(batches):
                x, y = ctx.x[sl], ctx.y[sl]
                # ART's untargeted attack moves away from the *predicted* label, so a
                # misclassified sample could be pushed onto its true class: attack only
                # the samples the model gets right (one counted query each).
                correct = oracle(x).argmax(axis=1) == y
                starts, found = self._starting_points(oracle, x, y, rng, ctx)
                chosen = np.flatnonzero(correct & found)
                if len(chosen):
                    adv = attack.generate(x[chosen], y=y[chosen], x_adv_init=starts[chosen])
                    out[np.arange(sl.start, sl.stop)[chosen]] = adv.astype(np.float32)
                ctx.report((b + 1) / len(batches))
        finally:
            np.random.set_state(state)
        return out, oracle.queries

    def _starting_points(
        self,
        oracle: _DecisionOracle,
        x: np.ndarray,
        y: np.ndarray,
        rng: np.random.Generator,
        ctx: RunContext,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per sample, a uniformly random input that the model misclassifies (the paper's
        initialization), drawn from the run's seeded generator. ART would draw it from an
        unseeded RandomState, which made runs irreproducible. Up to ``init_size`` draws per
        sample, queried in batches; samples without one are left unattacked."""
        starts = np.zeros_like(x)
        found = np.zeros(len(x), dtype=bool)
        for _ in range(ctx.params["init_size"]):
            todo = np.flatnonzero(~found)
            if len(todo) == 0:
                break
            draws = rng.uniform(ctx.lo, ctx.hi, size=(len(todo), *x.shape[1:])).astype(np.float32)
            hit = oracle(draws).argmax(axis=1) != y[todo]
            starts[todo[hit]] = draws[hit]
            found[todo[hit]] = True
        return starts, found
