"""The search's spec (defaults written in, bad values refused), its place in the job
plan, and the comparison/verdict the report carries."""

from __future__ import annotations

import pytest

from robustedge.service.comparison import comparison_rows, verdict
from robustedge.service.errors import InvalidArgument
from robustedge.service.plan import plan_units
from robustedge.service.spec import merge, validate
from robustedge.v1 import evaluation_pb2 as pb


def resolved(**search) -> pb.EvaluationSpec:
    spec = merge("quick", pb.EvaluationSpec(search=pb.SearchSpec(enabled=True, **search)))
    return validate(spec, input_range=(0.0, 1.0))


def test_defaults_are_written_into_the_spec():
    search = resolved().search
    assert search.variant_name == "searched" and search.attack == "pgd"
    assert search.epsilon == pytest.approx(0.1)  # the middle epsilon of quick's PGD
    assert (search.max_clean_drop, search.latency_batch_size, search.size_metric) == (
        0.02, 128, "file",
    )  # fmt: skip
    assert (search.max_evaluations, search.max_seconds) == (24, 600.0)
    assert list(search.dimensions) == ["prune", "quantize", "finetune", "order"]
    assert "cluster" in resolved(size_metric="gzip").search.dimensions


def test_the_preset_keeps_its_budgets_when_a_client_overrides_one_setting():
    spec = merge("robust-search", pb.EvaluationSpec(search=pb.SearchSpec(max_evaluations=5)))
    search = validate(spec, input_range=(0.0, 1.0)).search
    assert (search.max_evaluations, search.max_size_ratio, search.max_latency_ratio) == (
        5,
        0.3,
        0.7,
    )
    assert {v.name for v in spec.variants} >= {"int8-static", "channel-l2-50"}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"attack": "square"}, "not a gradient attack"),
        ({"epsilon": 2.0}, "search.epsilon"),
        ({"max_size_ratio": -0.1}, "max_size_ratio"),
        ({"size_metric": "zip"}, "size_metric"),
        ({"max_evaluations": 501}, "max_evaluations"),
        ({"dimensions": ["distill"]}, "dimensions"),
        ({"variant_name": "base"}, "variant_name"),
        ({"variant_name": "int8"}, "also a variant"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(settings, message):
    with pytest.raises(InvalidArgument, match=message):
        resolved(**settings)


def test_the_searched_variant_is_built_after_the_search_unit():
    units = {u.key: u for u in plan_units(resolved(), {"fgsm": True, "pgd": True})}
    assert units["search"].depends == ("prepare",)
    assert units["variant:searched"].depends == ("prepare", "search")
    assert any(key.startswith("attack:1:searched:") for key in units)
    assert "latency:searched" in units


def _report(searched_latency: float) -> pb.Report:
    report = pb.Report(spec=resolved(max_size_ratio=0.3, max_latency_ratio=0.7))
    report.search.CopyFrom(pb.SearchResult(
        variant="searched", attack="pgd", epsilon=0.1, max_clean_drop=0.02, max_size_ratio=0.3,
        max_latency_ratio=0.7, latency_batch_size=128, size_metric="file",
    ))  # fmt: skip
    rows = [  # name, clean, size, robust, p50 at batch 128
        ("base", 0.96, 1000, 0.58, 1.0),
        ("int8-static", 0.96, 290, 0.57, 0.62),
        ("channel-l2-50", 0.95, 660, 0.48, 1.3),
        ("searched", 0.95, 220, 0.69, searched_latency),
    ]
    for name, clean, size, robust, p50 in rows:
        report.variants.add(name=name, ok=True, clean_accuracy=clean, size_bytes=size)
        report.attacks.add(
            attack="pgd",
            mode=pb.ATTACK_MODE_WHITE_BOX,
            epsilon=0.1,
            source_variant=name,
            target_variant=name,
            robust_accuracy=robust,
        )
        report.latency.add(variant=name, provider="cpu", threads=1, batch_size=128, p50_ms=p50)
        report.latency.add(variant=name, provider="cpu", threads=1, batch_size=1, p50_ms=9.0)
    return report


def test_comparison_uses_the_reports_own_measurements():
    report = _report(searched_latency=0.6)
    rows = {row["variant"]: row for row in comparison_rows(report)}
    assert rows["int8-static"]["preset"] == "int8" and rows["int8-static"]["within_budgets"]
    assert rows["channel-l2-50"]["preset"] == "pruning-sweep"
    assert not rows["channel-l2-50"]["within_budgets"]  # 0.66x size, 1.3x latency
    assert rows["searched"]["latency_ratio"] == pytest.approx(0.6)
    for row in rows.values():
        report.search.comparison.add(**row)
    assert "at least as robust as int8-static" in verdict(report)
    assert "+0.120" in verdict(report)


def test_verdict_says_when_the_searched_variant_misses_a_budget_here():
    report = _report(searched_latency=0.75)
    for row in comparison_rows(report):
        report.search.comparison.add(**row)
    assert "not as measured on the evaluation run" in verdict(report)
    report.search.variant = ""
    report.search.stopped_because = "evaluation budget (3) used"
    assert verdict(report).startswith("No candidate met the budgets")


def test_sensitivity_methods_default_to_both_and_refuse_unknown_ones():
    spec = merge("quick", pb.EvaluationSpec(sensitivity=pb.SensitivitySpec(enabled=True)))
    assert list(validate(spec, input_range=(0.0, 1.0)).sensitivity.methods) == [
        "prune", "quantize",
    ]  # fmt: skip
    spec.sensitivity.methods[:] = ["distill"]
    with pytest.raises(InvalidArgument, match=r"sensitivity\.methods"):
        validate(spec, input_range=(0.0, 1.0))
