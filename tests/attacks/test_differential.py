"""Differential test: our FGSM and PGD against IBM ART's, same model and parameters.

ART (adversarial-robustness-toolbox, a runtime dependency) is the independent
reference. Both sets of adversarial examples are scored by onnxruntime; robust
accuracies must agree within 1 point on the full 540-sample digits evaluation set.
"""

from __future__ import annotations

import numpy as np
import pytest

from robustedge.attacks import get_attack

art_classification = pytest.importorskip("art.estimators.classification")
art_evasion = pytest.importorskip("art.attacks.evasion")


def _accuracy(case, x_adv) -> float:
    return float((case.predict_labels(x_adv) == case.y).mean())


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.2])
def test_fgsm_agrees_with_art(eps, digits_case, art_classifier):
    ours = get_attack("fgsm").generate(
        digits_case.target,
        digits_case.x,
        digits_case.y,
        epsilon=eps,
        norm="linf",
        params={},
        input_range=digits_case.input_range,
        seed=0,
    )
    # ART uses the model's predictions as labels unless y is given; we attack true labels.
    theirs = art_evasion.FastGradientMethod(art_classifier, eps=eps, batch_size=256).generate(
        digits_case.x, digits_case.y
    )
    ours_acc, theirs_acc = _accuracy(digits_case, ours.x_adv), _accuracy(digits_case, theirs)
    assert abs(ours_acc - theirs_acc) <= 0.01, (ours_acc, theirs_acc)
    assert ours_acc < _accuracy(digits_case, digits_case.x)


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.2])
def test_pgd_agrees_with_art(eps, digits_case, art_classifier):
    steps, step_size = 20, eps / 8
    ours = get_attack("pgd").generate(
        digits_case.target,
        digits_case.x,
        digits_case.y,
        epsilon=eps,
        norm="linf",
        params={"steps": steps, "step_size": step_size, "random_start": True},
        input_range=digits_case.input_range,
        seed=0,
    )
    np.random.seed(0)  # ART draws its random start from numpy's global generator
    theirs = art_evasion.ProjectedGradientDescent(
        art_classifier,
        norm=np.inf,
        eps=eps,
        eps_step=step_size,
        max_iter=steps,
        num_random_init=1,
        batch_size=256,
        verbose=False,
    ).generate(digits_case.x, digits_case.y)
    ours_acc, theirs_acc = _accuracy(digits_case, ours.x_adv), _accuracy(digits_case, theirs)
    assert abs(ours_acc - theirs_acc) <= 0.01, (ours_acc, theirs_acc)


@pytest.mark.parametrize(("eps", "seeds"), [(0.5, 1), (1.0, 3)])
def test_pgd_l2_agrees_with_art(eps, seeds, digits_case, art_classifier):
    # At eps=1.0 the robust accuracy of one L2 run spreads by ~1 point across seeds for
    # either implementation (measured: 0.56%..1.85%), so both sides are averaged over
    # three seeds there; at eps=0.5 five seeds stayed within 0.9 points, one suffices.
    steps, step_size = 20, eps / 8
    ours, theirs = [], []
    for seed in range(seeds):
        run = get_attack("pgd").generate(
            digits_case.target,
            digits_case.x,
            digits_case.y,
            epsilon=eps,
            norm="l2",
            params={"steps": steps, "step_size": step_size, "random_start": True},
            input_range=digits_case.input_range,
            seed=seed,
        )
        ours.append(_accuracy(digits_case, run.x_adv))
        np.random.seed(seed)
        adv = art_evasion.ProjectedGradientDescent(
            art_classifier,
            norm=2,
            eps=eps,
            eps_step=step_size,
            max_iter=steps,
            num_random_init=1,
            batch_size=256,
            verbose=False,
        ).generate(digits_case.x, digits_case.y)
        theirs.append(_accuracy(digits_case, adv))
    assert abs(np.mean(ours) - np.mean(theirs)) <= 0.01, (ours, theirs)
