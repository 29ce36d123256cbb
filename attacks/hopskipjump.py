"""HopSkipJump, decision-based black box against onnxruntime, batched over samples."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from robustedge.attacks.base import Attack, AttackConfigError, Need, Param, RunContext
from robustedge.attacks.registry import register

log = logging.getLogger(__name__)

#: Rows per onnxruntime call: large enough to amortize the call, small enough for memory.
_PREDICT_CHUNK = 8192
#: Floats of Monte-Carlo noise held at once (64 MiB): gradient estimation is chunked by it.
_NOISE_FLOATS = 1 << 24
#: The geometric step search halves at most this often (2^-30 of the distance).
_MAX_HALVINGS = 30


class _DecisionOracle:
    """Wraps ``target.predict`` so the attack sees only decisions (the top-1 label) and
    every single-sample evaluation is counted."""

    def __init__(self, ctx: RunContext) -> None:
        self._predict = ctx.target.predict
        self._shape = tuple(ctx.target.input_shape)
        self.queries = 0

    def labels(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32).reshape((-1, *self._shape))
        self.queries += len(x)
        out = [
            np.asarray(self._predict(x[s : s + _PREDICT_CHUNK])).argmax(axis=1)
            for s in range(0, len(x), _PREDICT_CHUNK)
        ]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def adversarial(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.labels(x) != y


@register
class HopSkipJump(Attack):
    """HopSkipJump (Chen, Jordan & Wainwright, "HopSkipJumpAttack: a query-efficient
    decision-based attack", IEEE S&P 2020), batched: all samples of a batch advance
    together and share onnxruntime calls, instead of ART's loop over samples.

    Threat model: decision-based black box. Sees only the top-1 label of
    ``target.predict`` (onnxruntime), never scores and never the torch module.
    Untargeted, L2 or L-inf. Starts from a uniformly random input that is misclassified,
    then repeats: binary search to the decision boundary; Monte-Carlo estimate of the
    boundary's normal from ``init_eval * sqrt(t)`` (at most ``max_eval``) labelled
    probes at radius delta_t; a geometric step-size search from ||x_t - x|| / sqrt(t)
    along the estimate (its sign for L-inf). Constants follow the authors' code:
    gamma = 1, theta = gamma / d^1.5 (L2) or gamma / d^2 (L-inf), delta_1 = 0.1 * range
    width, then sqrt(d) * theta * dist (L2) or d * theta * dist (L-inf).

    Epsilon: HopSkipJump minimizes the perturbation without a budget; the result is
    projected onto the epsilon-ball, so a sample counts as broken only if the attack
    found an adversarial example within epsilon. The unprojected result does not
    depend on epsilon, so an epsilon sweep on one instance computes it once and
    projects it per epsilon.

    Arguments:
        max_iter (20): boundary iterations per sample.
        max_eval (1000): most probes for one gradient estimate.
        init_eval (100): probes for the first gradient estimate.
        init_size (100): random draws tried to find a misclassified starting point.
        batch_size (256), time_budget_s (None).
    Valid input range: any [min, max]; every probe is clipped to it. Samples the model
    already misclassifies, or for which no misclassified random start is found, are
    returned unchanged. Deterministic given seed (numpy Generator).
    ``AttackRun.queries`` is the total number of single-sample model evaluations.
    """

    name = "hopskipjump"
    needs = Need.DECISIONS
    counts_queries = True
    epsilon_independent = True
    allows_unbounded = True
    norms = ("l2", "linf")
    description = "HopSkipJump (decision-based black box on onnxruntime labels, batched)"
    parameters = (
        Param("max_iter", int, 20, "boundary iterations per sample", low=0),
        Param("max_eval", int, 1000, "probes per gradient estimate (max)", low=1),
        Param("init_eval", int, 100, "probes for the first gradient estimate", low=1),
        Param("init_size", int, 100, "random draws for the starting point", low=1),
    )

    def _check_params(self, params: dict[str, Any], epsilon: float, norm: str) -> None:
        if params["init_eval"] > params["max_eval"]:
            raise AttackConfigError("init_eval", "must not exceed max_eval")

    def _run(self, ctx: RunContext) -> tuple[np.ndarray, int | None]:
        oracle = _DecisionOracle(ctx)
        out = ctx.x.copy()
        batches = ctx.batches()
        for b, sl in enumerate(batches):
            # Per batch, so that a slice of whole batches draws what the full set does.
            rng = np.random.default_rng(ctx.batch_seed(sl))
            x, y = ctx.x[sl], ctx.y[sl]
            # Misclassified samples need no attack (and moving them could fix them).
            correct = oracle.labels(x) == y
            starts, found = self._starting_points(oracle, x, y, rng, ctx)
            chosen = np.flatnonzero(correct & found)
            if len(chosen):

                def tick(fraction: float, b: int = b) -> None:
                    ctx.report((b + fraction) / len(batches))

                adv = self._attack(oracle, x[chosen], y[chosen], starts[chosen], rng, ctx, tick)
                out[np.arange(sl.start, sl.stop)[chosen]] = adv.reshape(x[chosen].shape)
            ctx.report((b + 1) / len(batches))
        return out, oracle.queries

    def _starting_points(
        self,
        oracle: _DecisionOracle,
        x: np.ndarray,
        y: np.ndarray,
        rng: np.random.Generator,
        ctx: RunContext,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per sample, a uniformly random input the model misclassifies (the paper's
        initialization); up to ``init_size`` draws per sample, queried in batches."""
        starts = np.zeros_like(x)
        found = np.zeros(len(x), dtype=bool)
        for _ in range(ctx.params["init_size"]):
            todo = np.flatnonzero(~found)
            if len(todo) == 0:
                break
            draws = rng.uniform(ctx.lo, ctx.hi, size=(len(todo), *x.shape[1:])).astype(np.float32)
            hit = oracle.adversarial(draws, y[todo])
            starts[todo[hit]] = draws[hit]
            found[todo[hit]] = True
        return starts, found

    # -- the attack on flat [B, d] arrays ------------------------------------------------

    def _attack(
        self,
        oracle: _DecisionOracle,
        x: np.ndarray,
        y: np.ndarray,
        start: np.ndarray,
        rng: np.random.Generator,
        ctx: RunContext,
        tick: Callable[[float], None],
    ) -> np.ndarray:
        p = ctx.params
        n = len(x)
        orig = x.reshape(n, -1).astype(np.float64)
        d = orig.shape[1]
        l2 = ctx.norm == "l2"
        theta = 1.0 / (d * math.sqrt(d)) if l2 else 1.0 / (d * d)
        cur = self._boundary(oracle, orig, start.reshape(n, -1).astype(np.float64), y, theta, l2)
        dist = self._distance(cur, orig, l2)
        for t in range(1, p["max_iter"] + 1):
            if t == 1:
                delta = np.full(n, 0.1 * (ctx.hi - ctx.lo))
            else:
                delta = (math.sqrt(d) if l2 else d) * theta * dist
            probes = int(min(p["init_eval"] * math.sqrt(t), p["max_eval"]))
            grad = self._estimate_gradient(oracle, cur, y, delta, probes, rng, ctx, l2)
            direction = grad if l2 else np.sign(grad)
            # Geometric search: halve the step until the point is still adversarial.
            step = dist / math.sqrt(t)
            pending = np.ones(n, dtype=bool)
            for _ in range(_MAX_HALVINGS):
                idx = np.flatnonzero(pending)
                if len(idx) == 0:
                    break
                cand = np.clip(cur[idx] + step[idx, None] * direction[idx], ctx.lo, ctx.hi)
                ok = oracle.adversarial(cand, y[idx])
                pending[idx[ok]] = False
                step[idx[~ok]] /= 2.0
            moved = ~pending  # samples without an adversarial step keep their point
            proposal = cur.copy()
            proposal[moved] = np.clip(
                cur[moved] + step[moved, None] * direction[moved], ctx.lo, ctx.hi
            )
            cur = self._boundary(oracle, orig, proposal, y, theta, l2)
            dist = self._distance(cur, orig, l2)
            tick(t / p["max_iter"])
        return cur.astype(np.float32)

    @staticmethod
    def _distance(a: np.ndarray, b: np.ndarray, l2: bool) -> np.ndarray:
        diff = a - b
        return np.linalg.norm(diff, axis=1) if l2 else np.abs(diff).max(axis=1)

    @staticmethod
    def _blend(orig: np.ndarray, adv: np.ndarray, alpha: np.ndarray, l2: bool) -> np.ndarray:
        """The point at fraction alpha between orig and adv: on the segment (L2), or adv
        clipped to the L-inf ball of radius alpha around orig (L-inf)."""
        if l2:
            return (1 - alpha[:, None]) * orig + alpha[:, None] * adv
        return np.clip(adv, orig - alpha[:, None], orig + alpha[:, None])

    def _boundary(
        self,
        oracle: _DecisionOracle,
        orig: np.ndarray,
        adv: np.ndarray,
        y: np.ndarray,
        theta: float,
        l2: bool,
    ) -> np.ndarray:
        """Binary search between orig and adversarial points to the decision boundary,
        returning the adversarial side (to the authors' tolerances)."""
        if l2:
            high = np.ones(len(orig))
            tol = np.full(len(orig), theta)
        else:
            high = self._distance(adv, orig, l2)
            tol = np.minimum(high * theta, theta)
        low = np.zeros(len(orig))
        while True:
            idx = np.flatnonzero(high - low > tol)
            if len(idx) == 0:
                break
            mid = (high[idx] + low[idx]) / 2
            ok = oracle.adversarial(self._blend(orig[idx], adv[idx], mid, l2), y[idx])
            high[idx[ok]] = mid[ok]
            low[idx[~ok]] = mid[~ok]
        return self._blend(orig, adv, high, l2)

    def _estimate_gradient(
        self,
        oracle: _DecisionOracle,
        cur: np.ndarray,
        y: np.ndarray,
        delta: np.ndarray,
        probes: int,
        rng: np.random.Generator,
        ctx: RunContext,
        l2: bool,
    ) -> np.ndarray:
        """Monte-Carlo estimate of the boundary normal at each sample's current point:
        the mean of random unit directions weighted by +1 (adversarial) / -1, with the
        mean decision subtracted as a baseline (the paper's variance reduction)."""
        n, d = cur.shape
        grad = np.zeros_like(cur)
        chunk = max(1, _NOISE_FLOATS // (probes * d))
        for s in range(0, n, chunk):
            c = slice(s, min(s + chunk, n))
            m = c.stop - c.start
            shape = (m, probes, d)
            noise = rng.standard_normal(shape) if l2 else rng.uniform(-1.0, 1.0, shape)
            noise /= np.linalg.norm(noise, axis=2, keepdims=True)
            probe = np.clip(cur[c, None, :] + delta[c, None, None] * noise, ctx.lo, ctx.hi)
            noise = (probe - cur[c, None, :]) / np.maximum(delta[c, None, None], 1e-12)
            decisions = oracle.adversarial(
                probe.reshape(m * probes, d), np.repeat(y[c], probes)
            ).reshape(m, probes)
            sign = 2.0 * decisions - 1.0
            mean = sign.mean(axis=1, keepdims=True)
            # All probes on one side: no baseline to subtract, follow the mean direction.
            weights = np.where(np.abs(mean) == 1.0, mean, sign - mean)
            g = (weights[:, :, None] * noise).mean(axis=1)
            grad[c] = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
        return grad
