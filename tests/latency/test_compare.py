"""Speedups over the base variant: a pure function over result rows."""

from __future__ import annotations

import pytest

from robustedge.latency.compare import speedups


def _row(variant: str, p50: float, provider: str = "cpu", profile: str = "", **extra) -> dict:
    return {
        "variant": variant,
        "provider": provider,
        "profile": profile,
        "runtime": "default",
        "threads": 1,
        "batch_size": 1,
        "p50_ms": p50,
        "throughput": 1000.0 / p50 if p50 else 0.0,
        "skipped_reason": "",
        **extra,
    }


def test_speedup_per_provider_and_profile() -> None:
    rows = [
        _row("base", 2.0),
        _row("int8", 1.0),
        _row("base", 3.0, profile="gateway-1core"),
        _row("int8", 4.0, profile="gateway-1core"),
        _row("base", 1.0, provider="openvino", runtime="openvino"),
        _row("int8", 0.5, provider="openvino", runtime="openvino"),
    ]
    result = speedups(rows)
    assert [(r["provider"], r["profile"], r["speedup"]) for r in result] == [
        ("cpu", "", 2.0),
        ("cpu", "gateway-1core", 0.75),
        ("openvino", "", 2.0),
    ]
    assert result[0]["base_p50_ms"] == 2.0
    assert result[0]["throughput_ratio"] == pytest.approx(2.0)
    assert result[1]["throughput_ratio"] == pytest.approx(0.75)
    assert all(r["skipped_reason"] == "" for r in result)


def test_missing_or_skipped_sides_are_reported_not_dropped() -> None:
    rows = [
        _row("base", 0.0, provider="openvino", skipped_reason="openvino runtime not set up"),
        _row("int8", 0.0, provider="openvino", skipped_reason="openvino runtime not set up"),
        _row("base", 2.0),
        _row("int8", 0.0, skipped_reason="measurement failed: boom"),
        _row("pruned", 1.0, batch_size=8),  # no base at batch 8
    ]
    result = speedups(rows)
    assert len(result) == 3
    assert all(r["speedup"] is None for r in result)
    assert result[0]["skipped_reason"] == "base not measured: openvino runtime not set up"
    assert result[1]["skipped_reason"] == "int8 not measured: measurement failed: boom"
    assert result[2]["skipped_reason"] == "base was not measured in this configuration"


def test_custom_base_and_duplicates() -> None:
    result = speedups([_row("fp32", 3.0), _row("int8", 1.5)], base="fp32")
    assert result[0]["speedup"] == 2.0 and result[0]["base_variant"] == "fp32"
    with pytest.raises(ValueError, match="two results"):
        speedups([_row("base", 1.0), _row("base", 2.0)])
