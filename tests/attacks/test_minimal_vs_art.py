"""Own batched CW-L2 and DeepFool against ART's per-sample implementations.

Success rate (on samples onnxruntime classifies correctly, unbounded epsilon) must be
within 2 points of ART's with ART's default parameters. ART loops over samples
(~0.8 s per sample for CW on this machine), so these tests use a small slice and are
marked slow.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from robustedge.attacks import get_attack

art_classification = pytest.importorskip("art.estimators.classification")
art_evasion = pytest.importorskip("art.attacks.evasion")


def _success(case, x, y, x_adv) -> float:
    correct = case.predict_labels(x) == y
    fooled = (case.predict_labels(x_adv) != y) & correct
    return float(fooled.sum() / correct.sum())


def _median_l2(x, x_adv) -> float:
    return float(np.median(np.linalg.norm((x_adv - x).reshape(len(x), -1), axis=1)))


@pytest.mark.slow
def test_deepfool_success_matches_art(digits_case, art_classifier):
    x, y = digits_case.x[:60], digits_case.y[:60]
    ours = get_attack("deepfool").generate(
        digits_case.target, x, y, epsilon=math.inf, norm="l2", params={},
        input_range=digits_case.input_range, seed=0,
    )  # fmt: skip
    theirs = art_evasion.DeepFool(art_classifier, verbose=False).generate(x)
    s_ours, s_theirs = _success(digits_case, x, y, ours.x_adv), _success(digits_case, x, y, theirs)
    assert abs(s_ours - s_theirs) <= 0.02, (s_ours, s_theirs)
    # Same algorithm, so the perturbations are about as small as ART's.
    assert _median_l2(x, ours.x_adv) <= 1.1 * _median_l2(x, theirs)


@pytest.mark.slow
def test_cw_success_matches_art(digits_case, art_classifier):
    x, y = digits_case.x[:25], digits_case.y[:25]
    ours = get_attack("cw").generate(
        digits_case.target, x, y, epsilon=math.inf, norm="l2", params={},
        input_range=digits_case.input_range, seed=0,
    )  # fmt: skip
    theirs = art_evasion.CarliniL2Method(art_classifier, verbose=False).generate(x, y)
    s_ours, s_theirs = _success(digits_case, x, y, ours.x_adv), _success(digits_case, x, y, theirs)
    assert abs(s_ours - s_theirs) <= 0.02, (s_ours, s_theirs)
    fooled = digits_case.predict_labels(ours.x_adv) != y
    assert _median_l2(x[fooled], ours.x_adv[fooled]) <= 1.1 * _median_l2(x[fooled], theirs[fooled])


def test_cw_and_deepfool_respect_a_finite_epsilon(digits_case):
    x, y = digits_case.x[:40], digits_case.y[:40]
    for name in ("cw", "deepfool"):
        unbounded = get_attack(name).generate(
            digits_case.target, x, y, epsilon=math.inf, norm="l2", params={"steps": 20},
            input_range=digits_case.input_range, seed=0,
        )  # fmt: skip
        bounded = get_attack(name).generate(
            digits_case.target, x, y, epsilon=0.3, norm="l2", params={"steps": 20},
            input_range=digits_case.input_range, seed=0,
        )  # fmt: skip
        norms = np.linalg.norm((bounded.x_adv - x).reshape(len(x), -1), axis=1)
        assert norms.max() <= 0.3 + 1e-5
        acc_bounded = (digits_case.predict_labels(bounded.x_adv) == y).mean()
        acc_unbounded = (digits_case.predict_labels(unbounded.x_adv) == y).mean()
        assert acc_unbounded <= acc_bounded, name


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_hopskipjump_matches_art(norm, digits_case):
    """Own batched HopSkipJump vs ART's per-sample one, same budget, labels only."""
    x, y = digits_case.x[:30], digits_case.y[:30]
    budget = {"max_iter": 5, "max_eval": 200, "init_eval": 20, "init_size": 100}
    t = digits_case.target
    from robustedge.attacks import AttackTarget

    ours = get_attack("hopskipjump").generate(
        AttackTarget(t.predict, None, t.num_classes, t.input_shape), x, y, epsilon=math.inf,
        norm=norm, params=budget, input_range=digits_case.input_range, seed=0,
    )  # fmt: skip
    black_box = art_classification.BlackBoxClassifierNeuralNetwork(
        t.predict, input_shape=t.input_shape, nb_classes=t.num_classes,
        clip_values=digits_case.input_range,
    )  # fmt: skip
    np.random.seed(0)
    theirs = art_evasion.HopSkipJump(
        black_box, norm=2 if norm == "l2" else np.inf, verbose=False, **budget
    ).generate(x)
    s_ours, s_theirs = _success(digits_case, x, y, ours.x_adv), _success(digits_case, x, y, theirs)
    assert abs(s_ours - s_theirs) <= 0.02, (s_ours, s_theirs)

    def median_distance(adv):
        fooled = digits_case.predict_labels(adv) != y
        d = (adv - x).reshape(len(x), -1)[fooled]
        return float(np.median(np.linalg.norm(d, axis=1) if norm == "l2" else np.abs(d).max(1)))

    assert median_distance(ours.x_adv) <= 1.1 * median_distance(theirs)
