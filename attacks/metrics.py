"""Per-(attack, epsilon, source, target) metrics from clean and adversarial predictions."""

from __future__ import annotations

import math

import numpy as np

#: Two-sided 95% normal quantile used by the Wilson score interval.
Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (stays inside [0, 1] near 0 and 1)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1.0 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, center - half), min(1.0, center + half))


def perturbation_norms(x: np.ndarray, x_adv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample L-inf and L2 norms of x_adv - x (computed in float64)."""
    delta = (np.asarray(x_adv, dtype=np.float64) - np.asarray(x, dtype=np.float64)).reshape(
        len(x), -1
    )
    if delta.shape[1] == 0:
        zeros = np.zeros(len(x))
        return zeros, zeros
    return np.abs(delta).max(axis=1), np.linalg.norm(delta, axis=1)


def summarize(
    x: np.ndarray,
    x_adv: np.ndarray,
    y: np.ndarray,
    pred_clean: np.ndarray,
    pred_adv: np.ndarray,
) -> dict[str, float | int | None]:
    """Robust accuracy (Wilson 95% CI), success rate on correct samples, perturbation sizes.

    ``pred_clean``/``pred_adv`` are predicted labels [N] (or scores [N, C], argmax taken).
    ``attack_success_rate`` counts only samples the model classified correctly before
    the attack, and is None when there are none.
    """
    y = np.asarray(y).reshape(-1)
    pred_clean = _labels(pred_clean)
    pred_adv = _labels(pred_adv)
    n = len(y)
    if not (len(pred_clean) == len(pred_adv) == n and len(x) == len(x_adv) == n):
        raise ValueError("x, x_adv, y, pred_clean and pred_adv must have the same length")
    if n == 0:
        return {
            "n": 0,
            "clean_accuracy": None,
            "robust_accuracy": None,
            "ci_low": None,
            "ci_high": None,
            "attack_success_rate": None,
            "mean_linf": None,
            "mean_l2": None,
            "median_linf": None,
            "median_l2": None,
        }
    correct_clean = pred_clean == y
    robust = pred_adv == y
    ci_low, ci_high = wilson_interval(int(robust.sum()), n)
    n_correct = int(correct_clean.sum())
    success = float((~robust & correct_clean).sum() / n_correct) if n_correct else None
    linf, l2 = perturbation_norms(x, x_adv)
    return {
        "n": n,
        "clean_accuracy": float(correct_clean.mean()),
        "robust_accuracy": float(robust.mean()),
        "ci_low": ci_low,
        "ci_high": ci_high,
        "attack_success_rate": success,
        "mean_linf": float(linf.mean()),
        "mean_l2": float(l2.mean()),
        "median_linf": float(np.median(linf)),
        "median_l2": float(np.median(l2)),
    }


def _labels(pred: np.ndarray) -> np.ndarray:
    pred = np.asarray(pred)
    return pred.argmax(axis=1) if pred.ndim == 2 else pred.reshape(-1)
