"""The light client's text renderings of a report with a robustness-aware search:
Markdown for a pull request, the terminal summary and the compact step text."""

from __future__ import annotations

from google.protobuf import struct_pb2

from robustedge.client import messages as pb
from robustedge.client import render


def _step(compressor: str, **params: object) -> pb.CompressionStep:
    struct = struct_pb2.Struct()
    struct.update(params)
    return pb.CompressionStep(compressor=compressor, params=struct)


STATIC = _step("quantize", approach="static", format="qdq")
DYNAMIC = _step("quantize", approach="dynamic")


def _channel(sparsity: float, round_to: int = 8) -> pb.CompressionStep:
    return _step("prune", pattern="channel", criterion="l2", sparsity=sparsity, round_to=round_to)


def _report() -> pb.Report:
    """A digits-CNN job with the int8 and pruning-sweep presets and ``search: {}``."""
    report = pb.Report(job_id="job-search", job_state=pb.JOB_STATE_SUCCEEDED, samples=400)
    for name, size, clean in (("base", 83_211, 0.953), ("int8-static", 27_480, 0.950),
                              ("int8-dynamic", 25_020, 0.951), ("channel-l2-30", 59_240, 0.940),
                              ("searched", 22_630, 0.947)):  # fmt: skip
        report.variants.add(name=name, ok=True, size_bytes=size, clean_accuracy=clean)
    search = report.search
    search.variant, search.attack, search.epsilon = "searched", "pgd", 0.1
    search.max_clean_drop, search.max_size_ratio, search.max_latency_ratio = 0.02, 0.5, 0.8
    search.latency_batch_size, search.size_metric, search.seed = 128, "gzip", 7
    search.validation_samples, search.evaluations, search.reused = 150, 6, 0
    search.seconds, search.stopped_because = 402.7, "no better candidate in 4 mutations"
    search.base_clean_accuracy, search.base_robust_accuracy = 0.953, 0.087
    candidates = [
        ("c01", "anchor", [STATIC], 0.950, 0.073, 0.31, 0.64, True, False, False),
        ("c02", "anchor", [_channel(0.3, 1)], 0.941, 0.113, 0.70, 0.79, False, True, False),
        ("c03", "random", [_channel(0.4), STATIC], 0.944, 0.107, 0.24, 0.52, True, True, True),
        ("c04", "mutation of c03", [_channel(0.6), STATIC], 0.912, 0.060, 0.17, 0.43, False,
         False, False),
        ("c05", "mutation of c03", [_step("cluster", clusters=16), DYNAMIC], 0.949, 0.080, 0.27,
         0.91, False, False, False),
    ]  # fmt: skip
    for name, origin, steps, clean, robust, size, latency, within, front, chosen in candidates:
        search.candidates.add(
            name=name, origin=origin, steps=steps, ok=True, clean_accuracy=clean,
            robust_accuracy=robust, size_ratio=size, size_bytes=round(83_211 * size),
            latency_ratio=latency, latency_ms=latency * 30.2, within_budgets=within,
            on_front=front, chosen=chosen, seconds=31.5,
        )  # fmt: skip
    search.candidates.add(name="c06", origin="random", steps=[_channel(0.5, 16), DYNAMIC],
                          ok=False, error="onnxruntime: no kernel for ConvInteger",
                          seconds=2.1)  # fmt: skip
    for variant, preset, clean, robust, size, latency, within in (
        ("int8-static", "int8", 0.950, 0.070, 0.33, 0.63, True),
        ("int8-dynamic", "int8", 0.951, 0.078, 0.30, 0.0, False),
        ("channel-l2-30", "pruning-sweep", 0.940, 0.105, 0.71, 0.78, False),
        ("searched", "searched", 0.946, 0.103, 0.27, 0.53, True),
    ):
        search.comparison.add(
            variant=variant, preset=preset, clean_accuracy=clean, robust_accuracy=robust,
            size_ratio=size, latency_ratio=latency, within_budgets=within,
        )  # fmt: skip
    search.verdict = (
        "searched: 0.103 robust accuracy within the budgets, +0.033 over int8-static, "
        "the best plain variant within them."
    )
    return report


def test_markdown_has_a_search_part_with_the_comparison_table() -> None:
    text = render.to_markdown(_report())
    part = text[text.index("### Robustness-aware search") :]
    part = part[: part.index("<sub>")]
    assert part.splitlines()[2] == (
        "**searched: 0.103 robust accuracy within the budgets, +0.033 over int8-static, "
        "the best plain variant within them.**"
    )
    assert (
        "Chosen variant: `searched` (candidate c03: prune channel 0.4 r8 → quantize static)" in part
    )
    assert "size: ≤ 0.50× of base (gzip bytes)" in part
    assert "latency: ≤ 0.80× of base's CPU p50 at batch 128" in part
    assert "evaluations: 6 (0 reused) in 402.7 s" in part
    assert "stopped because: no better candidate in 4 mutations" in part
    table = [line for line in part.splitlines() if line.startswith("|")]
    assert table == [
        "| Variant | Preset | Clean acc. | Robust acc. | Size ratio | Latency ratio "
        "| Within budgets |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
        "| int8-static | int8 | 0.950 | 0.070 | 0.33× | 0.63× | ✓ |",
        "| int8-dynamic | int8 | 0.951 | 0.078 | 0.30× | not measured | ✗ |",
        "| channel-l2-30 | pruning-sweep | 0.940 | 0.105 | 0.71× | 0.78× | ✗ |",
        "| **searched** | searched | 0.946 | 0.103 | 0.27× | 0.53× | ✓ |",
    ]
    assert "scored on 150 validation samples; the comparison on the 400 evaluation samples" in part


