"""Variant presets end to end through the service: every variant is built, loads in
onnxruntime, passes the bridge's fidelity gate and appears in the report."""

from __future__ import annotations

import pytest

from robustedge.client import Client
from robustedge.client import messages as pb

# Small on purpose: the point is the variants, so one cheap attack and no latency.
OVERRIDES = {
    "samples": 100,
    "attacks": [{"attack": "fgsm", "epsilons": [0.1]}],
    "latency": {"disabled": True},
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("pruning-sweep", 5),
        ("compounded", 7),
    ],
)
def test_variant_preset_runs_end_to_end(server, digits, preset, expected):
    with Client(server.address) as client:
        response = client.evaluate(
            digits.model, digits.dataset, preset=preset, spec=OVERRIDES, progress=False
        )
    report = response.report
    assert report.job_state == pb.JOB_STATE_SUCCEEDED
    variants = [v for v in report.variants if v.name != "base"]
    assert len(variants) == expected, [v.name for v in variants]
    base = report.variants[0]
    for variant in variants:
        assert variant.ok, (variant.name, variant.error)
        assert variant.fidelity.passed, (variant.name, variant.fidelity)
        assert variant.clean_accuracy >= 0.85, variant.name
        assert variant.size_bytes > 0 and variant.steps
        targets = {a.target_variant for a in report.attacks}
        assert variant.name in targets
    if preset == "pruning-sweep":
        sparsities = [v.parameters for v in variants]
        assert sparsities == sorted(sparsities, reverse=True)  # more pruning, fewer parameters
        assert all(v.parameters < base.parameters for v in variants)
