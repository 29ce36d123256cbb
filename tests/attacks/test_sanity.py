"""Sanity flags: each check fires on the pattern it exists for and stays quiet otherwise."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from robustedge.attacks import sanity

DOCS = Path(__file__).resolve().parents[2] / "docs" / "flags.md"


def _row(attack, mode, eps, acc, *, source="base", target="base", n=200, norm="linf"):
    return {
        "attack": attack,
        "mode": mode,
        "epsilon": eps,
        "norm": norm,
        "source_variant": source,
        "target_variant": target,
        "robust_accuracy": acc,
        "n": n,
    }


def _codes(flags):
    return [f["code"] for f in flags]


def _well_formed(flags):
    for f in flags:
        assert set(f) == {"code", "severity", "variant", "attack", "message"}
        assert f["severity"] in ("info", "warning", "error") and f["message"]


def test_vanishing_gradients():
    assert sanity.check_gradients("int8", 0.4) == []
    flags = sanity.check_gradients("int8", 0.001, attack="pgd")
    _well_formed(flags)
    assert _codes(flags) == [sanity.VANISHING_GRADIENTS] and flags[0]["severity"] == "warning"
    assert sanity.check_gradients("int8", 0.0)[0]["severity"] == "error"
    with pytest.raises(ValueError):
        sanity.check_gradients("int8", 1.5)


def test_gradient_fraction_of_a_rounding_model_is_zero():
    x = np.random.default_rng(0).random((8, 4)).astype(np.float32)
    y = np.zeros(8, np.int64)
    linear = torch.nn.Linear(4, 3)

    class Rounding(torch.nn.Module):  # exact quantization semantics: no gradient
        def forward(self, t):
            return linear(torch.round(t * 4) / 4)

    assert sanity.gradient_nonzero_fraction(linear, x, y) > 0.9
    assert sanity.gradient_nonzero_fraction(Rounding(), x, y) == 0.0


def test_softmax_outputs():
    logits = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]])
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert sanity.check_softmax_outputs("base", logits) == []
    flags = sanity.check_softmax_outputs("base", probs)
    _well_formed(flags)
    assert _codes(flags) == [sanity.SOFTMAX_OUTPUTS]
    # Non-negative scores that do not sum to one are not probabilities.
    assert sanity.check_softmax_outputs("base", probs * 0.5) == []


def test_black_box_and_transfer_stronger_than_white_box():
    rows = [
        _row("pgd", "white_box", 0.1, 0.60, target="int8"),
        _row("square", "black_box", 0.1, 0.30, target="int8"),
        _row("pgd", "transfer", 0.1, 0.50, target="int8"),
        _row("pgd", "white_box", 0.1, 0.40, target="base"),
        _row("square", "black_box", 0.1, 0.41, target="base"),
    ]
    flags = sanity.check_black_box_vs_white_box(rows)
    _well_formed(flags)
    assert sorted(_codes(flags)) == sorted([sanity.BLACK_BOX_STRONGER, sanity.TRANSFER_STRONGER])
    assert {f["variant"] for f in flags} == {"int8"}
    # One sample's difference is noise.
    close = [
        _row("pgd", "white_box", 0.1, 0.50, n=20),
        _row("square", "black_box", 0.1, 0.45, n=20),
    ]
    assert sanity.check_black_box_vs_white_box(close) == []


def test_robust_accuracy_rising_with_epsilon():
    rows = [
        _row("pgd", "white_box", 0.05, 0.7),
        _row("pgd", "white_box", 0.2, 0.4),  # listed out of order on purpose
        _row("pgd", "white_box", 0.1, 0.5),
        _row("fgsm", "white_box", 0.05, 0.6),
        _row("fgsm", "white_box", 0.1, 0.7),
    ]
    flags = sanity.check_monotone_in_epsilon(rows)
    _well_formed(flags)
    assert _codes(flags) == [sanity.RISING_WITH_EPSILON] and flags[0]["attack"] == "fgsm"
    assert sanity.check_monotone_in_epsilon(rows[:3]) == []


def test_non_deterministic_outputs():
    a = np.zeros((3, 4), np.float32)
    assert sanity.check_determinism("base", "pgd", a, a.copy()) == []
    b = a.copy()
    b[1, 2] = 1e-3
    flags = sanity.check_determinism("base", "pgd", a, b)
    _well_formed(flags)
    assert _codes(flags) == [sanity.NON_DETERMINISTIC] and flags[0]["severity"] == "error"
    assert sanity.check_determinism("base", "pgd", a, b, atol=1e-2) == []


def test_fidelity_failure():
    assert sanity.check_fidelity("int8", 1e-6, 1.0) == []
    flags = sanity.check_fidelity("int8", 0.3, 0.95)
    _well_formed(flags)
    assert _codes(flags) == [sanity.FIDELITY_FAILED] and flags[0]["severity"] == "error"
    assert sanity.check_fidelity("int8", 0.3, 1.0)[0]["severity"] == "warning"
    assert "QLinearAdd" in sanity.check_fidelity("q", None, None, error="QLinearAdd")[0]["message"]


def test_check_report_skips_flags_already_present():
    report = {
        "attacks": [
            _row("pgd", "white_box", 0.05, 0.3, target="int8"),
            _row("pgd", "white_box", 0.1, 0.6, target="int8"),
        ],
        "variants": [
            {"name": "base", "fidelity": {"passed": True, "max_abs_diff": 0.0}},
            {"name": "int8", "fidelity": {"passed": False, "max_abs_diff": 0.2}},
        ],
        "flags": [{"code": "fidelity_failed", "variant": "int8", "attack": "", "message": "x"}],
    }
    flags = sanity.check_report(report)
    _well_formed(flags)
    assert _codes(flags) == [sanity.RISING_WITH_EPSILON]
    report["flags"] = []
    assert sorted(_codes(sanity.check_report(report))) == sorted(
        [sanity.RISING_WITH_EPSILON, sanity.FIDELITY_FAILED]
    )


def test_every_code_is_documented():
    text = DOCS.read_text()
    for code in sanity.CODES:
        assert re.search(rf"^#+ .*`{code}`", text, re.M), f"{code} missing from docs/flags.md"


def test_no_false_alarms_on_a_healthy_float_model(digits_case):
    """Real runs on the float digits model: white-box and black-box curves raise no flag."""
    from robustedge.attacks import AttackTarget, get_attack, summarize

    x, y = digits_case.x[:200], digits_case.y[:200]
    t = digits_case.target
    black_box = AttackTarget(t.predict, None, t.num_classes, t.input_shape)
    clean = digits_case.predict_labels(x)
    rows = []
    for attack, target, params, mode in (
        ("fgsm", t, {}, "white_box"),
        ("pgd", t, {"steps": 20}, "white_box"),
        ("square", black_box, {"queries": 300}, "black_box"),
    ):
        for eps in (0.05, 0.1, 0.2):
            run = get_attack(attack).generate(
                target, x, y, epsilon=eps, norm="linf", params=params,
                input_range=digits_case.input_range, seed=0,
            )  # fmt: skip
            metrics = summarize(x, run.x_adv, y, clean, digits_case.predict_labels(run.x_adv))
            rows.append(
                {"attack": attack, "mode": mode, "epsilon": eps, "norm": "linf",
                 "source_variant": "base", "target_variant": "base", **metrics}
            )  # fmt: skip
    assert sanity.check_results(rows) == []
    assert sanity.check_softmax_outputs("base", t.predict(x)) == []
    assert sanity.check_gradients("base", sanity.gradient_nonzero_fraction(t.module, x, y)) == []
