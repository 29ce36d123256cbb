"""worst_case(): AutoAttack-style per-sample worst case over an ensemble."""

from __future__ import annotations

import numpy as np
import pytest

from robustedge.attacks import (
    STANDARD,
    AttackTarget,
    AttackUnsupportedError,
    get_attack,
    worst_case,
)

EPS = 0.1
N = 120
FAST = {
    "apgd-ce": {"steps": 20},
    "apgd-dlr": {"steps": 20},
    "square": {"queries": 300},
}


def _alone(case, name, x, y):
    target = case.target
    if name == "square":
        target = AttackTarget(target.predict, None, target.num_classes, target.input_shape)
    run = get_attack(name).generate(
        target, x, y, epsilon=EPS, norm="linf", params=FAST[name],
        input_range=case.input_range, seed=0,
    )  # fmt: skip
    return float((case.predict_labels(run.x_adv) == y).mean())


def test_standard_is_no_better_than_any_member(digits_case):
    x, y = digits_case.x[:N], digits_case.y[:N]
    members = [(name, FAST[name]) for name in STANDARD]
    events: list[float] = []
    result = worst_case(
        members, digits_case.target, x, y, epsilon=EPS, norm="linf",
        input_range=digits_case.input_range, seed=0, progress=events.append,
    )  # fmt: skip
    # The robust flags are what onnxruntime says about the returned examples.
    np.testing.assert_array_equal(result.robust, digits_case.predict_labels(result.x_adv) == y)
    for name in STANDARD:
        assert result.robust_accuracy <= _alone(digits_case, name, x, y), name
    # Each member only attacked what was still robust, and the counts add up.
    clean_correct = int((digits_case.predict_labels(x) == y).sum())
    assert result.members[0].attempted == clean_correct
    for before, after in zip(result.members, result.members[1:], strict=False):
        assert after.attempted == before.robust_after == before.attempted - before.broken
    assert result.members[-1].robust_after == int(result.robust.sum())
    assert result.members[-1].queries is not None and result.members[-1].queries > 0
    broken = [b for b in result.broken_by if b is not None]
    assert len(broken) == clean_correct - int(result.robust.sum())
    assert set(broken) <= set(STANDARD)
    assert events[-1] == 1.0
    assert np.abs(result.x_adv - x).max() <= EPS + 1e-6


def test_members_needing_gradients_are_refused_or_skipped(digits_case):
    t = digits_case.target
    black_box_only = AttackTarget(t.predict, None, t.num_classes, t.input_shape)
    x, y = digits_case.x[:24], digits_case.y[:24]
    kwargs = dict(epsilon=EPS, norm="linf", input_range=digits_case.input_range, seed=0)
    with pytest.raises(AttackUnsupportedError, match="gradients"):
        worst_case(["apgd-ce", ("square", {"queries": 50})], black_box_only, x, y, **kwargs)
    result = worst_case(
        ["apgd-ce", ("square", {"queries": 50})], black_box_only, x, y,
        skip_unsupported=True, **kwargs,
    )  # fmt: skip
    assert result.members[0].skipped and result.members[0].attempted == 0
    assert result.members[1].attempted > 0


def test_autoattack_attack_matches_worst_case(digits_case):
    x, y = digits_case.x[:48], digits_case.y[:48]
    params = {"steps": 10, "queries": 100}
    run = get_attack("autoattack").generate(
        digits_case.target, x, y, epsilon=EPS, norm="linf", params=params,
        input_range=digits_case.input_range, seed=5,
    )  # fmt: skip
    members = [
        ("apgd-ce", {"steps": 10}),
        ("apgd-dlr", {"steps": 10}),
        ("square", {"queries": 100}),
    ]
    direct = worst_case(
        members, digits_case.target, x, y, epsilon=EPS, norm="linf",
        input_range=digits_case.input_range, seed=5,
    )  # fmt: skip
    np.testing.assert_array_equal(run.x_adv, direct.x_adv)
    assert set(run.params["members"]) == set(STANDARD)
