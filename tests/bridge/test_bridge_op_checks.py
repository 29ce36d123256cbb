"""Every single-operator check of robustedge.bridge.op_checks against onnxruntime."""

from __future__ import annotations

import pytest

from robustedge.bridge.op_checks import all_checks, run_check
from robustedge.bridge.registry import lookup, normalize_domain


@pytest.mark.parametrize("check", all_checks(), ids=lambda check: check.name)
def test_operator_matches_onnxruntime(check):
    result = run_check(check)
    assert result.passed, result.detail


def test_checks_cover_every_quantized_operator():
    quantized = {
        "QuantizeLinear",
        "DequantizeLinear",
        "DynamicQuantizeLinear",
        "QLinearConv",
        "QLinearMatMul",
        "QGemm",
        "QLinearAdd",
        "QLinearMul",
        "QLinearLeakyRelu",
        "QLinearSigmoid",
        "QLinearGlobalAveragePool",
        "QLinearAveragePool",
        "QLinearConcat",
        "QLinearSoftmax",
        "ConvInteger",
        "MatMulInteger",
        "MatMulNBits",
    }
    checked = {check.op_type for check in all_checks()}
    assert quantized <= checked
    for check in all_checks():
        assert lookup(normalize_domain(check.domain), check.op_type, check.opset) is not None


def test_a_wrong_implementation_fails_its_check(monkeypatch):
    # The harness itself must be able to fail: break QLinearConv's rounding.
    from robustedge.bridge import ops_quantized

    check = next(c for c in all_checks() if c.op_type == "QLinearConv")
    original = ops_quantized._requantize
    monkeypatch.setattr(
        ops_quantized, "_requantize", lambda node, acc, m, zp: original(node, acc, m * 1.01, zp)
    )
    assert not run_check(check).passed
