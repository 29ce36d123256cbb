"""Properties specific to the black-box attacks and the universal perturbation."""

from __future__ import annotations

import numpy as np

from robustedge.attacks import AttackTarget, get_attack


def _black_box(case, transform=None) -> AttackTarget:
    t = case.target

    def predict(x):
        scores = t.predict(x)
        return transform(scores) if transform else scores

    return AttackTarget(predict, None, t.num_classes, t.input_shape)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_hopskipjump_uses_decisions_only(digits_case):
    # A decision-based attack must not change when the scores change but labels do not.
    x, y = digits_case.x[:12], digits_case.y[:12]
    params = {"max_iter": 3, "max_eval": 50, "init_eval": 10, "init_size": 20}
    kwargs = dict(epsilon=1.0, norm="l2", params=params, input_range=(0.0, 1.0), seed=4)
    hsj = get_attack("hopskipjump")
    on_logits = hsj.generate(_black_box(digits_case), x, y, **kwargs)
    on_probs = type(hsj)().generate(_black_box(digits_case, _softmax), x, y, **kwargs)
    np.testing.assert_array_equal(on_logits.x_adv, on_probs.x_adv)
    assert on_logits.queries == on_probs.queries


def test_square_counts_queries_within_budget(digits_case):
    x, y = digits_case.x[:40], digits_case.y[:40]
    calls = []
    target = _black_box(digits_case)
    inner = target.predict

    def counting(batch):
        calls.append(len(batch))
        return inner(batch)

    target.predict = counting
    run = get_attack("square").generate(
        target, x, y, epsilon=0.1, norm="linf", params={"queries": 50},
        input_range=(0.0, 1.0), seed=0,
    )  # fmt: skip
    assert run.queries == sum(calls)
    assert len(x) <= run.queries <= 50 * len(x)


def test_universal_applies_one_perturbation_to_every_sample(digits_case):
    x, y = digits_case.x[:150], digits_case.y[:150]
    run = get_attack("universal").generate(
        digits_case.target, x, y, epsilon=0.15, norm="linf", params={"steps": 50},
        input_range=(0.0, 1.0), seed=0,
    )  # fmt: skip
    delta = (run.x_adv - x).reshape(len(x), -1)
    unclipped = ((run.x_adv > 0) & (run.x_adv < 1)).reshape(len(x), -1)
    # Per input coordinate, every sample that was not clipped moved by the same amount.
    for j in range(delta.shape[1]):
        values = delta[unclipped[:, j], j]
        if len(values):
            assert values.max() - values.min() < 1e-5, j
    assert np.abs(delta).max() <= 0.15 + 1e-6
    accuracy = (digits_case.predict_labels(run.x_adv) == y).mean()
    assert accuracy < (digits_case.predict_labels(x) == y).mean() - 0.1
