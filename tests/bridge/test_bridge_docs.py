"""The operator table generator and the fidelity gate."""

from __future__ import annotations

import math
from pathlib import Path

from robustedge.bridge import Fidelity, FidelityGate
from robustedge.bridge.operators_doc import Evidence, render
from robustedge.bridge.registry import all_specs

DOC = Path(__file__).resolve().parents[2] / "docs" / "operators.md"


def test_render_lists_every_registered_operator_with_its_evidence():
    evidence = Evidence()
    evidence.passed["ai.onnx::Conv"].add("pytorch-converted/test_Conv2d")
    evidence.failed["com.microsoft::QLinearAdd"].add("op_checks/QLinearAdd_uint8")
    evidence.suite_totals["pytorch-converted"] = (1, 1)
    document = render(evidence)
    for spec in all_specs():
        assert f"| {spec.op_type} | {spec.domain} |" in document
    conv_row = next(line for line in document.splitlines() if line.startswith("| Conv |"))
    assert "pytorch-converted ×1" in conv_row and "exact (autograd)" in conv_row
    add_row = next(line for line in document.splitlines() if line.startswith("| QLinearAdd |"))
    assert "failing: 1" in add_row and "clamped STE" in add_row
    relu_row = next(line for line in document.splitlines() if line.startswith("| Relu |"))
    assert "| no |" in relu_row


def test_committed_operator_table_is_current():
    # Regenerate with: python -m robustedge.bridge.operators_doc --out docs/operators.md
    document = DOC.read_text()
    for spec in all_specs():
        assert f"| {spec.op_type} | {spec.domain} |" in document, spec.key


def test_fidelity_gate():
    gate = FidelityGate(min_top1_agreement=0.99, max_abs_diff=1e-3)
    assert gate.passes(Fidelity(max_abs_diff=1e-4, top1_agreement=1.0, n=10))
    assert gate.failures(Fidelity(max_abs_diff=0.5, top1_agreement=0.9, n=10)) == [
        "top-1 agreement 0.9000 < 0.99",
        "max abs diff 0.5 > 0.001",
    ]
    assert not gate.passes(Fidelity(max_abs_diff=math.nan, top1_agreement=1.0, n=10))
    assert FidelityGate(max_abs_diff=None).passes(Fidelity(5.0, 0.995, 200))
