"""Layer sensitivity (issue 11): prune or quantize one layer at a time, attack again."""

from __future__ import annotations

import pytest

from robustedge.client import Client, render
from robustedge.client import messages as pb

SPEC = {
    "samples": 80,
    "attacks": [{"attack": "pgd", "epsilons": [0.05, 0.1, 0.2], "steps": 5}],
    "sensitivity": {"sparsity": 0.7},
    "latency": {"disabled": True},
}


@pytest.mark.slow
def test_every_prunable_layer_is_ranked_by_its_robustness_cost(server, digits):
    with Client(server.address) as client:
        response = client.evaluate(digits.model, digits.dataset, spec=SPEC, progress=False,
                                   html=True)  # fmt: skip
    report = response.report
    rows = list(report.sensitivity)
    assert list(report.spec.sensitivity.methods) == ["prune", "quantize"]  # the default
    # The digits CNN has three Conv and two Gemm weights; each is changed both ways.
    for method in (
        "magnitude prune 70% of this layer only",
        "int8 static (INC) of this layer only",
    ):
        changed = [r for r in rows if r.method == method]
        assert sorted(r.op_type for r in changed) == ["Conv", "Conv", "Conv", "Gemm", "Gemm"]
        assert len({r.layer for r in changed}) == 5
    assert not [f for f in report.flags if f.code == "sensitivity_layer_skipped"]
    changes = [r.robust_change for r in rows]
    assert changes == sorted(changes)  # most damaging first
    base_pgd = next(
        a for a in report.attacks
        if a.attack == "pgd" and a.epsilon == pytest.approx(0.1) and a.target_variant == "base"
    )  # fmt: skip
    for row in rows:
        assert row.attack == "pgd" and row.epsilon == pytest.approx(0.1)  # the middle epsilon
        # robust_change is measured against the same attack on the unchanged base model.
        assert row.robust_accuracy - row.robust_change == pytest.approx(
            base_pgd.robust_accuracy, abs=1e-9
        )
        assert 0.0 <= row.robust_accuracy <= row.clean_accuracy + 1e-9
    assert "Layer sensitivity" in render.to_markdown(report)
    html = response.documents[0].content.decode()
    assert 'id="sensitivity"' in html and "<svg" in html


def test_sensitivity_needs_a_gradient_attack(client, digits):
    from robustedge.client import InvalidArgumentError

    model, dataset = client.upload_model(digits.model), client.upload_dataset(digits.dataset)
    with pytest.raises(InvalidArgumentError, match="sensitivity"):
        client.submit(model, dataset, spec={**SPEC, "sensitivity": {"attack": "square"}})
    assert pb.SensitivitySpec(enabled=True).attack == ""
