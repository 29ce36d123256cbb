"""Parameter resolution: defaults filled in, bad values named by field."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robustedge.attacks import (
    AttackConfigError,
    AttackTarget,
    AttackUnsupportedError,
    canonical_norm,
    get_attack,
)


def test_pgd_defaults_depend_on_epsilon_and_steps():
    p = get_attack("pgd").resolve_params({}, epsilon=0.1, norm="linf")
    assert p["steps"] == 10 and p["restarts"] == 1 and p["random_start"] is True
    assert math.isclose(p["step_size"], 2.5 * 0.1 / 10)
    p = get_attack("pgd").resolve_params({"steps": 40}, epsilon=0.2, norm="inf")
    assert math.isclose(p["step_size"], 2.5 * 0.2 / 40)
    assert p["time_budget_s"] is None and p["batch_size"] == 256


def test_integral_floats_are_accepted_as_counts():
    assert (
        get_attack("pgd").resolve_params({"steps": 20.0}, epsilon=0.1, norm="linf")["steps"] == 20
    )


@pytest.mark.parametrize(
    ("params", "epsilon", "norm", "field"),
    [
        ({"steps": 0}, 0.1, "linf", "steps"),
        ({"steps": 2.5}, 0.1, "linf", "steps"),
        ({"steps": "ten"}, 0.1, "linf", "steps"),
        ({"step_size": -0.1}, 0.1, "linf", "step_size"),
        ({"step_size": float("nan")}, 0.1, "linf", "step_size"),
        ({"random_start": "yes"}, 0.1, "linf", "random_start"),
        ({"restarts": 0}, 0.1, "linf", "restarts"),
        ({"stepz": 3}, 0.1, "linf", "stepz"),
        ({"batch_size": 0}, 0.1, "linf", "batch_size"),
        ({"time_budget_s": 0}, 0.1, "linf", "time_budget_s"),
        ({}, 0.0, "linf", "epsilon"),
        ({}, -1.0, "linf", "epsilon"),
        ({}, float("inf"), "linf", "epsilon"),
        ({}, 0.1, "l1", "norm"),
    ],
)
def test_bad_parameters_name_their_field(params, epsilon, norm, field):
    with pytest.raises(AttackConfigError) as info:
        get_attack("pgd").resolve_params(params, epsilon=epsilon, norm=norm)
    assert info.value.field == field
    assert field in str(info.value)


def test_unsupported_norm_is_a_config_error():
    with pytest.raises(AttackConfigError) as info:
        get_attack("bim").resolve_params({}, epsilon=0.1, norm="l2")
    assert info.value.field == "norm"


def test_norm_aliases():
    assert canonical_norm("Linf") == canonical_norm("inf") == "linf"
    assert canonical_norm("L2") == "l2"


def test_white_box_attack_refuses_a_target_without_module():
    target = AttackTarget(lambda a: np.zeros((len(a), 10), np.float32), None, 10, (1, 8, 8))
    x = np.zeros((2, 1, 8, 8), np.float32)
    with pytest.raises(AttackUnsupportedError, match="gradients"):
        get_attack("pgd").generate(
            target,
            x,
            np.zeros(2, np.int64),
            epsilon=0.1,
            norm="linf",
            params={},
            input_range=(0.0, 1.0),
            seed=0,
        )


def test_inputs_outside_the_range_are_rejected(digits_case):
    x = digits_case.x[:4] + 2.0
    with pytest.raises(ValueError, match="input_range"):
        get_attack("fgsm").generate(
            digits_case.target,
            x,
            digits_case.y[:4],
            epsilon=0.1,
            norm="linf",
            params={},
            input_range=(0.0, 1.0),
            seed=0,
        )


def test_bad_input_range_is_a_config_error(digits_case):
    with pytest.raises(AttackConfigError) as info:
        get_attack("fgsm").generate(
            digits_case.target,
            digits_case.x[:4],
            digits_case.y[:4],
            epsilon=0.1,
            norm="linf",
            params={},
            input_range=(1.0, 0.0),
            seed=0,
        )
    assert info.value.field == "input_range"


def test_non_finite_inputs_are_rejected(digits_case):
    x = digits_case.x[:4].copy()
    x[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        get_attack("fgsm").generate(
            digits_case.target, x, digits_case.y[:4], epsilon=0.1, norm="linf", params={},
            input_range=(0.0, 1.0), seed=0,
        )  # fmt: skip


def test_numpy_epsilon_is_accepted():
    p = get_attack("pgd").resolve_params({}, epsilon=np.float32(0.25), norm="linf")
    assert math.isclose(p["step_size"], 2.5 * 0.25 / 10, rel_tol=1e-6)
