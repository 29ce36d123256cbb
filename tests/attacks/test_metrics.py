"""summarize(): robust accuracy, Wilson interval, success rate, perturbation sizes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robustedge.attacks import summarize, wilson_interval


def test_wilson_matches_the_closed_form():
    # 8 of 10: the textbook Wilson 95% interval is [0.4902, 0.9433].
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0


def test_summarize_counts_and_norms():
    x = np.zeros((4, 1, 2, 2), np.float32)
    x_adv = x.copy()
    x_adv[0, 0, 0, 0] = 0.3  # linf 0.3, l2 0.3
    x_adv[1] = 0.1  # linf 0.1, l2 0.2
    y = np.array([0, 1, 2, 3])
    pred_clean = np.array([0, 1, 2, 0])  # 3 correct
    pred_adv = np.array([5, 1, 2, 0])  # sample 0 broken; sample 3 was wrong anyway
    s = summarize(x, x_adv, y, pred_clean, pred_adv)
    assert s["n"] == 4
    assert s["clean_accuracy"] == 0.75
    assert s["robust_accuracy"] == 0.5
    assert s["attack_success_rate"] == pytest.approx(1 / 3)
    assert (s["ci_low"], s["ci_high"]) == pytest.approx(wilson_interval(2, 4))
    assert s["mean_linf"] == pytest.approx(0.1, abs=1e-6)
    assert s["mean_l2"] == pytest.approx(0.125, abs=1e-6)
    assert s["median_linf"] == pytest.approx(0.05, abs=1e-6)
    assert s["median_l2"] == pytest.approx(0.1, abs=1e-6)


def test_summarize_accepts_scores_and_handles_no_correct_sample():
    x = np.zeros((2, 3), np.float32)
    scores = np.array([[0.0, 1.0], [0.0, 1.0]])
    s = summarize(x, x, np.array([0, 0]), scores, scores)
    assert s["robust_accuracy"] == 0.0 and s["attack_success_rate"] is None
    assert math.isclose(s["mean_l2"], 0.0)


def test_summarize_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        summarize(np.zeros((2, 1)), np.zeros((2, 1)), np.zeros(3), np.zeros(2), np.zeros(2))
