"""JSON, Markdown, JUnit and terminal renderings of the fixture report.

Golden files live in tests/reports/golden/. After an intended change to a
renderer, regenerate them and review the diff before committing:

    ROBUSTEDGE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/reports -k golden
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from robustedge.client import render
from robustedge.client.gates import evaluate_gates
from robustedge.v1 import evaluation_pb2 as pb

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
UPDATE = os.environ.get("ROBUSTEDGE_UPDATE_GOLDEN") == "1"


def _check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with ROBUSTEDGE_UPDATE_GOLDEN=1"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, (
        f"{name} differs from its golden file; if the change is intended, regenerate with "
        "ROBUSTEDGE_UPDATE_GOLDEN=1 and review the diff"
    )


# -- JSON ---------------------------------------------------------------------------


def test_json_uses_snake_case_short_enums_and_numbers(report: pb.Report) -> None:
    data = json.loads(render.to_json(report))
    assert data["job_state"] == "succeeded"
    assert data["model"]["size_bytes"] == 83_211  # a number, not protobuf's int64 string
    assert data["model"]["macs"] == 190_848
    modes = {row["mode"] for row in data["attacks"]}
    assert modes == {"white_box", "transfer"}
    assert data["flags"][0]["severity"] == "warning"
    assert {"source_variant", "target_variant", "robust_accuracy", "ci_low"} <= set(
        data["attacks"][0]
    )
    # Every resolved attack parameter travels with the result.
    assert data["attacks"][0]["params"] == {"norm": "linf", "targeted": False, "seed": 0}
    assert data["environment"]["versions"]["onnxruntime"] == "1.31.1"
    assert data["gates"][0] == {
        "expression": "robust_accuracy[attack=pgd, eps=0.1, variant=int8] >= 0.03",
        "value": pytest.approx(0.04),
        "passed": True,
        "error": "",
    }


def test_json_keeps_zero_results_and_omits_unset_optionals(report: pb.Report) -> None:
    report.attacks[0].robust_accuracy = 0.0
    data = render.report_to_dict(report)
    # A robust accuracy of 0.0 is a result: it must be written.
    assert data["attacks"][0]["robust_accuracy"] == 0.0
    variants = {row["name"]: row for row in data["variants"]}
    # base's sparsity was measured as 0.0 and is kept; int8's was never computed.
    assert variants["base"]["sparsity"] == 0.0
    assert "sparsity" not in variants["int8"]
    assert "parameters" not in variants["int8"]
    # An errored gate has no value.
    assert "value" not in data["gates"][3]


def test_json_follows_proto_field_order(report: pb.Report) -> None:
    keys = list(render.report_to_dict(report)["dataset"])
    assert keys == [field.name for field in pb.DatasetInfo.DESCRIPTOR.fields]


def test_json_round_trips(report: pb.Report) -> None:
    assert render.report_from_dict(json.loads(render.to_json(report))) == report


def test_from_dict_accepts_full_enum_names(report: pb.Report) -> None:
    data = render.report_to_dict(report)
    data["flags"][0]["severity"] = "FLAG_SEVERITY_ERROR"
    data["attacks"][0]["mode"] = "black_box"
    parsed = render.report_from_dict(data)
    assert parsed.flags[0].severity == pb.FLAG_SEVERITY_ERROR
    assert parsed.attacks[0].mode == pb.ATTACK_MODE_BLACK_BOX


# -- Markdown -----------------------------------------------------------------------


def test_markdown_golden(report: pb.Report) -> None:
    _check_golden("report.md", render.to_markdown(report))


def test_markdown_golden_degraded(degraded_report: pb.Report) -> None:
    _check_golden("report_degraded.md", render.to_markdown(degraded_report))


def test_markdown_shows_unset_as_dash_and_largest_change(report: pb.Report) -> None:
    text = render.to_markdown(report)
    variants = text[text.index("### Variants") :]
    int8_row = next(line for line in variants.splitlines() if line.startswith("| **int8**"))
    cells = [cell.strip() for cell in int8_row.split("|")[1:-1]]
    assert cells[3] == render.UNSET  # sparsity not computed
    pgd_row = next(
        line for line in text.splitlines() if line.startswith("| pgd linf, white_box | 0.03137")
    )
    assert pgd_row.rstrip().endswith("-0.050 (int8) |")


def test_markdown_escapes_table_breaking_text(report: pb.Report) -> None:
    report.gates[0].error = "a | b\nc"
    report.gates[0].passed = False
    report.flags[0].message = "first line | pipe\nsecond line"
    text = render.to_markdown(report)
    line = next(line for line in text.splitlines() if "a \\| b" in line)
    cells = re.split(r"(?<!\\)\|", line)[1:-1]
    assert len(cells) == 4  # the gate table keeps its four columns
    assert "first line \\| pipe second line" in text  # the flag stays on one line


def test_markdown_without_attacks_or_latency() -> None:
    report = pb.Report(job_id="j", job_state=pb.JOB_STATE_FAILED, error="bridge crashed")
    report.variants.add(name="base", ok=True, size_bytes=10)
    text = render.to_markdown(report)
    assert "**failed**" in text
    assert "bridge crashed" in text
    assert "### Robustness" not in text
    assert "### Latency" not in text


# -- JUnit --------------------------------------------------------------------------


def test_junit_golden(report: pb.Report) -> None:
    _check_golden("report.xml", render.to_junit(report))


def test_junit_golden_degraded(degraded_report: pb.Report) -> None:
    _check_golden("report_degraded.xml", render.to_junit(degraded_report))


def test_junit_validates_against_schema(report: pb.Report, degraded_report: pb.Report) -> None:
    try:
        from lxml import etree
    except ImportError:  # pragma: no cover - a setup problem, reported as a failure
        pytest.fail("lxml is a test dependency (XSD validation): pip install lxml")
    schema = etree.XMLSchema(etree.parse(str(HERE / "junit.xsd")))
    for each in (degraded_report, pb.Report(job_id="no-gates"), report):
        document = etree.fromstring(render.to_junit(each).encode("utf-8"))
        assert schema.validate(document), schema.error_log
    # The schema is not vacuous: a testcase without a name is rejected.
    document.find("testsuite/testcase").attrib.pop("name")
    assert not schema.validate(document)


def test_junit_failure_carries_expression_and_value(report: pb.Report) -> None:
    root = ET.fromstring(render.to_junit(report))
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("tests") == "4"
    assert (suite.get("failures"), suite.get("errors")) == ("1", "1")
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == [gate.expression for gate in report.gates]
    failure = cases[1].find("failure")
    assert failure is not None
    message = failure.get("message", "")
    assert report.gates[1].expression in message
    assert "measured 0.05" in message
    error = cases[3].find("error")
    assert error is not None and "int9" in error.get("message", "")
    assert cases[0].find("failure") is None and cases[0].find("error") is None


def test_junit_with_no_gates_is_an_empty_valid_suite() -> None:
    root = ET.fromstring(render.to_junit(pb.Report(job_id="j")))
    assert root.find("testsuite").get("tests") == "0"  # type: ignore[union-attr]


def test_junit_untrusted_gate_is_a_failure_with_value(report: pb.Report) -> None:
    for row in report.attacks:
        row.trusted = False
    report.ClearField("gates")
    gate = "robust_accuracy[attack=pgd, eps=0.1, variant=int8] >= 0.03"
    report.gates.extend(evaluate_gates(report, [gate]))
    failure = ET.fromstring(render.to_junit(report)).find("testsuite/testcase/failure")
    assert failure is not None
    assert "measured 0.04" in failure.get("message", "")
    assert "untrusted" in failure.get("message", "")


# -- Terminal summary ---------------------------------------------------------------


def test_summary_lines(report: pb.Report) -> None:
    lines = render.summary_lines(report)
    assert lines[0] == "job job-7f3a9c2e: succeeded in 48.6 s, 300 samples, 3 variants"
    assert "gates: 2 passed, 1 failed, 1 errors" in lines
    assert any(line.startswith("  FAIL  drop(") and "= 0.05" in line for line in lines)
    assert any("largest robustness loss vs base: -0.050" in line for line in lines)
    assert all("\n" not in line for line in lines)


# -- Table model --------------------------------------------------------------------


def test_robustness_table_rows_and_baselines(report: pb.Report) -> None:
    table = render.robustness_table(report)
    assert table.variants == ["base", "int8", "pruned"]
    assert len(table.rows) == 12  # 2 attacks x 2 modes x 3 epsilons
    transfer = next(row for row in table.rows if row.mode == pb.ATTACK_MODE_TRANSFER)
    assert transfer.source == "base" and "base" not in transfer.cells
    # The base→base transfer cell is the base's white-box result.
    assert transfer.baseline_from_white_box
    assert transfer.baseline == pytest.approx(0.62)
    assert transfer.change("pruned") == pytest.approx(0.04)


def test_latency_speedups_compare_same_configuration(report: pb.Report) -> None:
    speedups = render.latency_speedups(report)
    rows = list(report.latency)
    int8_cpu = next(i for i, r in enumerate(rows) if (r.variant, r.provider) == ("int8", "cpu"))
    assert speedups[int8_cpu] == pytest.approx(0.412 / 0.236)
    skipped = next(i for i, r in enumerate(rows) if r.skipped_reason)
    assert skipped not in speedups


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "—"), (0, "—"), (900, "900 B"), (83_211, "81.3 KiB"), (5 * 1024**2, "5.0 MiB")],
)
def test_format_bytes(value: int | None, text: str) -> None:
    assert render.format_bytes(value) == text


def test_format_change_signs() -> None:
    assert render.format_change(-0.04) == "-0.040"
    assert render.format_change(0.0001) == "±0.000"
    assert render.format_change(0.25) == "+0.250"
    assert render.format_change(None) == "—"


def test_summary_reports_the_worst_loss_over_all_cells(report: pb.Report) -> None:
    # In this row pruned gains +0.10 (the largest change by magnitude) while int8
    # loses 0.09: the summary must name the loss, not the row's largest change.
    for row in report.attacks:
        if (row.attack, row.mode, row.epsilon) == ("fgsm", pb.ATTACK_MODE_WHITE_BOX, 0.1):
            if row.target_variant == "pruned":
                row.robust_accuracy = 0.31
            if row.target_variant == "int8":
                row.robust_accuracy = 0.12
    lines = render.summary_lines(report)
    assert "largest robustness loss vs base: -0.090 (fgsm linf, white_box eps=0.1 on int8)" in lines


def test_summary_without_losses(report: pb.Report) -> None:
    for row in report.attacks:
        if row.target_variant != "base":
            row.robust_accuracy = 0.99
    assert "no robustness loss vs base in any attack result" in render.summary_lines(report)


def test_steps_show_every_resolved_parameter() -> None:
    variant = pb.VariantResult(name="int8")
    step = variant.steps.add(compressor="quantize")
    step.params.update({"approach": "static", "per_channel": True, "max_trials": 20.0,
                        "accuracy_tolerance": None})  # fmt: skip
    assert render.steps_text(variant) == (
        "quantize(accuracy_tolerance=none, approach=static, max_trials=20, per_channel=true)"
    )
    assert render.steps_text(pb.VariantResult(name="base")) == "uploaded model"
    assert render.steps_text(pb.VariantResult(name="x")) == render.UNSET


@pytest.mark.parametrize(
    ("value", "text"), [(0.0, "—"), (0.0112, "0.0112"), (0.412, "0.412"), (12.34, "12.3")]
)
def test_format_ms(value: float, text: str) -> None:
    assert render.format_ms(value) == text


@pytest.mark.parametrize(
    ("epsilon", "text"),
    [(8 / 255, "0.03137 (8/255)"), (0.2, "0.2"), (0.1, "0.1"), (0.5, "0.5"), (2.0, "2")],
)
def test_format_epsilon(epsilon: float, text: str) -> None:
    assert render.format_epsilon(epsilon) == text


def test_client_renderers_import_only_light_dependencies() -> None:
    """The client distribution may import only the stdlib, grpcio and protobuf:
    a CI job installs it in seconds, without numpy or matplotlib."""
    import subprocess
    import sys

    code = (
        "import sys; import robustedge.client.render, robustedge.client.gates; "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    for heavy in ("numpy", "matplotlib", "yaml", "torch", "onnx", "onnxruntime"):
        assert heavy not in loaded


def test_variant_summaries(report: pb.Report) -> None:
    summaries = {s.name: s for s in render.variant_summaries(report)}
    assert list(summaries) == ["int8", "pruned"]
    int8 = summaries["int8"]
    assert int8.size_ratio == pytest.approx(83_211 / 27_480)
    assert int8.speedup == pytest.approx(0.412 / 0.236)
    assert int8.clean_change == pytest.approx(0.950 - 0.953)
    assert int8.worst_robust_change == pytest.approx(-0.05)
    assert int8.worst_robust_row == "pgd linf, white_box, ε=0.03137 (8/255)"
    # pruned never lost robustness: its smallest change is a gain.
    assert summaries["pruned"].worst_robust_change == pytest.approx(0.02)


def test_variant_summaries_leave_unmeasured_unset(report: pb.Report) -> None:
    del report.latency[:]
    report.variants[1].ClearField("clean_accuracy")
    report.variants[2].ok = False
    [int8] = render.variant_summaries(report)
    assert int8.speedup is None and int8.clean_change is None
    assert int8.size_ratio is not None
