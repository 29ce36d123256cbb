"""Latency statistics: percentiles, a distribution-free CI of the median, the stopping rule.

Pure functions over arrays of per-run durations. This module imports only numpy and
the standard library on purpose: the measurement script (``probe.py``) loads it *by
file path* inside runtimes that do not have robustedge installed (the OpenVINO
virtualenv), so the stopping rule that decides how many runs to time and the
statistics that are reported are one and the same code in parent and child.

Why an order-statistics CI for the median: latency distributions are skewed and
multi-modal (scheduler hiccups, frequency changes), so a normal-theory CI built from
the standard deviation would be wrong. The number of samples below the true median
is Binomial(n, 1/2) whatever the distribution, which gives ranks ``j < k`` such that
``[x_(j), x_(k)]`` covers the median with at least the requested confidence.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Above this many samples the binomial ranks come from the normal approximation
#: (exact integer arithmetic grows quadratically; at n > 1000 the two differ by at
#: most one rank).
EXACT_BINOMIAL_MAX_N = 1000

#: Two-sided 95% standard-normal quantile.
_Z95 = 1.959963984540054


def _normal_quantile(confidence: float) -> float:
    """Two-sided standard-normal quantile for ``confidence`` (bisection on erf; no scipy)."""
    if abs(confidence - 0.95) < 1e-12:
        return _Z95
    target = 0.5 + confidence / 2.0
    low, high = 0.0, 10.0
    for _ in range(100):
        mid = (low + high) / 2.0
        if 0.5 * (1.0 + math.erf(mid / math.sqrt(2.0))) < target:
            low = mid
        else:
            high = mid
    return (low + high) / 2.0


@functools.lru_cache(maxsize=4096)
def median_ci_ranks(n: int, confidence: float = 0.95) -> tuple[int, int] | None:
    """0-based indices ``(lo, hi)`` into the sorted sample bounding the median's CI.

    The interval ``[sorted[lo], sorted[hi]]`` covers the population median with
    probability >= ``confidence`` (exact binomial for n <= EXACT_BINOMIAL_MAX_N,
    normal approximation above). Returns None when n is too small for any pair of
    order statistics to reach that confidence (n < 6 at 95%).
    """
    if n < 1:
        return None
    alpha_half = (1.0 - confidence) / 2.0
    if n <= EXACT_BINOMIAL_MAX_N:
        # Largest 1-based rank j with P(Binomial(n, 1/2) <= j - 1) <= alpha/2, computed
        # with exact integers: sum_{i<j} C(n, i) <= alpha/2 * 2^n.
        total = 1 << n
        cumulative = 0
        j = 0
        term = 1  # C(n, 0)
        for i in range(n + 1):
            if (cumulative + term) > alpha_half * total:
                break
            cumulative += term
            j = i + 1
            term = term * (n - i) // (i + 1)
        if j < 1:
            return None
        return j - 1, n - j
    z = _normal_quantile(confidence)
    half = z * math.sqrt(n) / 2.0
    lo = max(0, math.floor(n / 2.0 - half) - 1)
    hi = min(n - 1, math.ceil(n / 2.0 + half))
    return lo, hi


def median_ci(sorted_values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """CI of the median of an ascending-sorted sample; ``(min, max)`` when n is too small."""
    n = len(sorted_values)
    if n == 0:
        return math.nan, math.nan
    ranks = median_ci_ranks(n, confidence)
    if ranks is None:
        return float(sorted_values[0]), float(sorted_values[-1])
    return float(sorted_values[ranks[0]]), float(sorted_values[ranks[1]])


def relative_half_width(sorted_values: np.ndarray, confidence: float = 0.95) -> float:
    """Half-width of the median's CI divided by the median (inf when undefined)."""
    n = len(sorted_values)
    if n == 0 or median_ci_ranks(n, confidence) is None:
        return math.inf
    low, high = median_ci(sorted_values, confidence)
    median = float(np.median(sorted_values))
    if median <= 0.0:
        return math.inf
    return (high - low) / 2.0 / median


def is_converged(
    samples: Sequence[float] | np.ndarray,
    target_relative_half_width: float = 0.02,
    confidence: float = 0.95,
) -> bool:
    """True when the median's CI half-width is at most the target fraction of the median."""
    values = np.asarray(samples, dtype=np.float64)
    n = len(values)
    ranks = median_ci_ranks(n, confidence) if n else None
    if ranks is None:
        return False
    # Only four order statistics matter: a partial sort is O(n) where a sort is
    # O(n log n), which keeps the check cheap at 100k samples of a fast model.
    middle = sorted({ranks[0], (n - 1) // 2, n // 2, ranks[1]})
    partitioned = np.partition(values, middle)
    median = (partitioned[(n - 1) // 2] + partitioned[n // 2]) / 2.0
    if median <= 0.0:
        return False
    half_width = (partitioned[ranks[1]] - partitioned[ranks[0]]) / 2.0
    return bool(half_width / median <= target_relative_half_width)


def next_check(n: int) -> int:
    """Sample count at which the stopping rule is evaluated again after ``n`` samples.

    Checking after every run would cost a sort per run; checking when the sample has
    grown by ~10% (at least 10 runs) keeps the total cost O(n log n) overall while
    overshooting the point of convergence by at most ~10%.
    """
    return n + max(10, n // 10)


def summarize(
    durations_ns: Sequence[int] | np.ndarray, batch_size: int, confidence: float = 0.95
) -> dict[str, Any]:
    """Summary statistics, in milliseconds, of per-run durations given in nanoseconds.

    Percentiles use numpy's default linear interpolation between order statistics
    (the convention of onnxruntime_perf_test and numpy users). ``std_ms`` is the
    sample standard deviation (ddof=1; 0 for a single run). ``throughput`` is
    samples per second at the median: ``batch_size / p50``.
    """
    values = np.sort(np.asarray(durations_ns, dtype=np.float64)) / 1e6
    n = len(values)
    if n == 0:
        raise ValueError("no timed runs to summarize")
    p50, p90, p99 = (float(v) for v in np.percentile(values, [50.0, 90.0, 99.0]))
    ci_low, ci_high = median_ci(values, confidence)
    return {
        "iterations": n,
        "p50_ms": p50,
        "p90_ms": p90,
        "p99_ms": p99,
        "mean_ms": float(values.mean()),
        "std_ms": float(values.std(ddof=1)) if n > 1 else 0.0,
        "min_ms": float(values[0]),
        "max_ms": float(values[-1]),
        "throughput": batch_size / (p50 / 1e3) if p50 > 0 else math.inf,
        "p50_ci_low_ms": ci_low,
        "p50_ci_high_ms": ci_high,
        "p50_ci_relative_half_width": relative_half_width(values, confidence),
    }
