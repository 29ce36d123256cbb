"""Statistics against known inputs: pure functions over given sample arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robustedge.latency import stats


def _binomial_cdf(k: int, n: int) -> float:
    """P(Binomial(n, 1/2) <= k), exactly."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2**n


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        # Textbook 95% ranks for the median (1-based j, k) -> 0-based indices.
        (6, (0, 5)),  # ranks 1 and 6: coverage 1 - 2/64 = 96.9%
        (10, (1, 8)),  # ranks 2 and 9
        (20, (5, 14)),  # ranks 6 and 15
        (100, (39, 60)),  # ranks 40 and 61
    ],
)
def test_median_ci_ranks_match_binomial_tables(n: int, expected: tuple[int, int]) -> None:
    assert stats.median_ci_ranks(n) == expected


def test_median_ci_ranks_reach_the_confidence_and_are_the_tightest() -> None:
    for n in (6, 7, 15, 51, 200, 999):
        ranks = stats.median_ci_ranks(n)
        assert ranks is not None
        j = ranks[0] + 1  # 1-based lower rank
        assert 1 - 2 * _binomial_cdf(j - 1, n) >= 0.95
        # One rank tighter would fall below 95%.
        assert 1 - 2 * _binomial_cdf(j, n) < 0.95
        assert ranks[1] == n - j  # symmetric


def test_median_ci_ranks_too_few_samples() -> None:
    assert stats.median_ci_ranks(5) is None
    assert stats.median_ci_ranks(0) is None


def test_normal_approximation_joins_exact_ranks() -> None:
    exact = stats.median_ci_ranks(stats.EXACT_BINOMIAL_MAX_N)
    approx = stats.median_ci_ranks(stats.EXACT_BINOMIAL_MAX_N + 1)
    assert exact is not None and approx is not None
    assert abs(exact[0] - approx[0]) <= 1
    assert abs(exact[1] - approx[1]) <= 2
    # Still conservative: covers at least 95%.
    n = stats.EXACT_BINOMIAL_MAX_N + 1
    assert 1 - 2 * _binomial_cdf(approx[0], n) >= 0.95


def test_summarize_known_values() -> None:
    # 1..100 ms in nanoseconds, shuffled: order must not matter.
    durations = np.random.default_rng(0).permutation(np.arange(1, 101) * 1_000_000)
    summary = stats.summarize(durations, batch_size=4)
    assert summary["iterations"] == 100
    assert summary["p50_ms"] == pytest.approx(50.5)
    assert summary["p90_ms"] == pytest.approx(90.1)
    assert summary["p99_ms"] == pytest.approx(99.01)
    assert summary["mean_ms"] == pytest.approx(50.5)
    assert summary["std_ms"] == pytest.approx(np.std(np.arange(1, 101), ddof=1))
    assert summary["min_ms"] == 1.0
    assert summary["max_ms"] == 100.0
    assert summary["throughput"] == pytest.approx(4 / 0.0505)
    # Ranks 40 and 61 of 1..100.
    assert summary["p50_ci_low_ms"] == 40.0
    assert summary["p50_ci_high_ms"] == 61.0
    assert summary["p50_ci_relative_half_width"] == pytest.approx(10.5 / 50.5)


def test_summarize_single_run() -> None:
    summary = stats.summarize([2_000_000], batch_size=1)
    assert summary["p50_ms"] == summary["p99_ms"] == summary["min_ms"] == 2.0
    assert summary["std_ms"] == 0.0
    assert summary["p50_ci_relative_half_width"] == math.inf


def test_summarize_rejects_empty() -> None:
    with pytest.raises(ValueError):
        stats.summarize([], batch_size=1)


def test_convergence_rule() -> None:
    tight = 1000.0 + np.arange(100) % 5  # spread 0.4% around the median
    assert stats.is_converged(tight)
    wide = np.arange(1, 101, dtype=float)  # CI half-width 21% of the median
    assert not stats.is_converged(wide)
    assert stats.is_converged(wide, target_relative_half_width=0.25)
    assert not stats.is_converged(tight[:5])  # too few for a 95% CI


def test_next_check_grows_geometrically() -> None:
    assert stats.next_check(50) == 60
    assert stats.next_check(1000) == 1100
