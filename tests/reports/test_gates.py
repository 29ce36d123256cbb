"""The gate language: parsing, selection and evaluation against the fixture report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from robustedge.client.gates import (
    METRICS,
    GateError,
    evaluate_gate,
    evaluate_gates,
    parse_gate,
    parse_number,
)
from robustedge.v1 import evaluation_pb2 as pb

DOCS = Path(__file__).resolve().parents[2] / "docs" / "gates.md"


def _result(report: pb.Report, expression: str) -> pb.GateResult:
    [result] = evaluate_gates(report, [expression])
    return result


# -- the examples of the issue ------------------------------------------------------


def test_examples_from_the_design(report: pb.Report) -> None:
    results = evaluate_gates(
        report,
        [
            "robust_accuracy[attack=pgd, eps=0.1, variant=int8] >= 0.3",
            "drop(robust_accuracy[attack=pgd, eps=8/255], base, int8) <= 0.05",
            "latency.p50_ms[variant=int8, provider=cpu] <= 2.0",
        ],
    )
    assert [r.error for r in results] == ["", "", ""]
    assert results[0].value == pytest.approx(0.04) and not results[0].passed
    assert results[1].value == pytest.approx(0.51 - 0.46) and results[1].passed
    assert results[2].value == pytest.approx(0.236) and results[2].passed


def test_parse_structure() -> None:
    gate = parse_gate("drop( robust_accuracy[ attack = pgd , eps = 8/255 ] , base , int8 ) <= 5e-2")
    assert gate.reference.metric.name == "robust_accuracy"
    assert gate.reference.selectors == {"attack": "pgd", "eps": pytest.approx(8 / 255)}
    assert gate.drop == ("base", "int8")
    assert (gate.operator, gate.threshold) == ("<=", 0.05)


def test_drop_is_first_minus_second(report: pb.Report) -> None:
    forward = _result(report, "drop(robust_accuracy[attack=fgsm, eps=0.05], base, pruned) < 0")
    backward = _result(report, "drop(robust_accuracy[attack=fgsm, eps=0.05], pruned, base) > 0")
    assert forward.value == pytest.approx(0.47 - 0.49)
    assert backward.value == pytest.approx(-forward.value)
    assert forward.passed and backward.passed


def test_fractions_and_decimals_select_the_same_epsilon(report: pb.Report) -> None:
    as_fraction = _result(report, "robust_accuracy[attack=pgd, eps=8/255, variant=base] >= 0")
    as_decimal = _result(
        report, "robust_accuracy[attack=pgd, eps=0.03137254901960784, variant=base] >= 0"
    )
    assert as_fraction.value == as_decimal.value == pytest.approx(0.51)
    # Close but not within 1e-9 relative: a different epsilon.
    near = _result(report, "robust_accuracy[attack=pgd, eps=0.0313725, variant=base] >= 0")
    assert not near.passed and "selects no row" in near.error


def test_threshold_may_be_a_fraction(report: pb.Report) -> None:
    assert parse_gate("clean_accuracy[variant=base] >= 9/10").threshold == pytest.approx(0.9)
    assert _result(report, "clean_accuracy[variant=base] >= 9/10").passed


# -- syntax errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "empty"),
        ("robust_accuracy[attack=pgd] >=", "expected a number"),
        ("robust_accuracy[attack=pgd >= 1", "expected ',' or ']'"),
        ("robust_accuracy[attack=pgd] => 1", "expected a comparison"),
        ("robust_accuracy[attack=pgd] != 1", "expected a comparison"),
        ("robust_accuracy[attack=pgd] >= high", "not a number"),
        ("clean_accuracy[variant=int8] >= 0.9 and more", "not a number"),
        ("robust_accuracy[attack=] >= 0", "expected a value for attack"),
        ("robust_accuracy[attack=pgd, attack=fgsm] > 0", "given twice"),
        ("robust_accuracy[eps=1/0] > 0", "division by zero"),
        ("latency.p50_ms[threads=two] < 1", "whole number"),
        ("robust_accuracy[mode=grey_box] > 0", "unknown mode"),
        ("drop(robust_accuracy[attack=pgd], base) <= 0.1", "',' before the second variant"),
        ("drop(robust_accuracy[attack=pgd, variant=int8], base, int8) <= 0", "remove variant="),
        ("drop(robust_accuracy[attack=pgd], base, int8 <= 0", "')' closing drop("),
        (">= 0.5", "expected a metric name"),
    ],
)
def test_syntax_errors(expression: str, message: str) -> None:
    with pytest.raises(GateError, match=re.escape(message)):
        parse_gate(expression)


def test_syntax_error_points_at_the_column() -> None:
    with pytest.raises(GateError) as caught:
        parse_gate("robust_accuracy[attack=pgd] => 1")
    lines = str(caught.value).splitlines()
    assert "column 29" in lines[0]
    assert lines[2].index("^") == lines[1].index("=>")


# -- unknown names are errors, never passes -----------------------------------------


def test_unknown_metric_is_an_error() -> None:
    with pytest.raises(GateError, match="unknown metric 'robustness'"):
        parse_gate("robustness[attack=pgd] >= 0")


@pytest.mark.parametrize(
    "expression",
    [
        "robust_accuracy[atack=pgd, eps=0.1, variant=int8] >= 0",
        "clean_accuracy[variant=int8, provider=cpu] >= 0",
        "latency.p50_ms[variant=int8, eps=0.1] <= 100",
    ],
)
def test_unknown_selector_is_an_error_not_a_pass(report: pb.Report, expression: str) -> None:
    with pytest.raises(GateError, match="unknown selector"):
        parse_gate(expression)
    result = _result(report, expression)
    assert not result.passed
    assert "unknown selector" in result.error
    assert not result.HasField("value")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("robust_accuracy[attack=cw, eps=0.1, variant=int8] >= 0", "no attack named 'cw'"),
        ("robust_accuracy[attack=pgd, eps=0.2, variant=int8] >= 0", "selects no row"),
        ("robust_accuracy[attack=pgd, eps=0.1, variant=int9] >= 0", "selects no row"),
        ("clean_accuracy[variant=int9] >= 0", "known variants: base, int8, pruned"),
        ("latency.p50_ms[variant=int8, provider=tensorrt] <= 100", "selects no row"),
        ("latency.p50_ms[variant=int8, batch_size=8] <= 100", "selects no row"),
        ("drop(robust_accuracy[attack=pgd, eps=0.1], base, int9) <= 1", "variant=int9"),
    ],
)
def test_selecting_nothing_fails_with_an_error(
    report: pb.Report, expression: str, message: str
) -> None:
    result = _result(report, expression)
    assert not result.passed
    assert message in result.error
    assert not result.HasField("value")


# -- ambiguity ----------------------------------------------------------------------


def test_ambiguous_selection_names_the_missing_selector(report: pb.Report) -> None:
    result = _result(report, "robust_accuracy[attack=pgd, eps=0.1] >= 0")
    assert not result.passed and not result.HasField("value")
    assert "ambiguous" in result.error
    assert "selects 3 rows" in result.error
    assert "variant=int8" in result.error


def test_ambiguous_across_epsilons(report: pb.Report) -> None:
    result = _result(report, "robust_accuracy[attack=pgd, variant=int8] >= 0")
    assert "ambiguous" in result.error and "eps=0.05" in result.error


def test_threads_default_only_when_unique(report: pb.Report) -> None:
    assert _result(report, "latency.p50_ms[variant=int8] <= 1").passed
    report.latency.add(variant="int8", provider="cpu", threads=4, batch_size=1, p50_ms=0.1,
                       iterations=100)  # fmt: skip
    ambiguous = _result(report, "latency.p50_ms[variant=int8] <= 1")
    assert "ambiguous" in ambiguous.error and "threads=4" in ambiguous.error
    chosen = _result(report, "latency.p50_ms[variant=int8, threads=4] <= 1")
    assert chosen.passed and chosen.value == pytest.approx(0.1)


def test_provider_defaults_to_cpu(report: pb.Report) -> None:
    assert _result(report, "latency.p50_ms[variant=base] <= 1").value == pytest.approx(0.412)
    openvino = _result(report, "latency.p50_ms[variant=base, provider=openvino] <= 1")
    assert openvino.value == pytest.approx(0.301)


# -- modes, sources and what is not measured ----------------------------------------


def test_transfer_mode_and_source(report: pb.Report) -> None:
    transfer = "robust_accuracy[attack=pgd, eps=0.1, variant=int8, mode=transfer] == 0.09"
    result = _result(report, transfer)
    assert result.passed, result.error
    with_source = _result(
        report, "robust_accuracy[attack=pgd, eps=0.1, variant=int8, mode=transfer, source=base] > 0"
    )
    assert with_source.value == pytest.approx(0.09)
    # White-box is the default mode; the source defaults to the target itself.
    white = _result(report, "robust_accuracy[attack=pgd, eps=0.1, variant=int8] > 0")
    assert white.value == pytest.approx(0.04)
    missing = _result(
        report,
        "robust_accuracy[attack=pgd, eps=0.1, variant=pruned, mode=transfer, source=int8] > 0",
    )
    assert "selects no row" in missing.error


def test_transfer_from_a_variant_to_itself_is_its_white_box_result(report: pb.Report) -> None:
    """base→base transfer is base's white-box attack (the same examples, the same
    model), so a transfer drop against base works without a stored base→base row."""
    base = _result(report, "robust_accuracy[attack=pgd, eps=0.1, variant=base, mode=transfer] > 0")
    assert base.value == pytest.approx(0.06)
    dropped = _result(
        report, "drop(robust_accuracy[attack=pgd, eps=8/255, mode=transfer], base, int8) <= 0"
    )
    assert dropped.value == pytest.approx(0.51 - 0.55) and dropped.passed


def test_attack_success_rate(report: pb.Report) -> None:
    result = _result(report, "attack_success_rate[attack=pgd, eps=0.1, variant=base] <= 1")
    assert result.value == pytest.approx(round((0.953 - 0.06) / 0.953, 4))


def test_unset_optional_is_an_error(report: pb.Report) -> None:
    result = _result(report, "sparsity[variant=int8] <= 1")
    assert not result.passed and "not set" in result.error
    assert _result(report, "sparsity[variant=pruned] >= 0.5").passed


def test_failed_variant_says_why(report: pb.Report) -> None:
    variant = report.variants[2]
    variant.ok = False
    variant.error = "RuntimeError: pruning diverged"
    variant.ClearField("clean_accuracy")
    result = _result(report, "clean_accuracy[variant=pruned] >= 0.5")
    assert "variant failed: RuntimeError: pruning diverged" in result.error


def test_skipped_latency_is_an_error(report: pb.Report) -> None:
    result = _result(report, "latency.p50_ms[variant=pruned, provider=openvino] <= 100")
    assert not result.passed and "not measured" in result.error


def test_untrusted_result_never_passes(report: pb.Report) -> None:
    for row in report.attacks:
        if row.target_variant == "int8" and row.mode == pb.ATTACK_MODE_WHITE_BOX:
            row.trusted = False
    result = _result(report, "robust_accuracy[attack=pgd, eps=0.1, variant=int8] >= 0")
    assert not result.passed
    assert result.value == pytest.approx(0.04)  # measured, but not to be trusted
    assert "untrusted" in result.error and "int8" in result.error
    dropped = _result(report, "drop(robust_accuracy[attack=pgd, eps=0.1], base, int8) <= 1")
    assert not dropped.passed and "untrusted" in dropped.error


@pytest.mark.parametrize(
    ("operator", "expected"),
    [(">=", True), ("<=", True), ("==", True), (">", False), ("<", False)],
)
def test_operators_at_the_boundary(report: pb.Report, operator: str, expected: bool) -> None:
    assert _result(report, f"clean_accuracy[variant=base] {operator} 0.953").passed is expected


def test_negative_threshold(report: pb.Report) -> None:
    result = _result(report, "drop(robust_accuracy[attack=pgd, eps=0.05], base, pruned) >= -0.05")
    assert result.passed and result.value == pytest.approx(-0.03)


def test_every_metric_evaluates_on_the_fixture(report: pb.Report) -> None:
    selectors = {
        "attack": "[attack=pgd, eps=0.05, variant=int8]",
        "variant": "[variant=pruned]",
        "latency": "[variant=int8, provider=cpu]",
    }
    for name, metric in METRICS.items():
        result = evaluate_gate(report, f"{name}{selectors[metric.table]} >= 0")
        assert result.passed, (name, result.error)


def test_evaluate_accepts_a_parsed_gate(report: pb.Report) -> None:
    gate = parse_gate("clean_accuracy[variant=int8] >= 0.9")
    assert evaluate_gate(report, gate).passed
    assert str(gate) == "clean_accuracy[variant=int8] >= 0.9"


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.05", 0.05), ("8/255", 8 / 255), ("1e-3", 0.001), ("-2", -2.0), (" 3 / 4 ", 0.75)],
)
def test_parse_number(text: str, value: float) -> None:
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "abc", "1/", "/2", "1/2/3", "inf", "nan", "1e999"])
def test_parse_number_rejects(text: str) -> None:
    with pytest.raises(GateError):
        parse_number(text)


# -- the documentation stays in step ------------------------------------------------


def test_documented_examples_parse() -> None:
    """Every line of every ```gates block in docs/gates.md must parse."""
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```gates\n(.*?)```", text, flags=re.DOTALL)
    examples = [line.strip() for block in blocks for line in block.splitlines() if line.strip()]
    assert len(examples) >= 10
    for example in examples:
        parse_gate(example)


def test_every_metric_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for name in METRICS:
        assert f"`{name}`" in text, f"{name} is missing from docs/gates.md"


def test_confidence_bounds(report: pb.Report) -> None:
    low = _result(report, "robust_accuracy.ci_low[attack=pgd, eps=0.05, variant=int8] >= 0.25")
    high = _result(report, "robust_accuracy.ci_high[attack=pgd, eps=0.05, variant=int8] <= 0.4")
    # Wilson interval of 90/300 correct (z=1.96): [0.2509, 0.3541].
    assert low.value == pytest.approx(0.2509, abs=1e-4) and low.passed
    assert high.value == pytest.approx(0.3541, abs=1e-4) and high.passed


def test_printed_gates_parse_back_to_the_same_gate() -> None:
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```gates\n(.*?)```", text, flags=re.DOTALL)
    for example in (line.strip() for b in blocks for line in b.splitlines() if line.strip()):
        gate = parse_gate(example)
        again = parse_gate(str(gate))
        assert (again.reference, again.operator, again.drop) == (
            gate.reference,
            gate.operator,
            gate.drop,
        )
        assert again.threshold == gate.threshold