def test_markdown_when_no_candidate_met_the_budgets() -> None:
    report = _report()
    report.search.variant = ""
    for candidate in report.search.candidates:
        candidate.chosen = False
    text = render.to_markdown(report)
    assert "No candidate met the clean-accuracy constraint and the budgets" in text
    assert "Chosen variant" not in text
    assert "| searched | searched |" in text  # no longer bold: not the chosen one


def test_summary_lines_have_a_short_search_part() -> None:
    lines = render.summary_lines(_report())
    search = [i for i, line in enumerate(lines) if line.startswith("search:")]
    assert len(search) == 1
    part = lines[search[0] :]
    assert part[0].startswith(
        "search: chose searched (c03: prune channel 0.4 r8 → quantize static)"
    )
    assert "robust accuracy 0.107 vs base 0.087 under pgd eps=0.1 (validation)" in part[0]
    assert part[1].startswith("  6 candidates (0 reused) in 402.7 s, clean drop <= 0.020")
    assert part[1].endswith("stopped: no better candidate in 4 mutations")
    assert part[2].startswith("  searched: 0.103 robust accuracy")
    assert len(part) == 3
    assert all("\n" not in line for line in lines)


def test_summary_lines_without_a_verdict_or_budgets() -> None:
    report = _report()
    report.search.verdict = ""
    report.search.max_size_ratio = report.search.max_latency_ratio = 0.0
    part = [line for line in render.summary_lines(report) if "candidates (" in line]
    assert part == [
        "  6 candidates (0 reused) in 402.7 s, clean drop <= 0.020; "
        "stopped: no better candidate in 4 mutations"
    ]
    assert render.summary_lines(report)[-2].startswith("search: chose searched")


def test_compact_step_text() -> None:
    steps = [_step("prune", pattern="channel", criterion="l2", sparsity=0.5, round_to=8, steps=200),
             STATIC]  # fmt: skip
    assert render.search_steps_text(steps) == "prune channel 0.5 r8 +ft 200 steps → quantize static"
    assert render.search_steps_text([_channel(0.3, 1)]) == "prune channel 0.3"
    assert render.search_steps_text([_step("prune", pattern="channel", criterion="l1",
                                           sparsity=0.2)]) == "prune channel 0.2 l1"  # fmt: skip
    assert render.search_steps_text([_step("cluster", clusters=16), DYNAMIC]) == (
        "cluster 16 → quantize dynamic"
    )
    assert render.search_steps_text([_step("finetune", steps=300, learning_rate=0.0005)]) == (
        "finetune learning_rate=0.0005 steps=300"
    )
    assert render.search_steps_text([]) == render.UNSET


def test_compact_step_text_of_the_search_space_steps() -> None:
    """Steps as the search builds them: per-layer fractions, fine-tuning (plain or
    adversarial) and layers kept in float by the quantizer."""
    prune = _step("prune", pattern="channel", criterion="l2", round_to=8,
                  layer_sparsity={"conv1.weight": 0.1, "conv2.weight": 0.3, "fc1.weight": 0.0},
                  steps=300, learning_rate=0.0005, adversarial_epsilon=0.1, adversarial_steps=3,
                  adversarial_fraction=0.5)  # fmt: skip
    quantize = _step(
        "quantize", approach="static", per_channel=False, float_layers=["conv1.weight"]
    )
    assert render.search_steps_text([prune, quantize]) == (
        "prune channel 0.1/0.3/0 r8 +adversarial ft 300 steps → "
        "quantize static per-tensor 1 layer kept float"
    )
    uniform = _step("prune", pattern="channel", layer_sparsity={"a": 0.4, "b": 0.4}, round_to=1)
    assert render.search_steps_text([uniform]) == "prune channel 0.4"
    many = {f"conv{i}.weight": i / 10 for i in range(1, 9)}
    wide = _step("prune", pattern="channel", layer_sparsity=many, steps=100, learning_rate=0.001)
    assert render.search_steps_text([wide]) == "prune channel 0.1–0.8 per layer +ft 100 steps"


def test_search_round_trips_through_json() -> None:
    report = _report()
    data = render.report_to_dict(report)
    assert data["search"]["candidates"][5]["ok"] is False
    assert data["search"]["comparison"][1]["latency_ratio"] == 0
    assert render.report_from_dict(data) == report


def test_report_without_search_has_no_search_part() -> None:
    report = _report()
    report.ClearField("search")
    assert "Robustness-aware search" not in render.to_markdown(report)
    assert not any(line.startswith("search:") for line in render.summary_lines(report))
