"""Square Attack (L-inf), score-based black box against onnxruntime."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from robustedge.attacks.base import Attack, Need, Param, RunContext
from robustedge.attacks.registry import register

#: Iterations (of a 10,000-query run) at which the square's area fraction halves.
_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def square_fraction(p_init: float, iteration: int, queries: int) -> float:
    """The paper's piecewise-constant schedule, rescaled to the query budget."""
    i = int(iteration / queries * 10000)
    halvings = sum(1 for h in _HALVINGS if i > h)
    return p_init / (2**halvings)


def _as_image(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """Views a sample as (channels, height, width); vectors become 1 x 1 x D rows."""
    if len(shape) == 3:
        return shape[0], shape[1], shape[2]
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    return 1, 1, int(np.prod(shape))


@register
class Square(Attack):
    """Square Attack (Andriushchenko, Croce, Flammarion & Hein, "Square Attack: a
    query-efficient black-box adversarial attack via random search", ECCV 2020), L-inf.

    Threat model: score-based black box. Queries only ``target.predict`` (onnxruntime
    scores or logits), never the torch module, so it also attacks variants the bridge
    cannot convert and is immune to gradient masking. Untargeted; minimizes the margin
    score_y - max_{i != y} score_i by random search: starts from vertical stripes of
    +-epsilon, then repeatedly proposes a random square window set to +-epsilon per
    channel and keeps it when the margin drops. The window's area fraction starts at
    ``p_init`` and halves on the paper's schedule. Samples stop once misclassified.
    All samples of a batch are queried together (one predict call per iteration).

    Arguments:
        queries (1000): query budget per sample, the initialization included.
        p_init (0.3): initial fraction of the input covered by the square.
        batch_size (256), time_budget_s (None).
    Valid input range: any [min, max]; every proposal is clipped to it. Deterministic
    given seed (numpy Generator). ``AttackRun.queries`` is the total number of
    single-sample model evaluations.
    """

    name = "square"
    needs = Need.SCORES
    counts_queries = True
    norms = ("linf",)
    description = "Square Attack (score-based black box, random search, onnxruntime only)"
    parameters = (
        Param("queries", int, 1000, "query budget per sample", low=1),
        Param(
            "p_init",
            float,
            0.3,
            "initial square area fraction",
            low=0.0,
            high=1.0,
            low_exclusive=True,
        ),
    )

    def _run(self, ctx: RunContext) -> tuple[np.ndarray, int | None]:
        out = ctx.x.copy()
        total_queries = 0
        batches = ctx.batches()
        for b, sl in enumerate(batches):

            def tick(fraction: float, b: int = b) -> None:
                ctx.report((b + fraction) / len(batches))

            # Per batch, so that a slice of whole batches draws what the full set does.
            rng = np.random.default_rng(ctx.batch_seed(sl))
            out[sl], used = self._batch(ctx, ctx.x[sl], ctx.y[sl], rng, tick)
            total_queries += used
        return out, total_queries

    def _margins(self, ctx: RunContext, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        scores = np.asarray(ctx.target.predict(x.astype(np.float32)), dtype=np.float64)
        true = scores[np.arange(len(y)), y]
        others = scores.copy()
        others[np.arange(len(y)), y] = -np.inf
        return true - others.max(axis=1)

    def _batch(
        self,
        ctx: RunContext,
        x: np.ndarray,
        y: np.ndarray,
        rng: np.random.Generator,
        tick: Callable[[float], None],
    ) -> tuple[np.ndarray, int]:
        p = ctx.params
        eps, lo, hi = ctx.epsilon, ctx.lo, ctx.hi
        n = len(x)
        c, h, w = _as_image(x.shape[1:])
        xi = x.reshape(n, c, h, w).astype(np.float32)
        # Initialization: vertical stripes of +-epsilon (one random sign per column).
        stripes = rng.choice([-eps, eps], size=(n, c, 1, w)).astype(np.float32)
        best = np.clip(xi + stripes, lo, hi)
        best_margin = self._margins(ctx, best.reshape(x.shape), y)
        used = n
        budget = p["queries"]
        for it in range(budget - 1):
            active = np.flatnonzero(best_margin > 0)
            if len(active) == 0:
                break
            frac = square_fraction(p["p_init"], it, budget)
            # Side of the square: the fraction of pixels per channel, at least 1.
            side = max(1, round(math.sqrt(frac * h * w)))
            side_h, side_w = min(side, h), min(side, w)
            cand = best[active].copy()
            k = len(active)
            rows = rng.integers(0, h - side_h + 1, size=k)
            cols = rng.integers(0, w - side_w + 1, size=k)
            signs = rng.choice([-eps, eps], size=(k, c)).astype(np.float32)
            for j in range(k):
                window = (
                    slice(None),
                    slice(rows[j], rows[j] + side_h),
                    slice(cols[j], cols[j] + side_w),
                )
                cand[j][window] = xi[active[j]][window] + signs[j][:, None, None]
            cand = np.clip(cand, lo, hi)
            margins = self._margins(ctx, cand.reshape((k, *x.shape[1:])), y[active])
            used += k
            better = margins < best_margin[active]
            best[active[better]] = cand[better]
            best_margin[active[better]] = margins[better]
            if it % 20 == 0:
                tick((it + 1) / budget)
        tick(1.0)
        return best.reshape(x.shape), used
